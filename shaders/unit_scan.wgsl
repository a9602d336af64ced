// Per-unit activity of one hidden layer over a batch, accumulated across the batches of a
// full-set scan (weights frozen):
//   maxz[j]   = max(maxz[j], max_i z[i, j])        largest pre-activation seen
//   sumabs[j] = sumabs[j] + Σ_i |a[i, j]|          summed in row order i = 0, 1, …
// A unit is dead on the scanned set when maxz[j] ≤ 0 (DESIGN: z ≤ 0 for every example).
//
// bindings  z      : array<f32>  ROWS × COLS pre-activations, row-major (read)
//           a      : array<f32>  ROWS × COLS post-activations, row-major (read)
//           maxz   : array<f32>  COLS running maxima (read_write; the engine starts them at −∞)
//           sumabs : array<f32>  COLS running sums of |a| (read_write; the engine zeroes them)
// shapes    ROWS ≥ 1, COLS ≥ 1. A NaN z is skipped by the max (a compare with NaN is false).
// dispatch  (ceil(COLS / 64), 1, 1); one thread per column walking the rows in order, so the
//           result is deterministic (same bits every run) and equals the CPU twin's.
override ROWS: u32;
override COLS: u32;

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> maxz: array<f32>;
@group(0) @binding(3) var<storage, read_write> sumabs: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= COLS) { return; }
  var m = maxz[j];
  var s = sumabs[j];
  for (var i = 0u; i < ROWS; i++) {
    let k = i * COLS + j;
    let v = z[k];
    m = select(m, v, v > m);
    s += abs(a[k]);
  }
  maxz[j] = m;
  sumabs[j] = s;
}
