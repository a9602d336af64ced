// The prediction plan: one forward pass over a batch of inputs written straight into its
// own `x` arena (no dataset on the device, no gather), reading the `params` arena.
import type { BufRange, PlanItem } from '../ops/op.ts';
import { paramLayout, type ParamLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../ops/tuning.ts';
import { forwardPass } from './plan.ts';

export interface PredictPlan {
  layout: ParamLayout;
  /** Rows of one pass. */
  rows: number;
  /** Arenas this plan owns (not `params`). */
  arenas: Record<string, number>;
  step: PlanItem[];
  /** params: the flat parameters read; x: the inputs (rows × inputs); a: every dense layer's output, the logits last. */
  regions: { params: BufRange; x: BufRange; a: BufRange[] };
}

export function planPredict(model: ModelSpec, rows: number, prefix = 'predict.', tuning: KernelTuning = SOFTWARE_TUNING): PredictPlan {
  const layout = paramLayout(model);
  const arenas: Record<string, number> = {};
  const arena = (name: string, length: number): BufRange => {
    arenas[prefix + name] = Math.max(1, length);
    return { arena: prefix + name, offset: 0, length };
  };
  const x = arena('x', rows * model.inputs);
  const z = layout.layers.map((l) => arena(`z${l.index}`, rows * l.outputs));
  const a = layout.layers.map((l) => arena(`a${l.index}`, rows * l.outputs));
  return {
    layout,
    rows,
    arenas,
    step: forwardPass(model, layout, rows, x, z, a, prefix, tuning),
    regions: { params: { arena: 'params', offset: 0, length: layout.size }, x, a },
  };
}
