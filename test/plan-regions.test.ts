// The plan is the one source of truth for where things live: every region a caller
// needs (per-layer weights and biases, gradients, moments, window flags) comes from it,
// and those regions are exactly what the trainer reads and writes.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { paramLayout } from '../src/model/layout.ts';
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from '../src/ops/optimizer.ts';
import { planTraining } from '../src/plan/plan.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

const overlap = (a: { offset: number; length: number }, b: { offset: number; length: number }) =>
  a.offset < b.offset + b.length && b.offset < a.offset + a.length;

describe('plan regions', () => {
  for (const kind of ['sgd', 'momentum', 'adam'] as const) {
    it(`cover every layer and the ${kind} moments without overlap`, () => {
      const model = smallModel();
      const optimizer: OptimizerConfig = { ...DEFAULT_OPTIMIZER, kind };
      const plan = planTraining(model, trainerOptions({ optimizer }), { examples: 100, features: 20, scale: 1, shift: 0 });
      const layout = paramLayout(model);
      const r = plan.regions;
      expect(r.layers.length).toBe(layout.layers.length);
      const all = r.layers.flatMap((l) => [l.params.weight, l.params.bias]);
      layout.layers.forEach((l, i) => {
        expect(r.layers[i].params.weight).toEqual({ arena: 'params', offset: l.weight, length: l.inputs * l.outputs });
        expect(r.layers[i].grads.bias).toEqual({ arena: 'grads', offset: l.bias, length: l.outputs });
      });
      for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) expect(overlap(all[i], all[j])).toBe(false);
      expect(!!r.moments.m).toBe(kind !== 'sgd');
      expect(!!r.moments.v).toBe(kind === 'adam');
      if (r.moments.m && r.moments.v) expect(overlap(r.moments.m, r.moments.v)).toBe(false);
      expect(r.layerFlags.map((f) => f.length)).toEqual(model.hidden);
      for (const f of r.layerFlags) expect(f.offset + f.length).toBeLessThanOrEqual(r.flags.offset + r.flags.length);
    });
  }

  it('are what the trainer saves: weights by layer, Adam moments, window flags', async () => {
    const backend = new CpuBackend();
    try {
      const t = await trainer(backend, smallModel(), trainerOptions({ optimizer: { ...DEFAULT_OPTIMIZER, kind: 'adam' }, lr: 0.01 }), smallData());
      await collect(t.run(5));
      const s = await t.state();
      const r = t.plan.regions;
      const w1 = await backend.readF(r.layers[1].params.weight);
      expect(Array.from(w1)).toEqual(Array.from(s.params.subarray(r.layers[1].params.weight.offset, r.layers[1].params.weight.offset + w1.length)));
      expect(Array.from(await backend.readF(r.moments.v!))).toEqual(Array.from(s.v!));
      expect(s.v!.some((x) => x > 0)).toBe(true);
      const f0 = await backend.readU(r.layerFlags[0]);
      expect(f0.some((x) => x !== 0)).toBe(true);
    } finally {
      backend.destroy();
    }
  });
});
