// Activation backward, in place:  d = (d + L1 · sign(a)) ⊙ f′(z, a)
// (the L1 activation penalty (λ/B)·Σ|a| contributes L1 · sign(a) to ∂L/∂a; L1 = λ/B, 0 = off).
// `main_masked` scales the penalty per unit: L1 · mask[i % UNITS] (a unit revived during
// training is spared the penalty for a grace period: mask 0 there, 1 elsewhere).
// `main_stats` and `main_masked_stats` do the same with the step's telemetry folded in
// (saves the hidden layer's own zero-count and delta-norm passes): one thread per (unit j,
// chunk c of CHUNK_ROWS rows) walks its rows in order and writes the chunk's exact zeros of
// a (±0 by the bits, as layer_stats counts them) to counts[c·UNITS + j] and Σ dZ² over the
// chunk to part[c·UNITS + j], for layer_stats_tiled.wgsl `finish_layers` and
// sumsq_chunks.wgsl `finish_segments` (fixed order everywhere: the same bits every run).
// A second entry point, `forward`, applies f alone (out = f(z)): a standalone activation,
// and the way the tests check `activate` on the GPU.
//
// bindings  main:    z   : array<f32>  COUNT, pre-activation (read)
//                    a   : array<f32>  COUNT, post-activation f(z) (read)
//                    d   : array<f32>  COUNT, ∂L/∂a in, ∂L/∂z out (read_write)
//           main_masked: z, a, d (as above), mask : array<f32> UNITS (read)
//           forward: z   (as above), out : array<f32> COUNT (written)
//           main_stats: z, a, d (as main), counts : array<u32> CHUNKS × UNITS (written),
//                       part : array<f32> CHUNKS × UNITS (written)
//           main_masked_stats: as main_stats, and mask (as main_masked)
// shapes    COUNT elements (rows × UNITS, row-major); ACT activation id (see
//           activations.wgsl); ALPHA leaky slope; L1 = λ/B (main, main_masked)
// dispatch  (min(ceil(COUNT / 256), 65535), 1, 1); grid-stride loop over the elements.
//           *_stats: (ceil(UNITS / 64), CHUNKS, 1), workgroups of 64, with ROWS = COUNT / UNITS,
//           CHUNKS = ceil(ROWS / CHUNK_ROWS); neighbouring threads read neighbouring units.
//#include "activations.wgsl"

override COUNT: u32;
override ACT: u32;
override ALPHA: f32;
override L1: f32 = 0.0;
override UNITS: u32 = 1u;
override ROWS: u32 = 1u;
override CHUNK_ROWS: u32 = 16u;

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;

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

// Unit j, rows [c·CHUNK_ROWS, min(ROWS, (c + 1)·CHUNK_ROWS)): the update of main (m = 1:
// L1 · 1 · sign is L1 · sign, bit for bit) or main_masked (m = mask[j]), plus the telemetry.
fn backward_stats(j: u32, c: u32, m: f32) {
  let end = min(ROWS, (c + 1u) * CHUNK_ROWS);
  var zeros = 0u;
  var sq = 0.0;
  for (var r = c * CHUNK_ROWS; r < end; r++) {
    let i = r * UNITS + j;
    let ai = a[i];
    var g = d[i];
    if (L1 != 0.0) { g += L1 * m * sign(ai); }
    let v = g * activate_grad(ACT, ALPHA, z[i], ai);
    d[i] = v;
    zeros += select(0u, 1u, (bitcast<u32>(ai) << 1u) == 0u);
    sq += v * v;
  }
  counts[c * UNITS + j] = zeros;
  part[c * UNITS + j] = sq;
}

@compute @workgroup_size(64)
fn main_stats(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < UNITS) { backward_stats(gid.x, gid.y, 1.0); }
}

@compute @workgroup_size(64)
fn main_masked_stats(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < UNITS) { backward_stats(gid.x, gid.y, mask[gid.x]); }
}
