// Pruning dead units for good: the rows of W_l and b_l and the columns of W_{l+1} of each
// chosen unit of hidden layer l go, with their optimiser moments and window flags,
// leaving a smaller model and a state a new Trainer continues from (Trainer.restore).
// For relu units dead on a set D (z ≤ 0 on every example, so a = 0 there) the smaller
// network computes the same outputs on D: only zero terms leave the sums, and the results
// differ at most by float rounding where a kernel groups its partial sums differently.
// Pruning a leaky_relu unit, or one merely dormant, drops its (small) contribution.
import type { CheckpointState } from '../io/checkpoint.ts';
import { align, paramLayout } from '../model/layout.ts';
import { validateModel, type ModelSpec } from '../model/spec.ts';
import type { UnitsByLayer } from './revive.ts';

export interface PruneResult {
  model: ModelSpec;
  /** Parameters, moments and flags in the smaller model's layout; step and config carried. */
  state: CheckpointState;
  /** Per hidden layer, the old indices of the units kept, in order. */
  kept: number[][];
  /** Units removed per hidden layer. */
  removed: number[];
}

/** Offsets of each hidden layer's run in the window-flag arena (as plan.ts lays it out). */
function flagOffsets(hidden: number[]): { offsets: number[]; length: number } {
  let len = 0;
  const offsets = hidden.map((u) => {
    const at = len;
    len = align(len + u);
    return at;
  });
  return { offsets, length: len };
}

/**
 * Removes `units` (per hidden layer, 0-based) from a saved or live state (trainer.state()).
 * A layer is never emptied: if every unit of it is chosen, its first one stays (a dead
 * unit passes nothing on, so the outputs are the same).
 */
export function pruneUnits(state: CheckpointState, units: UnitsByLayer): PruneResult {
  const old = state.model;
  const H = old.hidden.length;
  if (units.length > H) throw new Error(`units to prune are given for ${units.length} hidden layers, but the model has ${H}`);
  const kept = old.hidden.map((width, h) => {
    const drop = new Set(units[h] ?? []);
    for (const j of drop) {
      if (!Number.isInteger(j) || j < 0 || j >= width) throw new Error(`hidden layer ${h + 1} has no unit ${j} (it has ${width})`);
    }
    const keep = Array.from({ length: width }, (_, j) => j).filter((j) => !drop.has(j));
    return keep.length ? keep : [0];
  });
  const model = validateModel({ ...old, hidden: kept.map((k) => k.length) });
  const from = paramLayout(old).layers;
  const to = paramLayout(model).layers;
  const size = paramLayout(model).size;
  // Each dense layer keeps the rows of its kept outputs and the columns of its kept inputs.
  const all = (n: number) => Array.from({ length: n }, (_, j) => j);
  const remap = (src: Float32Array): Float32Array => {
    const dst = new Float32Array(size);
    to.forEach((l, i) => {
      const f = from[i];
      const rows = i < H ? kept[i] : all(f.outputs);
      const cols = i > 0 ? kept[i - 1] : all(f.inputs);
      rows.forEach((r, ri) => {
        const s = f.weight + r * f.inputs;
        const d = l.weight + ri * l.inputs;
        cols.forEach((c, ci) => (dst[d + ci] = src[s + c]));
        dst[l.bias + ri] = src[f.bias + r];
      });
    });
    return dst;
  };
  let flags: Uint32Array | undefined;
  const oldFlags = flagOffsets(old.hidden);
  if (state.flags && state.flags.length === oldFlags.length) {
    const nf = flagOffsets(model.hidden);
    flags = new Uint32Array(nf.length);
    kept.forEach((k, h) => k.forEach((j, n) => (flags![nf.offsets[h] + n] = state.flags![oldFlags.offsets[h] + j])));
  }
  return {
    model,
    state: {
      model,
      step: state.step,
      config: state.config,
      params: remap(state.params),
      m: state.m && remap(state.m),
      v: state.v && remap(state.v),
      flags,
    },
    kept,
    removed: old.hidden.map((w, h) => w - kept[h].length),
  };
}

/** Largest |a − b| over two equally long arrays (e.g. logits before and after pruning). */
export function largestChange(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} values with ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
