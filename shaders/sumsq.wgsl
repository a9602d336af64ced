// Sums of squares of several segments of one buffer, one workgroup per segment.
//   stats[slot_s] = bitcast<u32>(Σ_{k < length_s} x[offset_s + k]²)   (written, not added)
//
// bindings  x     : array<f32>  the buffer the segments lie in (read)
//           segs  : array<u32>  SEGMENTS triples (offset, length, slot); offsets are relative
//                               to the start of the x binding (read)
//           stats : array<u32>  the step's stats words; each segment's sum is stored as the
//                               bits of an f32 (read_write)
// shapes    SEGMENTS ≥ 1; a segment may be empty or millions of elements long
// dispatch  (SEGMENTS, 1, 1), workgroups of 256. Thread k sums x[offset + k + 256 n] over n in
//           order, then a fixed tree reduction in workgroup memory: the result is deterministic
//           (same bits every run), with no float atomics.
override SEGMENTS: u32;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> segs: array<u32>;
@group(0) @binding(2) var<storage, read_write> stats: array<u32>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.x;
  if (seg >= SEGMENTS) { return; }
  let offset = segs[3u * seg];
  let length = segs[3u * seg + 1u];
  var s = 0.0;
  for (var k = lid; k < length; k += WG) {
    let v = x[offset + k];
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
  if (lid == 0u) {
    stats[segs[3u * seg + 2u]] = bitcast<u32>(partial[0]);
  }
}
