// The matmul steps of a plan, per shape: the candidate that tuning.matmulChoice picks for
// the shape (src/ops/matmul-candidates.ts), or, when it picks none or is absent, the
// register kernel with tuning.matmul's tiles (the planner's behaviour before per-shape
// choices existed).
import type { KernelTuning } from '../ops/tuning.ts';
import { candidateScratch, matmulBiasActWith, matmulWith, type MatmulCandidate } from '../ops/matmul-candidates.ts';
import { matmul, matmulBiasAct, matmulSumsq, type MatmulShape } from '../ops/matmul.ts';
import type { BufRange, PlanStep } from '../ops/op.ts';

/**
 * The candidate for a shape. Split-K needs a scratch region; without one (or one too
 * short) it runs as the one-pass tiled kernel of the same tile.
 */
function choose(tuning: KernelTuning, shape: MatmulShape, scratch: BufRange | undefined): MatmulCandidate | undefined {
  const c = tuning.matmulChoice?.(shape);
  if (c?.kind === 'splitk' && (!scratch || scratch.length < candidateScratch(c, shape))) return { kind: 'tiled', name: c.name, tile: c.tile };
  return c;
}

/** Whether the product runs in the register kernel (no candidate chosen for its shape): the one with a sum-of-squares epilogue. */
export const usesRegisterKernel = (tuning: KernelTuning, shape: MatmulShape): boolean => tuning.matmulChoice?.(shape) === undefined;

/** Floats of scratch the chosen candidates need for these shapes (0 when none uses split-K). */
export function matmulScratch(tuning: KernelTuning, shapes: MatmulShape[]): number {
  let n = 0;
  for (const s of shapes) {
    const c = tuning.matmulChoice?.(s);
    if (c) n = Math.max(n, candidateScratch(c, s));
  }
  return n;
}

/**
 * Builders of matmul steps under `tuning`. `scratch` (an arena of its own, at least
 * matmulScratch floats) serves split-K; the products run one after another, so they share it.
 */
export function matmulSteps(tuning: KernelTuning, scratch?: BufRange) {
  return {
    plain(label: string, shape: MatmulShape, io: { a: BufRange; b: BufRange; c: BufRange }): PlanStep[] {
      const c = choose(tuning, shape, scratch);
      return c ? matmulWith(c, label, shape, { ...io, scratch }) : [matmul(label, shape, io, tuning.matmul)];
    },
    /** The register kernel with the sum of squares of C into `part` (matmulSumsq); only where usesRegisterKernel. */
    sumsq(label: string, shape: MatmulShape, io: { a: BufRange; b: BufRange; c: BufRange; part: BufRange }): PlanStep[] {
      if (!usesRegisterKernel(tuning, shape))
        throw new Error(`${label}: a kernel other than the register kernel is chosen for this shape; it has no sum-of-squares epilogue`);
      return [matmulSumsq(label, shape, io, tuning.matmul)];
    },
    biasAct(
      label: string,
      shape: MatmulShape,
      act: number,
      alpha: number,
      io: { a: BufRange; b: BufRange; bias: BufRange; z: BufRange; out: BufRange },
    ): PlanStep[] {
      const c = choose(tuning, shape, scratch);
      return c ? matmulBiasActWith(c, label, shape, act, alpha, { ...io, scratch }) : [matmulBiasAct(label, shape, act, alpha, io, tuning.matmul)];
    },
  };
}
