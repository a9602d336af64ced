// Values that change every training step. The backend writes this uniform before each
// step, laying it out from this struct (by member name), so it is declared only here and
// pulled into a kernel with `//#include "step.wgsl"`.
struct Step {
  lr: f32,          // learning rate of this step
  t: f32,           // 1-based optimiser step (Adam's bias correction)
  batch_start: u32, // first position of this batch in the epoch's permutation
  pad: u32,
}
@group(0) @binding(15) var<uniform> step: Step;
