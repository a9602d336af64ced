// Bias gradient: column sums of dZ.   out[j] = Σ_i dz[i, j]
//
// bindings  dz  : array<f32>  ROWS × COLS, row-major (read)
//           out : array<f32>  COLS (written)
// dispatch  (ceil(COLS / 64), 1, 1); one thread per column, walking the rows in order
//           (adjacent threads read adjacent columns, so loads coalesce).
override ROWS: u32;
override COLS: u32;

@group(0) @binding(0) var<storage, read> dz: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= COLS) { return; }
  var s = 0.0;
  for (var i = 0u; i < ROWS; i++) {
    s += dz[i * COLS + j];
  }
  out[j] = s;
}
