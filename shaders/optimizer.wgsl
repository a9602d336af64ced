// The parameter update: one dispatch covers every parameter of the model (PyTorch semantics).
//   clip = CLIP_NORM > 0 ? min(1, CLIP_NORM / (sqrt(Σ_{k < CLIP_COUNT} stats[CLIP_SLOT0 + k]) + 1e-6)) : 1
//   g = grads[i] * clip + WEIGHT_DECAY * params[i]
//   KIND OPT_SGD:       p -= lr g
//   KIND OPT_MOMENTUM:  m = MOMENTUM m + g;  p -= lr m
//   KIND OPT_ADAM:      m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²;
//                       p -= lr (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + EPS)
// lr and t come from the step uniform (step.wgsl). β^t is taken by repeated squaring from the
// integer t (exact at t = 1), not pow(): WGSL's pow may be off by ~2^-21 absolute, which is a
// large relative error in 1 − β2^t for small t.
//
// bindings  params : array<f32>  COUNT (read_write)
//           grads  : array<f32>  COUNT, same layout (read)
//           m      : array<f32>  COUNT for momentum and adam; any small region for sgd (read_write,
//                                never indexed then)
//           v      : array<f32>  COUNT for adam; any small region otherwise (read_write, not indexed)
//           stats  : array<u32>  the step's stats words; the CLIP_COUNT words from CLIP_SLOT0 hold
//                                the gradient segments' sums of squares as f32 bits (read; only
//                                indexed when CLIP_NORM > 0)
//           step   : uniform     (lr, t, batch_start)
// shapes    COUNT ≥ 1
// dispatch  (min(65535, ceil(COUNT / 256)), 1, 1), workgroups of 256, grid-stride loop.
override COUNT: u32;
override KIND: u32;
override MOMENTUM: f32;
override BETA1: f32;
override BETA2: f32;
override EPS: f32;
override WEIGHT_DECAY: f32;
override CLIP_NORM: f32;
override CLIP_SLOT0: u32;
override CLIP_COUNT: u32;

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<u32>;
//#include "step.wgsl"
//#include "constants.wgsl"

// b^n for an integer n by repeated squaring.
fn powi(b: f32, n: u32) -> f32 {
  var r = 1.0;
  var x = b;
  var k = n;
  loop {
    if ((k & 1u) != 0u) { r *= x; }
    k >>= 1u;
    if (k == 0u) { break; }
    x *= x;
  }
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  var clip = 1.0;
  if (CLIP_NORM > 0.0) {
    var ss = 0.0;
    for (var k = 0u; k < CLIP_COUNT; k++) {
      ss += bitcast<f32>(stats[CLIP_SLOT0 + k]);
    }
    clip = min(1.0, CLIP_NORM / (sqrt(ss) + 1e-6));
  }
  let lr = step.lr;
  var bc1 = 1.0;
  var bc2 = 1.0;
  if (KIND == OPT_ADAM) {
    let t = u32(step.t);
    bc1 = 1.0 - powi(BETA1, t);
    bc2 = 1.0 - powi(BETA2, t);
  }
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < COUNT; i += stride) {
    let p = params[i];
    let g = grads[i] * clip + WEIGHT_DECAY * p;
    if (KIND == OPT_SGD) {
      params[i] = p - lr * g;
    } else if (KIND == OPT_MOMENTUM) {
      let mi = MOMENTUM * m[i] + g;
      m[i] = mi;
      params[i] = p - lr * mi;
    } else {
      let mi = BETA1 * m[i] + (1.0 - BETA1) * g;
      let vi = BETA2 * v[i] + (1.0 - BETA2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - lr * (mi / bc1) / (sqrt(vi / bc2) + EPS);
    }
  }
}
