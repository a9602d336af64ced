// Sums of squares of several segments of one buffer, in two passes that fill a GPU and
// give the same bits on every run.   stats[slot_s] = bitcast<u32>(Σ_{k < length_s} x[offset_s + k]²)
//
// entry partial  bindings  x     : array<f32>  the buffer the segments lie in (read)
//                          segs  : array<u32>  SEGMENTS triples (offset, length, slot); offsets
//                                              relative to the start of the x binding (read)
//                          part  : array<f32>  SEGMENTS × GROUPS partial sums (written)
//                dispatch  (GROUPS, SEGMENTS, 1), workgroups of 256. Segment s is cut into GROUPS
//                          consecutive pieces of ceil(length / GROUPS) elements; workgroup (g, s)
//                          sums piece g into part[s·GROUPS + g]: thread k takes elements
//                          k, k + 256, … of the piece in order (neighbouring threads read
//                          neighbouring elements), then a fixed tree in workgroup memory.
// entry finish   bindings  part  : array<f32>  as written by partial (read)
//                          segs  : as above (read; only the slot)
//                          stats : array<u32>  the step's stats words; each sum stored as the bits
//                                              of an f32 (written, not added)
//                dispatch  (SEGMENTS, 1, 1), workgroups of 256: thread k takes part[s·GROUPS + k]
//                          (k < GROUPS), then the same fixed tree.
// entry finish_segments  bindings  partials : array<f32>  partial sums (read)
//                          x    : array<f32>  as partial (read)
//                          segs : array<u32>  SEGMENTS triples (offset, length, slot): the first
//                                             SUMS are runs of partials, the others runs of x (read)
//                          stats : as finish
//                dispatch  (SEGMENTS, 1, 1), workgroups of 256: stats[slot] = the plain sum of a
//                          run of partials (sums of squares already: written by `partial`,
//                          matmul.wgsl `main_sumsq` or activation_backward.wgsl `main_stats`), or
//                          the sum of squares of a run of x (short ones: the bias gradients),
//                          thread k taking elements k, k + 256, … in order, then the fixed tree.
//                          One dispatch finishes the norms of every layer's gradients and deltas.
// entry finish_serial   as finish_segments, one thread per segment summing its run in order:
//                dispatch  (ceil(SEGMENTS / 64), 1, 1), workgroups of 64. No workgroup memory and
//                          no barriers, for the one-pass reductions (SwiftShader, where a 256-thread
//                          workgroup with barriers costs about a millisecond; the runs are short).
// shapes    SEGMENTS ≥ 1, 1 ≤ GROUPS ≤ 256; a segment may be empty or millions long.
// The pieces and both trees depend only on the lengths and GROUPS, never on scheduling,
// and no float atomics are used: the result is deterministic.
override SEGMENTS: u32;
override GROUPS: u32 = 64u;
override SUMS: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> segs: array<u32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<u32>;

const WG: u32 = 256u;
var<workgroup> tree: array<f32, WG>;

// The fixed-order tree over the 256 values in `tree`; the sum ends in tree[0].
fn tree_sum(lid: u32) {
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) {
      tree[lid] += tree[lid + half];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let seg = wid.y;
  let offset = segs[3u * seg];
  let length = segs[3u * seg + 1u];
  let piece = (length + GROUPS - 1u) / GROUPS;
  let begin = min(length, g * piece);
  let end = min(length, begin + piece);
  var s = 0.0;
  for (var k = begin + lid; k < end; k += WG) {
    let v = x[offset + k];
    s += v * v;
  }
  tree[lid] = s;
  tree_sum(lid);
  if (lid == 0u) {
    part[seg * GROUPS + g] = tree[0];
  }
}

@compute @workgroup_size(WG)
fn finish(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.x;
  var s = 0.0;
  if (lid < GROUPS) { s = partials[seg * GROUPS + lid]; }
  tree[lid] = s;
  tree_sum(lid);
  if (lid == 0u) {
    stats[segs[3u * seg + 2u]] = bitcast<u32>(tree[0]);
  }
}

// The sum of segment seg's run: partials (seg < SUMS) or squares of x, from element `first` in steps of `step`.
fn run_sum(seg: u32, first: u32, step: u32) -> f32 {
  let offset = segs[3u * seg];
  let length = segs[3u * seg + 1u];
  var s = 0.0;
  if (seg < SUMS) {
    for (var k = first; k < length; k += step) {
      s += partials[offset + k];
    }
  } else {
    for (var k = first; k < length; k += step) {
      let v = x[offset + k];
      s += v * v;
    }
  }
  return s;
}

@compute @workgroup_size(64)
fn finish_serial(@builtin(global_invocation_id) gid: vec3u) {
  let seg = gid.x;
  if (seg < SEGMENTS) {
    stats[segs[3u * seg + 2u]] = bitcast<u32>(run_sum(seg, 0u, 1u));
  }
}

@compute @workgroup_size(WG)
fn finish_segments(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.x;
  tree[lid] = run_sum(seg, lid, WG);
  tree_sum(lid);
  if (lid == 0u) {
    stats[segs[3u * seg + 2u]] = bitcast<u32>(tree[0]);
  }
}
