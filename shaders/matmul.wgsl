// Dense-layer matmul, register-tiled.   C[M×N] = op(A)·op(B)
//   A is stored M×K row-major, or K×M when TRANS_A;  B is stored K×N, or N×K when TRANS_B.
//   The engine uses: forward Z = X·Wᵀ (TRANS_B), dX = dZ·W (neither), dW = dZᵀ·X (TRANS_A).
//
// entry main           bindings  a : array<f32>  A as stored (read)
//                                b : array<f32>  B as stored (read)
//                                c : array<f32>  M × N row-major (written)
// entry main_bias_act  bindings  a, b as above, and
//                                bias : array<f32>  N (read)
//                                z    : array<f32>  M × N: C + bias, bias broadcast over rows (written)
//                                out  : array<f32>  M × N: activate(ACT, ALPHA, z) (written)
// entry main_sumsq    bindings  a, b, c as main, and
//                                part : array<f32>  tilesM × tilesN × WG_Y × WG_X (written): each
//                                       thread's Σ of the squares of the elements it stored (its
//                                       block's rows in order, each row's columns in order), at
//                                       ((row tile · tilesN + column tile) · WG_Y + lid.y) · WG_X + lid.x.
//                                       A gradient's ‖dW‖² is then one fixed-order sum over them
//                                       (sumsq_chunks.wgsl finish_segments) instead of a pass over dW.
// shapes    M, N, K ≥ 1, any values; TRANS_A, TRANS_B; ACT, ALPHA (main_bias_act only).
// tiles     each thread computes a TM × TN block of C, 1 ≤ TM, TN ≤ 8; a workgroup is
//           WG_X × WG_Y threads and covers BM = WG_Y·TM rows × BN = WG_X·TN columns. A
//           thread's rows are strided by WG_Y and its columns by WG_X, so neighbouring
//           threads touch neighbouring elements (coalesced loads on real GPUs).
// dispatch  (ceil(N / BN), GRID_Y, GRID_Z) with tilesM = ceil(M / BM), GRID_Z =
//           ceil(tilesM / 65535), GRID_Y = ceil(tilesM / GRID_Z): the row tile is
//           wid.y + wid.z·GRID_Y (a tile past the end computes clamped rows and stores nothing).
//
// The body is written out for the largest tile, 8 × 8, as separate variables (rows in
// scalars, columns in two vec4s), and every part beyond TM × TN sits under a condition on
// the override constants, which the compiler folds away. Loops over private arrays would
// be shorter, but SwiftShader keeps such arrays in memory and runs 10× slower (measured
// here with Chromium 156's SwiftShader; no upstream report found). The written-out form
// can go when SwiftShader keeps small private arrays in registers. Rows and
// columns past the edge are clamped once to the last valid one, so the k loop has no
// data-dependent branches and every load is in bounds; only the stores are guarded.
//#include "activations.wgsl"

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override TM: u32 = 8u;
override TN: u32 = 8u;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override GRID_Y: u32 = 1u;
override ACT: u32 = 0u;
override ALPHA: f32 = 0.0;

// op(A)[r, k] = a[r·A_R + k·A_K];  op(B)[k, c] = b[k·B_K + c·B_C]
override A_R: u32 = select(K, 1u, TRANS_A);
override A_K: u32 = select(1u, M, TRANS_A);
override B_K: u32 = select(N, 1u, TRANS_B);
override B_C: u32 = select(1u, K, TRANS_B);

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;

// Where this thread's block lies: rows row0 + i·WG_Y (i < TM), columns col0 + j·WG_X (j < TN).
struct Origin {
  row0: u32,
  // columns 0..3 and 4..7 of the block
  cols_lo: vec4u,
  cols_hi: vec4u,
}

fn origin(wid: vec3u, lid: vec3u) -> Origin {
  let row0 = (wid.y + wid.z * GRID_Y) * (WG_Y * TM) + lid.y;
  let col0 = wid.x * (WG_X * TN) + lid.x;
  return Origin(row0, col0 + vec4u(0u, 1u, 2u, 3u) * WG_X, col0 + vec4u(4u, 5u, 6u, 7u) * WG_X);
}

// The TM × TN block of C: row i in elements 2i (columns 0..3) and 2i + 1 (columns 4..7).
fn tile_product(o: Origin) -> array<vec4f, 16> {
  // Clamped start of each row of op(A) and each column of op(B).
  let last_r = M - 1u;
  let a0 = min(o.row0, last_r) * A_R;
  let a1 = min(o.row0 + WG_Y, last_r) * A_R;
  let a2 = min(o.row0 + 2u * WG_Y, last_r) * A_R;
  let a3 = min(o.row0 + 3u * WG_Y, last_r) * A_R;
  let a4 = min(o.row0 + 4u * WG_Y, last_r) * A_R;
  let a5 = min(o.row0 + 5u * WG_Y, last_r) * A_R;
  let a6 = min(o.row0 + 6u * WG_Y, last_r) * A_R;
  let a7 = min(o.row0 + 7u * WG_Y, last_r) * A_R;
  let b_lo = min(o.cols_lo, vec4u(N - 1u)) * B_C;
  let b_hi = min(o.cols_hi, vec4u(N - 1u)) * B_C;

  var s0l = vec4f(0.0); var s0h = vec4f(0.0);
  var s1l = vec4f(0.0); var s1h = vec4f(0.0);
  var s2l = vec4f(0.0); var s2h = vec4f(0.0);
  var s3l = vec4f(0.0); var s3h = vec4f(0.0);
  var s4l = vec4f(0.0); var s4h = vec4f(0.0);
  var s5l = vec4f(0.0); var s5h = vec4f(0.0);
  var s6l = vec4f(0.0); var s6h = vec4f(0.0);
  var s7l = vec4f(0.0); var s7h = vec4f(0.0);
  var ka = 0u;
  var kb = 0u;
  for (var k = 0u; k < K; k++) {
    // Row k of op(B), this thread's columns.
    var bl = vec4f(0.0);
    var bh = vec4f(0.0);
    bl.x = b[b_lo.x + kb];
    if (TN > 1u) { bl.y = b[b_lo.y + kb]; }
    if (TN > 2u) { bl.z = b[b_lo.z + kb]; }
    if (TN > 3u) { bl.w = b[b_lo.w + kb]; }
    if (TN > 4u) { bh.x = b[b_hi.x + kb]; }
    if (TN > 5u) { bh.y = b[b_hi.y + kb]; }
    if (TN > 6u) { bh.z = b[b_hi.z + kb]; }
    if (TN > 7u) { bh.w = b[b_hi.w + kb]; }
    // Column k of op(A), this thread's rows, times that row of B.
    { let x = a[a0 + ka]; s0l += x * bl; if (TN > 4u) { s0h += x * bh; } }
    if (TM > 1u) { let x = a[a1 + ka]; s1l += x * bl; if (TN > 4u) { s1h += x * bh; } }
    if (TM > 2u) { let x = a[a2 + ka]; s2l += x * bl; if (TN > 4u) { s2h += x * bh; } }
    if (TM > 3u) { let x = a[a3 + ka]; s3l += x * bl; if (TN > 4u) { s3h += x * bh; } }
    if (TM > 4u) { let x = a[a4 + ka]; s4l += x * bl; if (TN > 4u) { s4h += x * bh; } }
    if (TM > 5u) { let x = a[a5 + ka]; s5l += x * bl; if (TN > 4u) { s5h += x * bh; } }
    if (TM > 6u) { let x = a[a6 + ka]; s6l += x * bl; if (TN > 4u) { s6h += x * bh; } }
    if (TM > 7u) { let x = a[a7 + ka]; s7l += x * bl; if (TN > 4u) { s7h += x * bh; } }
    ka += A_K;
    kb += B_K;
  }
  return array<vec4f, 16>(s0l, s0h, s1l, s1h, s2l, s2h, s3l, s3h, s4l, s4h, s5l, s5h, s6l, s6h, s7l, s7h);
}

// Store row i (< TM) of the block: columns j < TN that are inside C.
fn store_row(i: u32, o: Origin, lo: vec4f, hi: vec4f) {
  let r = o.row0 + i * WG_Y;
  if (i >= TM || r >= M) { return; }
  let base = r * N;
  let cl = o.cols_lo;
  let ch = o.cols_hi;
  if (cl.x < N) { c[base + cl.x] = lo.x; }
  if (TN > 1u && cl.y < N) { c[base + cl.y] = lo.y; }
  if (TN > 2u && cl.z < N) { c[base + cl.z] = lo.z; }
  if (TN > 3u && cl.w < N) { c[base + cl.w] = lo.w; }
  if (TN > 4u && ch.x < N) { c[base + ch.x] = hi.x; }
  if (TN > 5u && ch.y < N) { c[base + ch.y] = hi.y; }
  if (TN > 6u && ch.z < N) { c[base + ch.z] = hi.z; }
  if (TN > 7u && ch.w < N) { c[base + ch.w] = hi.w; }
}

fn put_z_out(idx: u32, v: f32) {
  z[idx] = v;
  out[idx] = activate(ACT, ALPHA, v);
}

// Row i of the block plus the bias (bias_lo, bias_hi: this thread's columns), activated.
fn store_row_bias_act(i: u32, o: Origin, lo: vec4f, hi: vec4f, bias_lo: vec4f, bias_hi: vec4f) {
  let r = o.row0 + i * WG_Y;
  if (i >= TM || r >= M) { return; }
  let base = r * N;
  let cl = o.cols_lo;
  let ch = o.cols_hi;
  let zl = lo + bias_lo;
  let zh = hi + bias_hi;
  if (cl.x < N) { put_z_out(base + cl.x, zl.x); }
  if (TN > 1u && cl.y < N) { put_z_out(base + cl.y, zl.y); }
  if (TN > 2u && cl.z < N) { put_z_out(base + cl.z, zl.z); }
  if (TN > 3u && cl.w < N) { put_z_out(base + cl.w, zl.w); }
  if (TN > 4u && ch.x < N) { put_z_out(base + ch.x, zh.x); }
  if (TN > 5u && ch.y < N) { put_z_out(base + ch.y, zh.y); }
  if (TN > 6u && ch.z < N) { put_z_out(base + ch.z, zh.z); }
  if (TN > 7u && ch.w < N) { put_z_out(base + ch.w, zh.w); }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = origin(wid, lid);
  let s = tile_product(o);
  store_row(0u, o, s[0], s[1]);
  store_row(1u, o, s[2], s[3]);
  store_row(2u, o, s[4], s[5]);
  store_row(3u, o, s[6], s[7]);
  store_row(4u, o, s[8], s[9]);
  store_row(5u, o, s[10], s[11]);
  store_row(6u, o, s[12], s[13]);
  store_row(7u, o, s[14], s[15]);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_bias_act(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = origin(wid, lid);
  let s = tile_product(o);
  // This thread's columns of the bias (clamped: columns past N are never stored).
  let bl = min(o.cols_lo, vec4u(N - 1u));
  let bh = min(o.cols_hi, vec4u(N - 1u));
  let bias_lo = vec4f(bias[bl.x], bias[bl.y], bias[bl.z], bias[bl.w]);
  var bias_hi = vec4f(0.0);
  if (TN > 4u) { bias_hi = vec4f(bias[bh.x], bias[bh.y], bias[bh.z], bias[bh.w]); }
  store_row_bias_act(0u, o, s[0], s[1], bias_lo, bias_hi);
  store_row_bias_act(1u, o, s[2], s[3], bias_lo, bias_hi);
  store_row_bias_act(2u, o, s[4], s[5], bias_lo, bias_hi);
  store_row_bias_act(3u, o, s[6], s[7], bias_lo, bias_hi);
  store_row_bias_act(4u, o, s[8], s[9], bias_lo, bias_hi);
  store_row_bias_act(5u, o, s[10], s[11], bias_lo, bias_hi);
  store_row_bias_act(6u, o, s[12], s[13], bias_lo, bias_hi);
  store_row_bias_act(7u, o, s[14], s[15], bias_lo, bias_hi);
}

// Σ of the squares of row i (< TM) of the block over the columns stored (as store_row stores them).
fn row_sumsq(i: u32, o: Origin, lo: vec4f, hi: vec4f) -> f32 {
  let r = o.row0 + i * WG_Y;
  if (i >= TM || r >= M) { return 0.0; }
  let cl = o.cols_lo;
  let ch = o.cols_hi;
  var q = 0.0;
  if (cl.x < N) { q += lo.x * lo.x; }
  if (TN > 1u && cl.y < N) { q += lo.y * lo.y; }
  if (TN > 2u && cl.z < N) { q += lo.z * lo.z; }
  if (TN > 3u && cl.w < N) { q += lo.w * lo.w; }
  if (TN > 4u && ch.x < N) { q += hi.x * hi.x; }
  if (TN > 5u && ch.y < N) { q += hi.y * hi.y; }
  if (TN > 6u && ch.z < N) { q += hi.z * hi.z; }
  if (TN > 7u && ch.w < N) { q += hi.w * hi.w; }
  return q;
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_sumsq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = origin(wid, lid);
  let s = tile_product(o);
  store_row(0u, o, s[0], s[1]);
  store_row(1u, o, s[2], s[3]);
  store_row(2u, o, s[4], s[5]);
  store_row(3u, o, s[6], s[7]);
  store_row(4u, o, s[8], s[9]);
  store_row(5u, o, s[10], s[11]);
  store_row(6u, o, s[12], s[13]);
  store_row(7u, o, s[14], s[15]);
  var q = row_sumsq(0u, o, s[0], s[1]);
  q += row_sumsq(1u, o, s[2], s[3]);
  q += row_sumsq(2u, o, s[4], s[5]);
  q += row_sumsq(3u, o, s[6], s[7]);
  q += row_sumsq(4u, o, s[8], s[9]);
  q += row_sumsq(5u, o, s[10], s[11]);
  q += row_sumsq(6u, o, s[12], s[13]);
  q += row_sumsq(7u, o, s[14], s[15]);
  let tile = wid.y + wid.z * GRID_Y;
  let tiles_m = (M + WG_Y * TM - 1u) / (WG_Y * TM);
  // A row tile past the end (the z spill rounds up) stored nothing and owns no partial.
  if (tile < tiles_m) {
    let tiles_n = (N + WG_X * TN - 1u) / (WG_X * TN);
    part[((tile * tiles_n + wid.x) * WG_Y + lid.y) * WG_X + lid.x] = q;
  }
}
