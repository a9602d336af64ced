// Copy a block of columns between row-major matrices (a layer split by output rows works on
// its column blocks of Z, A and dZ through this):
//   dst[r · DST_LD + DST_COL + j] = src[r · SRC_LD + SRC_COL + j]   for r < ROWS, j < COLS
//
// bindings  src : array<f32>  ROWS × SRC_LD (read)
//           dst : array<f32>  ROWS × DST_LD (read_write; only the block is written)
// shapes    COLS ≤ SRC_LD − SRC_COL, COLS ≤ DST_LD − DST_COL
// dispatch  (min(65535, ceil(ROWS · COLS / 256)), 1, 1), workgroups of 256, grid-stride loop.
override ROWS: u32;
override COLS: u32;
override SRC_LD: u32;
override SRC_COL: u32;
override DST_LD: u32;
override DST_COL: u32;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = ROWS * COLS;
  for (var i = gid.x; i < n; i += nwg.x * 256u) {
    let r = i / COLS;
    let j = i - r * COLS;
    dst[r * DST_LD + DST_COL + j] = src[r * SRC_LD + SRC_COL + j];
  }
}
