// Activation functions and their derivatives, shared by the forward epilogue (matmul)
// and the activation backward kernel. `act` is the id below; `alpha` the leaky slope.
//   0 linear  1 relu  2 leaky_relu  3 softplus  4 tanh  5 sigmoid  6 abs
// The derivative takes both z (pre-activation) and a = f(z) so each case uses the
// cheaper or more exact one. At z = 0 the rectifiers take the derivative of the z < 0
// side (0 for relu): an exactly-zero unit passes no gradient, as the telemetry assumes.

fn activate(act: u32, alpha: f32, z: f32) -> f32 {
  switch act {
    case 1u: { return max(z, 0.0); }
    case 2u: { return select(alpha * z, z, z > 0.0); }
    // log(1 + e^z) without overflow: max(z, 0) + log(1 + e^-|z|)
    case 3u: { return max(z, 0.0) + log(1.0 + exp(-abs(z))); }
    // Clamped: SwiftShader's tanh overflows to NaN beyond |z| ≈ 89; f32 tanh is ±1 from |z| ≈ 9.
    case 4u: { return tanh(clamp(z, -15.0, 15.0)); }
    case 5u: { return 1.0 / (1.0 + exp(-z)); }
    case 6u: { return abs(z); }
    default: { return z; }
  }
}

fn activate_grad(act: u32, alpha: f32, z: f32, a: f32) -> f32 {
  switch act {
    case 1u: { return select(0.0, 1.0, z > 0.0); }
    case 2u: { return select(alpha, 1.0, z > 0.0); }
    case 3u: { return 1.0 / (1.0 + exp(-z)); }
    case 4u: { return 1.0 - a * a; }
    case 5u: { return a * (1.0 - a); }
    case 6u: { return select(select(0.0, -1.0, z < 0.0), 1.0, z > 0.0); }
    default: { return 1.0; }
  }
}
