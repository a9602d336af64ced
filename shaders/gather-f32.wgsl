// Gather a training batch from a dataset held on the GPU as float inputs (no conversion).
//   for r < ROWS:  e = order[(step.batch_start + r) % EXAMPLES]
//                  x[r·FEATURES + k] = inputs[e·FEATURES + k]
//                  y[r] = labels[e]
//
// bindings  images : array<f32>  EXAMPLES × FEATURES floats, row-major (read)
//           labels : array<u32>  EXAMPLES (read)
//           order  : array<u32>  EXAMPLES, the epoch's permutation (read)
//           x      : array<f32>  ROWS × FEATURES (written)
//           y      : array<u32>  ROWS (written)
//           step   : the per-step uniform (batch_start)
// shapes    ROWS, FEATURES, EXAMPLES
// dispatch  (min(ceil(ROWS·FEATURES / 256), 65535), 1, 1); grid-stride loop over the
//           outputs of x (the thread writing feature 0 of a row also writes its label).
//#include "step.wgsl"

override ROWS: u32;
override FEATURES: u32;
override EXAMPLES: u32;

@group(0) @binding(0) var<storage, read> images: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 256u;
  let total = ROWS * FEATURES;
  for (var i = gid.x; i < total; i += stride) {
    let r = i / FEATURES;
    let k = i - r * FEATURES;
    let e = order[(step.batch_start + r) % EXAMPLES];
    x[i] = images[e * FEATURES + k];
    if (k == 0u) { y[r] = labels[e]; }
  }
}
