// Sum equally spaced terms (partial results of an operand split over several dispatches:
// dX of a layer split by rows, sums of squares of a weight split into chunks):
//   dst[DST_OFF + i] = Σ_{k < TERMS} src[SRC_OFF + k · STRIDE + i]   for i < COUNT, k in order
//
// bindings  src : array<f32>  (read)
//           dst : array<f32>  (read_write; only [DST_OFF, DST_OFF + COUNT) is written)
// shapes    TERMS ≥ 1; offsets in elements, so dst may be any slot of a stats buffer
// dispatch  (min(65535, ceil(COUNT / 256)), 1, 1), workgroups of 256, grid-stride loop.
override COUNT: u32;
override TERMS: u32;
override STRIDE: u32;
override SRC_OFF: u32;
override DST_OFF: u32;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = gid.x; i < COUNT; i += nwg.x * 256u) {
    var s = src[SRC_OFF + i];
    for (var k = 1u; k < TERMS; k++) {
      s += src[SRC_OFF + k * STRIDE + i];
    }
    dst[DST_OFF + i] = s;
  }
}
