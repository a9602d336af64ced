// Layers larger than one binding: the steps of a dense layer whose weight is split by
// output rows into chunks (src/model/layout.ts), and the gradient norms and optimiser
// update of a parameter arena cut into several buffers. A layer in one piece gets exactly
// the steps it had before; these run only where the adapter's limits demand them.
//
//   forward, chunk c:  Z_c = X·W_cᵀ + b_c, A_c = f(Z_c) into scratch, then copied into
//                      columns [row0, row0 + rows) of Z and A
//   backward, chunk c: dZ_c = columns of dZ (copied out), dW_c = dZ_cᵀ·X,
//                      dX partial c = dZ_c·W_c; dX = Σ_c partials (sum_terms, in chunk order)
import { biasGrad } from '../ops/bias-grad.ts';
import { copyBlock, sumTerms } from '../ops/blocks.ts';
import { matmul, matmulBiasAct } from '../ops/matmul.ts';
import type { BufRange, PlanStep } from '../ops/op.ts';
import { maxNormStep } from '../ops/max-norm.ts';
import { optimizerStep, type OptimizerConfig } from '../ops/optimizer.ts';
import { sumsq, type Segment } from '../ops/sumsq.ts';
import { align, biasRange, weightChunkRange, type DenseLayer, type ParamLayout } from '../model/layout.ts';
import type { KernelTuning } from '../ops/tuning.ts';
import type { StatsLayout } from './stats-layout.ts';

/** Scratch of the split layers: one column block of Z, A and dZ, and the dX partials. */
export interface SplitScratch {
  z: BufRange;
  a: BufRange;
  d: BufRange;
  /** dX partials, `dxStride` elements apart (absent in evaluation plans). */
  dx?: BufRange;
  dxStride: number;
}

export const isSplit = (layout: ParamLayout) => layout.buffers.length > 1 || layout.layers.some((l) => l.chunks.length > 1);

/** The scratch arenas a split layout needs (none when every layer is in one piece). */
export function splitScratch(arena: (name: string, length: number) => BufRange, layout: ParamLayout, B: number, backward: boolean): SplitScratch | undefined {
  const split = layout.layers.filter((l) => l.chunks.length > 1);
  if (!split.length) return undefined;
  const rows = Math.max(...split.map((l) => l.chunks[0].rows));
  const z = arena('split.z', B * rows);
  const a = arena('split.a', B * rows);
  const d = backward ? arena('split.d', B * rows) : z;
  const withDx = split.filter((l) => l.index > 0);
  const dxStride = withDx.length ? align(B * Math.max(...withDx.map((l) => l.inputs))) : 0;
  const dx = backward && withDx.length ? arena('split.dx', dxStride * Math.max(...withDx.map((l) => l.chunks.length))) : undefined;
  return { z, a, d, dx, dxStride };
}

const head = (r: BufRange, length: number): BufRange => ({ ...r, length });

/** Forward of a layer split by rows: one matmul + bias + activation per chunk, each copied into Z and A. */
export function forwardSplit(
  label: string,
  l: DenseLayer,
  rows: number,
  act: number,
  alpha: number,
  io: { input: BufRange; z: BufRange; a: BufRange },
  s: SplitScratch,
  tuning: KernelTuning,
): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const [k, c] of l.chunks.entries()) {
    const n = c.rows;
    const block = { rows, cols: n, srcLd: n, srcCol: 0, dstLd: l.outputs, dstCol: c.row0 };
    steps.push(
      matmulBiasAct(
        `${label}.${k}`,
        { M: rows, N: n, K: l.inputs, transA: false, transB: true },
        act,
        alpha,
        {
          a: io.input,
          b: weightChunkRange('params', l, c),
          bias: { arena: 'params', offset: l.bias + c.row0, length: n },
          z: head(s.z, rows * n),
          out: head(s.a, rows * n),
        },
        tuning.matmul,
      ),
      copyBlock(`${label}.${k} z`, block, { src: head(s.z, rows * n), dst: io.z }),
      copyBlock(`${label}.${k} a`, block, { src: head(s.a, rows * n), dst: io.a }),
    );
  }
  return steps;
}

/** dW, db and (for i > 0) dX of a layer split by rows; d holds ∂L/∂z of the layer. */
export function backwardSplit(
  l: DenseLayer,
  B: number,
  io: { d: BufRange; input: BufRange; dInput?: BufRange },
  s: SplitScratch,
  tuning: KernelTuning,
): PlanStep[] {
  const i = l.index;
  const steps: PlanStep[] = [];
  for (const [k, c] of l.chunks.entries()) {
    const n = c.rows;
    const dz = head(s.d, B * n);
    steps.push(
      copyBlock(`dZ ${i}.${k}`, { rows: B, cols: n, srcLd: l.outputs, srcCol: c.row0, dstLd: n, dstCol: 0 }, { src: io.d, dst: dz }),
      matmul(
        `dW ${i}.${k}`,
        { M: n, N: l.inputs, K: B, transA: true, transB: false },
        { a: dz, b: io.input, c: weightChunkRange('grads', l, c) },
        tuning.matmul,
      ),
    );
    if (io.dInput) {
      steps.push(
        matmul(
          `dX ${i}.${k}`,
          { M: B, N: l.inputs, K: n, transA: false, transB: false },
          { a: dz, b: weightChunkRange('params', l, c), c: { arena: s.dx!.arena, offset: s.dx!.offset + k * s.dxStride, length: B * l.inputs } },
          tuning.matmul,
        ),
      );
    }
  }
  steps.push(biasGrad(`db ${i}`, B, l.outputs, io.d, biasRange('grads', l)));
  if (io.dInput) {
    steps.push(sumTerms(`dX ${i}`, { count: B * l.inputs, terms: l.chunks.length, stride: s.dxStride, srcOff: 0, dstOff: 0 }, { src: s.dx!, dst: io.dInput }));
  }
  return steps;
}

/**
 * Σ dW² and Σ db² of every layer into the stats slots, over a split layout: one sumsq per
 * buffer of the arena writes one partial per piece into `partials` (term k of gradient
 * slot j at k·2L + j; terms a slot does not have stay zero), then one sum_terms adds the
 * terms into the stats slots.
 */
export function gradNormsSplit(
  layout: ParamLayout,
  stats: StatsLayout,
  io: { grads: BufRange; stats: BufRange },
  arena: (name: string, length: number) => BufRange,
  table: (segments: Segment[]) => BufRange,
): PlanStep[] {
  const L = layout.layers.length;
  const T = Math.max(...layout.layers.map((l) => l.chunks.length));
  const partials = arena('split.sq', T * 2 * L);
  const pieces: Segment[] = layout.layers.flatMap((l, li) => [
    ...l.chunks.map((c, k) => ({ ...weightChunkRange('', l, c), slot: k * 2 * L + 2 * li })),
    { offset: l.bias, length: l.outputs, slot: 2 * li + 1 },
  ]);
  const steps: PlanStep[] = layout.buffers.map((b, bi) => {
    const segs = pieces.filter((p) => p.offset >= b.offset && p.offset < b.offset + b.length).map((p) => ({ ...p, offset: p.offset - b.offset }));
    return sumsq(`grad norms ${bi}`, segs.length, { x: { arena: io.grads.arena, offset: b.offset, length: b.length }, segs: table(segs), stats: partials });
  });
  steps.push(sumTerms('grad norms', { count: 2 * L, terms: T, stride: 2 * L, srcOff: 0, dstOff: stats.grad[0].weight }, { src: partials, dst: io.stats }));
  return steps;
}

/** The update, one dispatch per buffer of the parameter arena (one in all when it fits one binding). */
export function optimizerSplit(
  layout: ParamLayout,
  cfg: OptimizerConfig,
  clip: { slot0: number; count: number },
  io: { params: BufRange; grads: BufRange; m: BufRange; v: BufRange; stats: BufRange },
): PlanStep[] {
  const part = (r: BufRange, b: { offset: number; length: number }) => ({ arena: r.arena, offset: r.offset + b.offset, length: b.length });
  return layout.buffers.map((b, bi) =>
    optimizerStep(layout.buffers.length > 1 ? `update ${bi}` : 'update', b.length, cfg, clip, {
      params: part(io.params, b),
      grads: part(io.grads, b),
      m: cfg.kind === 'sgd' ? io.m : part(io.m, b),
      v: cfg.kind === 'adam' ? part(io.v, b) : io.v,
      stats: io.stats,
    }),
  );
}

/**
 * The max-norm constraint on every dense layer's weight rows (unit o's incoming weights),
 * one dispatch per run of rows that one binding holds: rows are never cut, so a split layer
 * is constrained exactly as a whole one. Biases are left alone.
 */
export function maxNormSplit(layout: ParamLayout, maxNorm: number, params: BufRange): PlanStep[] {
  return layout.layers.flatMap((l) =>
    l.chunks.map((c, k) => {
      const w = weightChunkRange(params.arena, l, c);
      return maxNormStep(l.chunks.length > 1 ? `max-norm ${l.index}.${k}` : `max-norm ${l.index}`, c.rows, l.inputs, maxNorm, {
        ...w,
        offset: params.offset + w.offset,
      });
    }),
  );
}

/** Where each parameter-shaped arena is cut into buffers (none when it fits one binding). */
export function arenaChunks(layout: ParamLayout, kind: OptimizerConfig['kind'], mLength: number): Record<string, number[]> {
  if (layout.buffers.length === 1) return {};
  const starts = layout.buffers.map((b) => b.offset);
  const chunks: Record<string, number[]> = { params: starts, grads: starts };
  if (kind !== 'sgd') chunks.opt = kind === 'adam' ? [...starts, ...starts.map((s) => s + mLength)] : [...starts, mLength];
  return chunks;
}
