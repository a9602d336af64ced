// Telemetry of one hidden layer's post-activation output a (ROWS = batch × COLS = units).
//   flags[j] |= (some a[i, j] != 0)              per-unit "was active" flag over the window
//   stats[SLOT_ZEROS]      += #{(i, j) : a[i, j] == 0}
//   stats[SLOT_BATCH_DEAD] += #{j : a[i, j] == 0 for every row i of this batch}
//   stats[SLOT_DEAD]       += #{j : flags[j] == 0 after this batch's update}
//
// bindings  a      : array<f32>          ROWS × COLS, row-major (read)
//           flags  : array<u32>          COLS "was active" flags, 0 or 1 (read_write; the engine
//                                        zeroes them when a window starts). The plan calls this
//                                        region `active`, a reserved word in WGSL.
//           stats  : array<atomic<u32>>  the step's stats words (read_write; counts are added)
// shapes    ROWS ≥ 1, COLS ≥ 1; SLOT_* are word indices into stats
// "Exactly zero" means +0 or −0, tested on the bits (subnormals are not zero, as on the CPU).
// dispatch  (ceil(COLS / 64), 1, 1); one thread per column walking the rows in order (adjacent
//           threads read adjacent columns, so loads coalesce). Counts are summed in workgroup
//           atomics and added to stats once per workgroup.
override ROWS: u32;
override COLS: u32;
override SLOT_ZEROS: u32;
override SLOT_BATCH_DEAD: u32;
override SLOT_DEAD: u32;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> flags: array<u32>;
@group(0) @binding(2) var<storage, read_write> stats: array<atomic<u32>>;

var<workgroup> wg_zeros: atomic<u32>;
var<workgroup> wg_batch_dead: atomic<u32>;
var<workgroup> wg_dead: atomic<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = gid.x;
  if (j < COLS) {
    var zeros = 0u;
    for (var i = 0u; i < ROWS; i++) {
      // ±0 by its bits: a float compare would also count subnormals, which SwiftShader flushes
      // (WGSL allows any implementation to flush them: spec "Floating Point Accuracy",
      // gpuweb/gpuweb#349). The bit test is exact everywhere, so it stays.
      zeros += select(0u, 1u, (bitcast<u32>(a[i * COLS + j]) << 1u) == 0u);
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
