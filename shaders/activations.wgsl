// Activation functions and their derivatives, shared by the forward epilogue (matmul)
// and the activation backward kernel. `act` is an ACT_* id (from the TypeScript table
// ACTIVATIONS, through constants.wgsl); `alpha` the leaky slope.
// The derivative takes both z (pre-activation) and a = f(z) so each case uses the
// cheaper or more exact one. At z = 0 the rectifiers take the derivative of the z < 0
// side (0 for relu): an exactly-zero unit passes no gradient, as the telemetry assumes.
//#include "constants.wgsl"

fn activate(act: u32, alpha: f32, z: f32) -> f32 {
  switch act {
    case ACT_RELU: { return max(z, 0.0); }
    case ACT_LEAKY_RELU: { return select(alpha * z, z, z > 0.0); }
    // log(1 + e^z) without overflow: max(z, 0) + log(1 + e^-|z|)
    case ACT_SOFTPLUS: { return max(z, 0.0) + log(1.0 + exp(-abs(z))); }
    // Clamped: WGSL lets tanh be indeterminate once exp overflows (|z| > 88.7) and
    // SwiftShader returns NaN there (gpuweb/gpuweb#4458); f32 tanh is ±1 from |z| ≈ 9, so
    // the clamp changes no value. It can go once the spec requires tanh to saturate.
    case ACT_TANH: { return tanh(clamp(z, -15.0, 15.0)); }
    case ACT_SIGMOID: { return 1.0 / (1.0 + exp(-z)); }
    case ACT_ABS: { return abs(z); }
    default: { return z; }
  }
}

fn activate_grad(act: u32, alpha: f32, z: f32, a: f32) -> f32 {
  switch act {
    case ACT_RELU: { return select(0.0, 1.0, z > 0.0); }
    case ACT_LEAKY_RELU: { return select(alpha, 1.0, z > 0.0); }
    case ACT_SOFTPLUS: { return 1.0 / (1.0 + exp(-z)); }
    case ACT_TANH: { return 1.0 - a * a; }
    case ACT_SIGMOID: { return a * (1.0 - a); }
    case ACT_ABS: { return select(select(0.0, -1.0, z < 0.0), 1.0, z > 0.0); }
    default: { return 1.0; }
  }
}
