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

/** As activationBackwardOp, with the penalty scaled per unit: L1 · mask[i mod UNITS]. */
export const activationBackwardMaskedOp: OpDef = {
  shader: 'activation_backward',
  entry: 'main_masked',
  group: 'elementwise',
  cpu({ COUNT, ACT, ALPHA, L1, UNITS }, { z, a, d, mask }) {
    const zf = z.f;
    const af = a.f;
    const df = d.f;
    const mf = mask.f;
    for (let i = 0; i < COUNT; i++) {
      const ai = af[i];
      let g = df[i];
      // As the plain twin where the mask is 1, so a mask of ones changes nothing on the CPU.
      if (L1 !== 0) g += L1 * mf[i % UNITS] * Math.sign(ai);
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

/**
 * As activationBackward, with the L1 term of each unit scaled by mask[unit] (count =
 * rows × units, row-major; mask holds `units` values, 0 … 1): units spared the penalty.
 */
export function activationBackwardMasked(
  label: string,
  count: number,
  units: number,
  act: number,
  alpha: number,
  l1Scale: number,
  io: { z: BufRange; a: BufRange; d: BufRange; mask: BufRange },
): PlanStep {
  return {
    op: activationBackwardMaskedOp,
    label,
    constants: { COUNT: count, ACT: act, ALPHA: alpha, L1: l1Scale, UNITS: units },
    bindings: { z: io.z, a: io.a, d: io.d, mask: io.mask },
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
