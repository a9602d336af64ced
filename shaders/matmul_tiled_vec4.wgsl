// Workgroup-memory tiled matmul for hardware GPUs, vec4 global loads.
// bindings  a : array<vec4f>  A as stored (read);  b : array<vec4f>  B as stored (read);
//           c, bias, z, out, part and the entry points main, main_bias_act, main_partial:
//           see matmul_tiled_body.wgsl, which also gives the shapes and the dispatch.
// shapes    the contiguous dimension of each stored operand is a multiple of 4 (K for A,
//           M for Aᵀ; N for B, K for Bᵀ) so every run of 4 starts on a vec4 and lies
//           inside one row; the bindings start on 256-byte boundaries (the engine's rule).
const VW: u32 = 4u;

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;

// i is a multiple of 4 (see shapes above).
fn load_a(i: u32) -> vec4f { return a[i / 4u]; }
fn load_b(i: u32) -> vec4f { return b[i / 4u]; }

//#include "matmul_tiled_body.wgsl"
