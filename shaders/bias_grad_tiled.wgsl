// Bias gradient (column sums of dZ) tiled over the batch, in two passes: enough threads
// to fill a GPU even when the layer is narrow and the batch large, and a fixed summation
// order (same bits on every run, no atomics).   out[j] = Σ_i dz[i, j]
//
// entry partial  bindings  dz   : array<f32>  ROWS × COLS, row-major (read)
//                          part : array<f32>  CHUNKS × COLS (written): chunk c's column sums over
//                                             rows [c·CHUNK_ROWS, min(ROWS, (c+1)·CHUNK_ROWS))
//                dispatch  (ceil(COLS / 64), CHUNKS, 1), workgroups of 64: one thread per
//                          (column, chunk), walking its rows in order; neighbouring threads read
//                          neighbouring columns (coalesced). With CHUNKS = 1, `part` is the output.
// entry finish   bindings  partials : array<f32>  as written by partial (read)
//                          out      : array<f32>  COLS (written): Σ_c partials[c·COLS + j], c in order
//                dispatch  (ceil(COLS / 64), 1, 1), workgroups of 64, one thread per column.
// shapes    ROWS, COLS ≥ 1; CHUNKS = ceil(ROWS / CHUNK_ROWS).
override ROWS: u32;
override COLS: u32;
override CHUNK_ROWS: u32;
override CHUNKS: u32;

@group(0) @binding(0) var<storage, read> dz: array<f32>;
@group(0) @binding(1) var<storage, read_write> part: array<f32>;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn partial(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let chunk = gid.y;
  if (j >= COLS) { return; }
  let end = min(ROWS, (chunk + 1u) * CHUNK_ROWS);
  var s = 0.0;
  for (var i = chunk * CHUNK_ROWS; i < end; i++) {
    s += dz[i * COLS + j];
  }
  part[chunk * COLS + j] = s;
}

@compute @workgroup_size(64)
fn finish(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= COLS) { return; }
  var s = partials[j];
  for (var c = 1u; c < CHUNKS; c++) {
    s += partials[c * COLS + j];
  }
  out[j] = s;
}
