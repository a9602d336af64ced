// Telemetry of one hidden layer's post-activation output a (ROWS = batch × COLS = units),
// tiled over the batch in two passes (enough threads to fill a GPU at large batch).
// Same results as layer_stats.wgsl:
//   flags[j] |= (some a[i, j] != 0)              per-unit "was active" flag over the window
//   stats[SLOT_ZEROS]      += #{(i, j) : a[i, j] == 0}
//   stats[SLOT_BATCH_DEAD] += #{j : a[i, j] == 0 for every row i of this batch}
//   stats[SLOT_DEAD]       += #{j : flags[j] == 0 after this batch's update}
//
// entry count_zeros  bindings  a      : array<f32>  ROWS × COLS, row-major (read)
//                              counts : array<u32>  CHUNKS × COLS (written): zeros of column j in
//                                                   rows [c·CHUNK_ROWS, min(ROWS, (c+1)·CHUNK_ROWS))
//                    dispatch  (ceil(COLS / 64), CHUNKS, 1), workgroups of 64: one thread per
//                              (column, chunk); neighbouring threads read neighbouring columns.
// entry finish       bindings  zero_counts : array<u32>  as written by count_zeros (read)
//                              flags       : array<u32>  COLS "was active" flags, 0 or 1 (read_write;
//                                                        the plan calls this region `active`)
//                              stats       : array<atomic<u32>>  the step's stats words (counts added)
//                    dispatch  (ceil(COLS / 64), 1, 1), workgroups of 64, one thread per column;
//                              counts summed in workgroup atomics, added to stats once per
//                              workgroup (integer sums: the same on every run).
// entry finish_layers  as finish for LAYERS layers at once (their counts from activation_backward.wgsl
//                    `main_stats`, all flags in one arena). bindings zero_counts, flags, stats as
//                    above (offsets into them from the table), and
//                              layers : array<u32>  LAYERS × 6: (cols, counts offset, flags offset,
//                                                   zeros slot, batch-dead slot, dead slot) (read)
//                    dispatch  (ceil(max cols / 64), LAYERS, 1), workgroups of 64; ROWS and CHUNKS
//                              as above, the same for every layer (one batch).
// shapes    ROWS, COLS ≥ 1; CHUNKS = ceil(ROWS / CHUNK_ROWS); SLOT_* are word indices into stats.
// "Exactly zero" means +0 or −0, tested on the bits (subnormals are not zero, as on the CPU).
override ROWS: u32;
override COLS: u32 = 1u;
override CHUNK_ROWS: u32;
override CHUNKS: u32;
override SLOT_ZEROS: u32 = 0u;
override SLOT_BATCH_DEAD: u32 = 0u;
override SLOT_DEAD: u32 = 0u;
override LAYERS: u32 = 1u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;
@group(0) @binding(2) var<storage, read> zero_counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> flags: array<u32>;
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> layers: array<u32>;

var<workgroup> wg_zeros: atomic<u32>;
var<workgroup> wg_batch_dead: atomic<u32>;
var<workgroup> wg_dead: atomic<u32>;

@compute @workgroup_size(64)
fn count_zeros(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let chunk = gid.y;
  if (j >= COLS) { return; }
  let end = min(ROWS, (chunk + 1u) * CHUNK_ROWS);
  var zeros = 0u;
  for (var i = chunk * CHUNK_ROWS; i < end; i++) {
    // ±0 by its bits: a float compare would also count subnormals, which SwiftShader flushes
    // (WGSL allows any implementation to flush them: spec "Floating Point Accuracy",
    // gpuweb/gpuweb#349). The bit test is exact everywhere, so it stays.
    zeros += select(0u, 1u, (bitcast<u32>(a[i * COLS + j]) << 1u) == 0u);
  }
  counts[chunk * COLS + j] = zeros;
}

@compute @workgroup_size(64)
fn finish(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = gid.x;
  if (j < COLS) {
    var zeros = 0u;
    for (var c = 0u; c < CHUNKS; c++) {
      zeros += zero_counts[c * COLS + j];
    }
    let live = zeros < ROWS;
    let flag = flags[j] | select(0u, 1u, live);
    flags[j] = flag;
    if (zeros != 0u) { atomicAdd(&wg_zeros, zeros); }
    if (!live) { atomicAdd(&wg_batch_dead, 1u); }
    if (flag == 0u) { atomicAdd(&wg_dead, 1u); }
  }
  workgroupBarrier();
  if (lid == 0u) {
    let z = atomicLoad(&wg_zeros);
    let bd = atomicLoad(&wg_batch_dead);
    let d = atomicLoad(&wg_dead);
    if (z != 0u) { atomicAdd(&stats[SLOT_ZEROS], z); }
    if (bd != 0u) { atomicAdd(&stats[SLOT_BATCH_DEAD], bd); }
    if (d != 0u) { atomicAdd(&stats[SLOT_DEAD], d); }
  }
}

@compute @workgroup_size(64)
fn finish_layers(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = 6u * gid.y;
  let cols = layers[t];
  let at = layers[t + 1u];
  let fl = layers[t + 2u];
  let j = gid.x;
  if (j < cols) {
    var zeros = 0u;
    for (var c = 0u; c < CHUNKS; c++) {
      zeros += zero_counts[at + c * cols + j];
    }
    let live = zeros < ROWS;
    let flag = flags[fl + j] | select(0u, 1u, live);
    flags[fl + j] = flag;
    if (zeros != 0u) { atomicAdd(&wg_zeros, zeros); }
    if (!live) { atomicAdd(&wg_batch_dead, 1u); }
    if (flag == 0u) { atomicAdd(&wg_dead, 1u); }
  }
  workgroupBarrier();
  if (lid == 0u) {
    let z = atomicLoad(&wg_zeros);
    let bd = atomicLoad(&wg_batch_dead);
    let d = atomicLoad(&wg_dead);
    if (z != 0u) { atomicAdd(&stats[layers[t + 3u]], z); }
    if (bd != 0u) { atomicAdd(&stats[layers[t + 4u]], bd); }
    if (d != 0u) { atomicAdd(&stats[layers[t + 5u]], d); }
  }
}
