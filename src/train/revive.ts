// Reviving dead (or dormant) hidden units, the ReDo rule of Sokar et al. 2023: for each
// chosen unit j of hidden layer l,
//   - its outgoing weights (column j of W_{l+1}) become 0, so the network computes the same
//     function right after revival wherever the unit was silent (exactly, for relu units
//     dead on the inputs in question; a dormant or leaky unit's small contribution is lost);
//   - its incoming weights (row j of W_l) are drawn afresh from the layer's initialiser
//     (model/init.ts, seeded) and its bias is set to 0, so it is active on about half the
//     inputs again and the gradient through its new outgoing weights can reach it;
//   - the optimiser state of exactly those entries is reset (momentum: m = 0; Adam: m = v = 0).
// It reads and writes the trainer's params and opt regions from the host: a rare event,
// done between trainer.run() calls (after the generator has finished).
import type { Backend } from '../backend/backend.ts';
import { weightSampler } from '../model/init.ts';
import type { ParamLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { TrainPlan } from '../plan/plan.ts';
import { Rng } from '../util/rng.ts';
import type { UnitScanResult } from './unit-scan.ts';

/** Per hidden layer (0-based index into the list), the 0-based units to revive. */
export type UnitsByLayer = number[][];

/** The dead (or dormant) units of a scan, per hidden layer. */
export function unitsFromScan(scan: UnitScanResult, which: 'dead' | 'dormant' = 'dead'): UnitsByLayer {
  return scan.layers.map((l) => (which === 'dead' ? l.deadUnits : l.dormantUnits).slice());
}

export interface ReviveResult {
  /** Units revived per hidden layer. */
  revived: number[];
  total: number;
}

/**
 * Applies the rule to host copies: params, and the optimiser's m and v in the same layout
 * (undefined where the optimiser keeps none). Incoming rows are drawn in order of layer,
 * then unit (ascending), then input, from one Rng(seed).
 *
 * Adam's bias correction is global (1 − β^t with the trainer's step t), and is left so:
 * per-entry step counts would need another buffer and optimiser kernel. With m = v = 0 at
 * a large t the first update of a revived entry is lr · (1 − β1) g / √((1 − β2) g²), about
 * 3.16 · lr · sign(g) for the default betas, where a fresh Adam's first step is lr · sign(g):
 * bounded, a few times an ordinary step, and back to normal as the moments fill.
 */
export function reviveInPlace(
  model: ModelSpec,
  layout: ParamLayout,
  units: UnitsByLayer,
  seed: number,
  params: Float32Array,
  m?: Float32Array,
  v?: Float32Array,
): ReviveResult {
  const H = layout.layers.length - 1;
  if (units.length > H) throw new Error(`units to revive are given for ${units.length} hidden layers, but the model has ${H}`);
  const rng = new Rng(seed);
  const revived = units.map(() => 0);
  units.forEach((list, h) => {
    const inL = layout.layers[h];
    const outL = layout.layers[h + 1];
    const draw = weightSampler(model, inL.inputs, inL.outputs);
    const sorted = [...new Set(list)].sort((a, b) => a - b);
    for (const j of sorted) {
      if (!Number.isInteger(j) || j < 0 || j >= inL.outputs) throw new Error(`hidden layer ${h + 1} has no unit ${j} (it has ${inL.outputs})`);
      const row = inL.weight + j * inL.inputs;
      for (let k = 0; k < inL.inputs; k++) params[row + k] = draw(rng);
      params[inL.bias + j] = 0;
      for (let i = 0; i < outL.outputs; i++) params[outL.weight + i * outL.inputs + j] = 0;
      for (const s of [m, v]) {
        if (!s) continue;
        s.fill(0, row, row + inL.inputs);
        s[inL.bias + j] = 0;
        for (let i = 0; i < outL.outputs; i++) s[outL.weight + i * outL.inputs + j] = 0;
      }
    }
    revived[h] = sorted.length;
  });
  return { revived, total: revived.reduce((s, x) => s + x, 0) };
}

/**
 * Revives `units` of a trainer (or anything holding a backend and its training plan) in
 * place on its backend. `seed` picks the fresh incoming weights (default: the model's
 * seed); pass a different one each time, e.g. the step, for independent draws.
 */
export async function reviveUnits(trainer: { backend: Backend; plan: TrainPlan }, units: UnitsByLayer, opts: { seed?: number } = {}): Promise<ReviveResult> {
  const { backend, plan } = trainer;
  const size = plan.layout.size;
  const kind = plan.config.optimizer.kind;
  const params = Float32Array.from(await backend.readF(plan.regions.params));
  const opt = kind === 'sgd' ? undefined : Float32Array.from(await backend.readF(plan.regions.opt));
  const m = opt?.subarray(0, size);
  const v = kind === 'adam' ? opt!.subarray(size, 2 * size) : undefined;
  const result = reviveInPlace(plan.model, plan.layout, units, opts.seed ?? plan.model.seed, params, m, v);
  if (result.total === 0) return result;
  backend.writeF(plan.regions.params, params);
  if (opt) backend.writeF(plan.regions.opt, opt);
  return result;
}
