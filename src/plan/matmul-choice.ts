// The matmul steps of a plan, per shape: the candidate that tuning.matmulChoice picks for
// the shape (src/ops/matmul-candidates.ts), or, when it picks none or is absent, the
// register kernel with tuning.matmul's tiles (the planner's behaviour before per-shape
// choices existed).
import { registerCandidate, type KernelTuning } from '../ops/tuning.ts';
import { candidateScratch, matmulBiasActWith, matmulSumsqWith, matmulWith, sumsqScratchWith, type MatmulCandidate } from '../ops/matmul-candidates.ts';
import { matmul, matmulBiasAct, type MatmulShape } from '../ops/matmul.ts';
import type { BufRange, PlanStep } from '../ops/op.ts';

/**
 * The candidate for a shape. Split-K needs a scratch region; without one (or one too
 * short) it runs as the one-pass tiled kernel of the same tile.
 */
function choose(tuning: KernelTuning, shape: MatmulShape, scratch: BufRange | undefined): MatmulCandidate | undefined {
  const c = tuning.matmulChoice?.(shape);
  if (c?.kind === 'splitk' && (scratch?.length ?? 0) < candidateScratch(c, shape)) return { kind: 'tiled', name: c.name, tile: c.tile };
  return c;
}

/** The kernel of the shape, the register kernel with tuning.matmul's tiles where none is chosen. */
const kernelOf = (tuning: KernelTuning, shape: MatmulShape): MatmulCandidate => tuning.matmulChoice?.(shape) ?? registerCandidate(tuning.matmul);

/**
 * Floats of ‖C‖² partials the shape's kernel writes with its sum-of-squares epilogue (every
 * kernel has one; split-K writes them from its reduce), with `scratch` as the plan has it.
 */
export const sumsqEpilogueScratch = (tuning: KernelTuning, shape: MatmulShape, scratchLength: number): number =>
  sumsqScratchWith(choose(tuning, shape, { arena: '', offset: 0, length: scratchLength }) ?? kernelOf(tuning, shape), shape);

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
    /** The product with the sum of squares of C into `part` (sumsqEpilogueScratch floats). */
    sumsq(label: string, shape: MatmulShape, io: { a: BufRange; b: BufRange; c: BufRange; part: BufRange }): PlanStep[] {
      return matmulSumsqWith(choose(tuning, shape, scratch) ?? kernelOf(tuning, shape), label, shape, { ...io, scratch });
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
