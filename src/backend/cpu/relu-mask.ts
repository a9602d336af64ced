// Which dX products of a step list only matter where the layer below is active. Under a
// relu, the activation backward multiplies dX = dZ·W by relu′(z), which is 0 wherever the
// layer's output a is 0: dX there is never used. The sparse path then computes dX only at
// a's nonzeros (and 0 elsewhere, which the activation backward turns into the same 0 the
// dense path gives). Found once per step list from its items; any other activation (leaky
// relu, tanh, …) keeps the full dX.
import { isClear, type BufRange, type PlanItem, type PlanStep } from '../../ops/op.ts';
import { activationId } from '../../ops/activations.ts';

const RELU = activationId('relu');

const same = (a: BufRange, b: BufRange) => a.arena === b.arena && a.offset === b.offset && a.length === b.length;

/**
 * dX step → the relu output that masks it: the first item after the product that touches
 * its output must be the relu's activation backward on exactly that region (a dropout
 * backward on it may come between: it scales elementwise, and 0 stays 0).
 */
export function reluMasks(items: PlanItem[]): Map<PlanStep, BufRange> {
  const out = new Map<PlanStep, BufRange>();
  items.forEach((it, i) => {
    if (isClear(it) || it.op.shader !== 'matmul' || it.op.entry !== 'main') return;
    const { M, N, TRANS_A, TRANS_B } = it.constants;
    if (TRANS_A !== 0 || TRANS_B !== 0) return;
    const c = it.bindings.c;
    for (let j = i + 1; j < items.length; j++) {
      const next = items[j];
      if (isClear(next)) return;
      if (next.op.shader === 'dropout' && next.op.entry === 'backward' && same(next.bindings.d, c)) continue;
      if (next.op.shader !== 'activation_backward' || next.op.entry === 'forward') return;
      const { d, a } = next.bindings;
      const ok = same(d, c) && next.constants.ACT === RELU && next.constants.COUNT === M * N && a.length >= M * N && a.arena !== c.arena;
      if (ok) out.set(it, a);
      return;
    }
  });
  return out;
}
