// Inverted dropout: each element kept with probability 1 − p and scaled by 1 / (1 − p), or
// zeroed, by a mask that is never stored: it is recomputed from a counter-based hash of
// (SEED, training step t, LAYER, element index), so the forward pass and the backward pass
// (and the CPU twin, src/ops/dropout.ts) draw the very same mask, and a resumed run draws
// what the uninterrupted one did.
//   key  = h(h(h(SEED) ^ t) ^ LAYER)              h: lowbias32 (a 32-bit integer mixer)
//   keep = (h(key ^ h(i)) >> 8) ≥ THRESHOLD       THRESHOLD = round(p · 2^24)
//   main:     dst[i] = keep ? src[i] · SCALE : 0   (forward: the next layer's input)
//   backward: d[i]   = keep ? d[i] · SCALE : 0    (in place: ∂L/∂a from ∂L/∂(dropped a))
// t is step.t, the 1-based training step (an integer, exact in f32 below 2^24 steps).
//
// bindings  main:     src : array<f32>  COUNT (read);  dst : array<f32>  COUNT (written)
//           backward: d   : array<f32>  COUNT (read_write)
//           step      : the per-step uniform (t)
// shapes    COUNT elements; SEED, LAYER (u32); THRESHOLD (u32, ≤ 2^24); SCALE = 1 / (1 − p) (f32)
// dispatch  (min(ceil(COUNT / 256), 65535), 1, 1); grid-stride loop over the elements.
//#include "step.wgsl"

override COUNT: u32;
override SEED: u32;
override LAYER: u32;
override THRESHOLD: u32;
override SCALE: f32;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;

fn lowbias32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn mask_key() -> u32 {
  return lowbias32(lowbias32(lowbias32(SEED) ^ u32(step.t)) ^ LAYER);
}

fn kept(key: u32, i: u32) -> bool {
  return (lowbias32(key ^ lowbias32(i)) >> 8u) >= THRESHOLD;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let key = mask_key();
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < COUNT; i += stride) {
    dst[i] = select(0.0, src[i] * SCALE, kept(key, i));
  }
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let key = mask_key();
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < COUNT; i += stride) {
    d[i] = select(0.0, d[i] * SCALE, kept(key, i));
  }
}
