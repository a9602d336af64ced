// Workgroup-memory tiled matmul for hardware GPUs, scalar global loads (any shape).
// bindings  a : array<f32>  A as stored (read);  b : array<f32>  B as stored (read);
//           c, bias, z, out, part and the entry points main, main_bias_act, main_partial:
//           see matmul_tiled_body.wgsl, which also gives the shapes and the dispatch.
// The vec4 variant (matmul_tiled_vec4.wgsl) needs the operands' contiguous dimensions to be
// multiples of 4; this one serves every other shape.
const VW: u32 = 1u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;

fn load_a(i: u32) -> vec4f { return vec4f(a[i], 0.0, 0.0, 0.0); }
fn load_b(i: u32) -> vec4f { return vec4f(b[i], 0.0, 0.0, 0.0); }

//#include "matmul_tiled_body.wgsl"
