// Max-norm constraint on each unit's incoming weights, applied after the optimiser step:
//   for each row r < ROWS of w:  n = ‖w[r, ·]‖₂;  if n > MAX_NORM:  w[r, ·] *= MAX_NORM / (n + 1e-7)
// Rows within the bound are not written at all (they stay bit-identical). The 1e-7, as in
// torch.renorm, keeps a rescaled row at or just below MAX_NORM despite rounding.
//
// bindings  w : array<f32>  ROWS × COLS, row-major: a dense layer's weight [outputs × inputs]
//                           (or a run of its rows), row r = unit r's incoming weights (read_write)
// shapes    ROWS ≥ 1, COLS ≥ 1, MAX_NORM > 0
// dispatch  (min(65535, ROWS), 1, 1), workgroups of 256; workgroup g takes rows g, g + nwg.x, …
//           Thread k sums w[r, k + 256 n]² over n in order, then a fixed tree reduction in
//           workgroup memory: the norm, and so the result, is the same every run.
override ROWS: u32;
override COLS: u32;
override MAX_NORM: f32;

@group(0) @binding(0) var<storage, read_write> w: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var r = wid.x; r < ROWS; r += nwg.x) {
    let base = r * COLS;
    var s = 0.0;
    for (var k = lid; k < COLS; k += WG) {
      let v = w[base + k];
      s += v * v;
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half >>= 1u) {
      if (lid < half) {
        partial[lid] += partial[lid + half];
      }
      workgroupBarrier();
    }
    let n = sqrt(partial[0]);
    if (n > MAX_NORM) {
      let scale = MAX_NORM / (n + 1e-7);
      for (var k = lid; k < COLS; k += WG) {
        w[base + k] *= scale;
      }
    }
    // Every thread has read partial[0] before the next row overwrites it.
    workgroupBarrier();
  }
}
