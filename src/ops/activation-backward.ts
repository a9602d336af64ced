// Activation backward (dZ = (dA + L1·sign(A)) ⊙ f′) and a standalone activation forward:
// plan builders and CPU twins of shaders/activation_backward.wgsl.
import { activate, activateGrad } from './activations.ts';
import { gridStride, type BufRange, type OpDef, type PlanStep } from './op.ts';

/** Workgroups of 256 for a grid-stride loop over `count` elements. */

export const activationBackwardOp: OpDef = {
  shader: 'activation_backward',
  entry: 'main',
  group: 'elementwise',
  cpu({ COUNT, ACT, ALPHA, L1 }, { z, a, d }) {
    const zf = z.f;
    const af = a.f;
    const df = d.f;
    for (let i = 0; i < COUNT; i++) {
      const ai = af[i];
      let g = df[i];
      if (L1 !== 0) g += L1 * Math.sign(ai);
      df[i] = g * activateGrad(ACT, ALPHA, zf[i], ai);
    }
  },
};

export const activationForwardOp: OpDef = {
  shader: 'activation_backward',
  entry: 'forward',
  group: 'elementwise',
  cpu({ COUNT, ACT, ALPHA }, { z, out }) {
    const zf = z.f;
    const o = out.f;
    for (let i = 0; i < COUNT; i++) o[i] = activate(ACT, ALPHA, zf[i]);
  },
};

/**
 * In place on d: d = (d + l1Scale·sign(a)) ⊙ f′(z, a). `act` is an id from activations.ts,
 * `alpha` the leaky slope, l1Scale = λ/B for the L1 activation penalty (λ/B)·Σ|a| (0 = off).
 * z and a are read-only, so they must not live in d's arena.
 */
export function activationBackward(
  label: string,
  count: number,
  act: number,
  alpha: number,
  l1Scale: number,
  io: { z: BufRange; a: BufRange; d: BufRange },
): PlanStep {
  return {
    op: activationBackwardOp,
    label,
    constants: { COUNT: count, ACT: act, ALPHA: alpha, L1: l1Scale },
    bindings: { z: io.z, a: io.a, d: io.d },
    dispatch: gridStride(count),
  };
}

/** out = f(z) elementwise (the matmul epilogue normally fuses this). */
export function activationForward(label: string, count: number, act: number, alpha: number, io: { z: BufRange; out: BufRange }): PlanStep {
  return {
    op: activationForwardOp,
    label,
    constants: { COUNT: count, ACT: act, ALPHA: alpha },
    bindings: { z: io.z, out: io.out },
    dispatch: gridStride(count),
  };
}
