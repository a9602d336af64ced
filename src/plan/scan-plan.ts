// The full-set scan plan: eval-style forward passes over a dataset kept on the device, in
// batches of `batch` plus one remainder batch, with the weights frozen, accumulating each
// hidden unit's largest pre-activation and summed |activation| (ops/unit-scan.ts). The
// dead and dormant units of the set follow from those (train/unit-scan.ts).
import type { BufRange, PlanItem, PlanStep } from '../ops/op.ts';
import { unitScan } from '../ops/unit-scan.ts';
import { align, paramLayout, type ParamLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../ops/tuning.ts';
import { batchArenas, gatherForward, type DataShape } from './plan.ts';

export interface ScanPlan {
  layout: ParamLayout;
  /** Arenas this plan owns (the `params` arena only when paramsArena names one of its own). */
  arenas: Record<string, number>;
  batch: number;
  examples: number;
  /** Zeroes the sums; the maxima must be set to −∞ by the host (a clear writes 0). */
  start: PlanItem[];
  /** Steps of a full batch and, when the set does not divide evenly, of the last one. */
  full: PlanItem[];
  remainder?: { rows: number; steps: PlanItem[] };
  regions: {
    images: BufRange;
    labels: BufRange;
    order: BufRange;
    /** The parameters the forward passes read. */
    params: BufRange;
    /** Per hidden layer: running max of z, running Σ|a| (one element per unit). */
    maxz: BufRange[];
    sumabs: BufRange[];
    /** The whole arenas holding them. */
    maxzAll: BufRange;
  };
  /** The output layer's logits of the batch last run (its first `rows` rows are valid). */
  logits: BufRange;
}

export function planScan(
  model: ModelSpec,
  batch: number,
  data: DataShape,
  opts: { prefix?: string; paramsArena?: string; tuning?: KernelTuning } = {},
): ScanPlan {
  const prefix = opts.prefix ?? 'scan.';
  const paramsArena = opts.paramsArena ?? 'params';
  const layout = paramLayout(model);
  const L = layout.layers.length;
  const hidden = layout.layers.slice(0, -1);
  const B = Math.min(batch, data.examples);
  const arenas: Record<string, number> = {};
  const arena = (name: string, length: number): BufRange => {
    arenas[prefix + name] = Math.max(1, length);
    return { arena: prefix + name, offset: 0, length };
  };
  // The window flags batchArenas makes are not used by the scan (a small arena).
  const { images, labels, order, x, y, z, a } = batchArenas(arena, layout, B, data);
  if (paramsArena.startsWith(prefix)) arenas[paramsArena] = layout.size;
  // One aligned run per hidden layer in each accumulator arena.
  let accLen = 0;
  const offsets = hidden.map((l) => {
    const at = accLen;
    accLen = align(accLen + l.outputs);
    return at;
  });
  const maxzAll = arena('maxz', accLen);
  const sumabsAll = arena('sumabs', accLen);
  const maxz = hidden.map((l, h) => ({ arena: maxzAll.arena, offset: offsets[h], length: l.outputs }));
  const sumabs = hidden.map((l, h) => ({ arena: sumabsAll.arena, offset: offsets[h], length: l.outputs }));

  const onParams = (s: PlanStep): PlanStep => ({
    ...s,
    bindings: Object.fromEntries(Object.entries(s.bindings).map(([k, r]) => [k, r.arena === 'params' ? { ...r, arena: paramsArena } : r])),
  });
  const steps = (rows: number): PlanItem[] => {
    const pass = gatherForward(model, layout, rows, data, { images, labels, order, x, y, z, a }, prefix, opts.tuning ?? SOFTWARE_TUNING);
    const zr = pass.z;
    const ar = pass.a;
    return [
      // The gather binds no parameters; the forward steps read the scanner's own arena, if any.
      ...pass.steps.map(onParams),
      ...hidden.map((l, h) => unitScan(`${prefix}unit scan ${h}`, rows, l.outputs, { z: zr[h], a: ar[h], maxz: maxz[h], sumabs: sumabs[h] })),
    ];
  };
  const rest = data.examples % B;
  return {
    layout,
    arenas,
    batch: B,
    examples: data.examples,
    start: [{ clear: sumabsAll }],
    full: steps(B),
    remainder: rest ? { rows: rest, steps: steps(rest) } : undefined,
    regions: { images, labels, order, params: { arena: paramsArena, offset: 0, length: layout.size }, maxz, sumabs, maxzAll },
    logits: a[L - 1],
  };
}
