// Second pass of the split-K matmul: sums the SLICES partial products written by
// main_partial (matmul_tiled*.wgsl) in slice order 0, 1, …, SLICES−1 — a fixed order, so
// the result is the same bits on every run (no atomics).
//
// entry main           bindings  part : array<f32>  SLICES × M × N, slice s at s·M·N (read)
//                                c    : array<f32>  M × N: Σ_s part[s] (written)
// entry main_bias_act  bindings  part as above, and
//                                bias : array<f32>  N (read)
//                                z    : array<f32>  M × N: Σ_s part[s] + bias (broadcast over rows) (written)
//                                out  : array<f32>  M × N: activate(ACT, ALPHA, z) (written)
// entry main_sumsq     bindings  part, c as in main, and
//                                sq   : array<f32>  ceil(M·N / 256): workgroup g's Σ c² over its
//                                       256 elements, summed by a fixed tree (written)
//                      ‖dW‖² for the telemetry from the pass that writes dW, so a split-K dW
//                      is not read a second time; the tree fixes the order: same bits every run.
// shapes    M, N ≥ 1, SLICES ≥ 1; ACT, ALPHA (main_bias_act only)
// dispatch  (GRID_X, ceil(ceil(M·N / 256) / GRID_X), 1) workgroups of 256, one element of C
//           per thread: element (wid.y·GRID_X + wid.x)·256 + lid (past M·N: nothing).
//           Consecutive threads touch consecutive elements of every slice (coalesced).
//#include "activations.wgsl"

override M: u32;
override N: u32;
override SLICES: u32;
override GRID_X: u32 = 1u;
override ACT: u32 = 0u;
override ALPHA: f32 = 0.0;

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> sq: array<f32>;

const WG: u32 = 256u;

var<workgroup> squares: array<f32, WG>;

fn slice_sum(idx: u32) -> f32 {
  var s = part[idx];
  for (var sl = 1u; sl < SLICES; sl++) { s += part[sl * M * N + idx]; }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * GRID_X + wid.x) * WG + lid;
  if (idx >= M * N) { return; }
  c[idx] = slice_sum(idx);
}

@compute @workgroup_size(WG)
fn main_bias_act(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * GRID_X + wid.x) * WG + lid;
  if (idx >= M * N) { return; }
  let v = slice_sum(idx) + bias[idx % N];
  z[idx] = v;
  out[idx] = activate(ACT, ALPHA, v);
}

@compute @workgroup_size(WG)
fn main_sumsq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * GRID_X + wid.x;
  let idx = g * WG + lid;
  var v = 0.0;
  if (idx < M * N) {
    v = slice_sum(idx);
    c[idx] = v;
  }
  squares[lid] = v * v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { squares[lid] += squares[lid + s]; }
    workgroupBarrier();
  }
  // The grid may hold a few workgroups past the last element: they write nothing.
  if (lid == 0u && g * WG < M * N) { sq[g] = squares[0]; }
}
