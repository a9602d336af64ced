// The evaluation plan: forward passes over a whole dataset kept on the device, in
// batches of `batch` plus one remainder batch, counting loss, correct answers, zeros and
// never-active units. It reads the `params` arena of the training plan (or its own).
import { layerStats } from '../ops/layer-stats.ts';
import type { BufRange, PlanItem } from '../ops/op.ts';
import { softmaxXent } from '../ops/softmax-xent.ts';
import { paramLayout, type ParamLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';
import { batchArenas, gatherForward, rowsOf, type DataShape } from './plan.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../ops/tuning.ts';
import { statsLayout, type StatsLayout } from './stats-layout.ts';
import { checkLimits, UNLIMITED, type PlanLimits } from './limits.ts';
import { arenaChunks, splitScratch } from './split.ts';

export interface EvalPlan {
  layout: ParamLayout;
  stats: StatsLayout;
  /** Arenas this plan owns (not `params`). */
  arenas: Record<string, number>;
  batch: number;
  examples: number;
  /** Steps of a full batch and, when the set does not divide evenly, of the last one. */
  full: PlanItem[];
  remainder?: { rows: number; steps: PlanItem[] };
  resetWindow: PlanItem[];
  regions: { images: BufRange; labels: BufRange; order: BufRange; stats: BufRange };
}

export function planEval(
  model: ModelSpec,
  batch: number,
  data: DataShape,
  prefix = 'eval.',
  tuning: KernelTuning = SOFTWARE_TUNING,
  limits: PlanLimits = UNLIMITED,
): EvalPlan {
  // The training plan's layout under the same limits: this plan binds its `params` arena.
  const layout = paramLayout(model, limits.bindingBytes);
  const L = layout.layers.length;
  const H = L - 1;
  const stats = statsLayout(H, L);
  // The evaluation batch is ours to choose: small enough that its activations fit one binding.
  const widest = Math.max(data.features, ...layout.layers.map((l) => l.outputs));
  const B = Math.min(batch, data.examples, Math.max(1, Math.floor(limits.bindingBytes / (4 * widest))));
  const arenas: Record<string, number> = {};
  const arena = (name: string, length: number): BufRange => {
    arenas[prefix + name] = Math.max(1, length);
    return { arena: prefix + name, offset: 0, length };
  };
  const { images, labels, order, x, y, z, a, flags, flagRanges } = batchArenas(arena, layout, B, data);
  const dlogits = arena('dlogits', B * model.classes);
  const statsRange = arena('stats', stats.size);
  const split = splitScratch(arena, layout, B, false);

  const steps = (rows: number): PlanItem[] => [
    { clear: statsRange },
    ...gatherForward(model, layout, rows, data, { images, labels, order, x, y, z, a }, prefix, tuning, split).steps,
    softmaxXent(
      `${prefix}softmax`,
      rows,
      model.classes,
      { loss: stats.loss, correct: stats.correct },
      {
        logits: rowsOf(a[L - 1], rows, model.classes),
        labels: rowsOf(y, rows, 1),
        dlogits: rowsOf(dlogits, rows, model.classes),
        stats: statsRange,
      },
    ),
    ...layout.layers.slice(0, H).map((l, h) =>
      layerStats(`${prefix}stats ${h}`, rows, l.outputs, stats.hidden[h], {
        a: rowsOf(a[h], rows, l.outputs),
        active: flagRanges[h],
        stats: statsRange,
      }),
    ),
  ];
  const rest = data.examples % B;
  const full = steps(B);
  checkLimits(full, arenas, {}, limits, { layout, batch: B, features: data.features, examples: data.examples, prefix });
  return {
    layout,
    stats,
    arenas,
    batch: B,
    examples: data.examples,
    full,
    remainder: rest ? { rows: rest, steps: steps(rest) } : undefined,
    resetWindow: [{ clear: flags }],
    regions: { images, labels, order, stats: statsRange },
  };
}

/**
 * The `params` arena an evaluation reads when no trainer made one (evaluating a saved
 * checkpoint): its size, its buffers under the limits, and the region to write the
 * parameters to.
 */
export function paramsArena(
  model: ModelSpec,
  limits: PlanLimits = UNLIMITED,
): { arenas: Record<string, number>; chunks: Record<string, number[]>; params: BufRange } {
  const layout = paramLayout(model, limits.bindingBytes);
  const starts = arenaChunks(layout, 'sgd', 0).params;
  return { arenas: { params: layout.size }, chunks: starts ? { params: starts } : {}, params: { arena: 'params', offset: 0, length: layout.size } };
}
