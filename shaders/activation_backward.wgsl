// Activation backward, in place:  d = (d + L1 · sign(a)) ⊙ f′(z, a)
// (the L1 activation penalty (λ/B)·Σ|a| contributes L1 · sign(a) to ∂L/∂a; L1 = λ/B, 0 = off).
// `main_masked` scales the penalty per unit: L1 · mask[i % UNITS] (a unit revived during
// training is spared the penalty for a grace period: mask 0 there, 1 elsewhere).
// A second entry point, `forward`, applies f alone (out = f(z)): a standalone activation,
// and the way the tests check `activate` on the GPU.
//
// bindings  main:    z   : array<f32>  COUNT, pre-activation (read)
//                    a   : array<f32>  COUNT, post-activation f(z) (read)
//                    d   : array<f32>  COUNT, ∂L/∂a in, ∂L/∂z out (read_write)
//           main_masked: z, a, d (as above), mask : array<f32> UNITS (read)
//           forward: z   (as above), out : array<f32> COUNT (written)
// shapes    COUNT elements (rows × UNITS, row-major); ACT activation id (see
//           activations.wgsl); ALPHA leaky slope; L1 = λ/B (main, main_masked)
// dispatch  (min(ceil(COUNT / 256), 65535), 1, 1); grid-stride loop over the elements.
//#include "activations.wgsl"

override COUNT: u32;
override ACT: u32;
override ALPHA: f32;
override L1: f32 = 0.0;
override UNITS: u32 = 1u;

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < COUNT; i += stride) {
    let ai = a[i];
    var g = d[i];
    if (L1 != 0.0) { g += L1 * sign(ai); }
    d[i] = g * activate_grad(ACT, ALPHA, z[i], ai);
  }
}

@compute @workgroup_size(256)
fn main_masked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < COUNT; i += stride) {
    let ai = a[i];
    let g = d[i] + L1 * mask[i % UNITS] * sign(ai);
    d[i] = g * activate_grad(ACT, ALPHA, z[i], ai);
  }
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < COUNT; i += stride) {
    out[i] = activate(ACT, ALPHA, z[i]);
  }
}
