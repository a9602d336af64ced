// Dropout and pruning together: a dead-unit check prunes mid-run, training goes on with
// dropout in the smaller network, and a run resumed from a checkpoint saved after the prune
// draws the same masks and follows the uninterrupted run step for step.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { Trainer } from '../src/train/trainer.ts';
import { collect, smallModel, trainerOptions } from './support/train.ts';

const train = syntheticDataset({ examples: 320, features: 20, classes: 5, seed: 31 });
// Dense products (one summation order), so that two trainers agree bit for bit.
const cpu = () => new CpuBackend('float32', { sparse: 'off' });

describe('dropout with --dead-units prune', () => {
  it('prunes the dead units at the window’s end, trains on with dropout, and resumes from the pruned checkpoint exactly', async () => {
    const model = smallModel({ hidden: [30, 19] });
    // A check every 5 steps of 16 examples, scanning 80 training examples.
    const opts = trainerOptions({
      optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 },
      dropout: { hidden: 0.2, input: 0.1 },
      deadUnits: 'prune',
      deadWindow: 80,
    });
    const t = await Trainer.create(cpu(), model, opts, train);
    const p = initialParams(model);
    const [l0, l1] = paramLayout(model).layers;
    for (const j of [2, 7, 8, 29]) p[l0.bias + j] = -100;
    for (const j of [0, 18]) p[l1.bias + j] = -100;
    t.setParams(p);

    const first = await collect(t.run(5));
    const check = first[4].deadCheck!;
    expect(check.pruned).toEqual([4, 2]);
    expect(check.widths).toEqual([26, 17]);
    expect(t.model.hidden).toEqual([26, 17]);
    for (const s of first) expect(Number.isFinite(s.loss)).toBe(true);

    // A checkpoint of the pruned run; the run goes on, and a new trainer resumes from it.
    const state = await t.state({ note: 'after the prune' });
    expect(state.model.hidden).toEqual([26, 17]);
    const a = await collect(t.run(6));
    const t2 = await Trainer.create(cpu(), state.model, opts, train);
    t2.restore(state);
    const b = await collect(t2.run(6));
    expect(b.map((s) => s.loss)).toEqual(a.map((s) => s.loss));
    expect(b.map((s) => s.sparsity)).toEqual(a.map((s) => s.sparsity));

    // Dropout is on in the pruned network: without it the same state trains differently.
    const t3 = await Trainer.create(cpu(), state.model, { ...opts, dropout: undefined }, train);
    t3.restore(state);
    const c = await collect(t3.run(6));
    expect(c.map((s) => s.loss)).not.toEqual(a.map((s) => s.loss));
  });
});
