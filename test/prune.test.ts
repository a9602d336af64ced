// Pruning the units a full-set scan finds dead: the smaller network gives the same outputs
// on the scanned set, and a new Trainer continues from the pruned state.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { DEFAULT_OPTIMIZER, type OptimizerKind } from '../src/ops/optimizer.ts';
import { largestChange, pruneUnits } from '../src/train/prune.ts';
import { unitsFromScan } from '../src/train/revive.ts';
import { Trainer } from '../src/train/trainer.ts';
import { scanUnits, UnitScanner } from '../src/train/unit-scan.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallModel, trainerOptions } from './support/train.ts';

// The training set is the scanned set D: units dead on it get no gradient from any batch.
const train = syntheticDataset({ examples: 320, features: 20, classes: 5, seed: 31 });
const test = syntheticDataset({ examples: 150, features: 20, classes: 5, seed: 31, split: 'test' });

async function pruneCase(make: () => Promise<Backend>, kind: OptimizerKind) {
  const model = smallModel({ hidden: [30, 19] });
  const opts = trainerOptions({ lr: kind === 'adam' ? 0.003 : 0.05, optimizer: { ...DEFAULT_OPTIMIZER, kind } });
  const backend = await make();
  const t = await Trainer.create(backend, model, opts, train);
  const p = initialParams(model);
  const [l0, l1] = paramLayout(model).layers;
  for (const j of [2, 7, 8, 29]) p[l0.bias + j] = -100;
  for (const j of [0, 18]) p[l1.bias + j] = -100;
  t.setParams(p);
  await collect(t.run(4));

  const scanner = await UnitScanner.create(backend, model, train, { batch: 100 });
  const scan = await scanner.scan({ logits: true });
  const dead = unitsFromScan(scan);
  expect(dead[0]).toEqual(expect.arrayContaining([2, 7, 8, 29]));
  expect(dead[1]).toEqual(expect.arrayContaining([0, 18]));
  const state = await t.state({ note: 'kept' });
  const pruned = pruneUnits(state, dead);
  expect(pruned.model.hidden).toEqual([30 - dead[0].length, 19 - dead[1].length]);
  expect(pruned.removed).toEqual(dead.map((d) => d.length));
  expect(pruned.state.config).toEqual({ note: 'kept' });

  // (A scan with its own parameter arena runs beside the trainer on the same backend.)
  // Same outputs on D, and on a test set (on which those units need not be dead) the change is reported.
  const small = await scanUnits(backend, pruned.model, pruned.state.params, train, { batch: 100, logits: true });
  const onD = largestChange(scan.logits!, small.logits!);
  expect(onD).toBeLessThan(1e-5);
  expect(small.layers.map((l) => l.dead)).toEqual([0, 0]);
  const testBefore = await scanUnits(backend, model, undefined, test, { logits: true });
  const testAfter = await scanUnits(backend, pruned.model, pruned.state.params, test, { logits: true });
  const onTest = largestChange(testBefore.logits!, testAfter.logits!);

  // A new trainer continues from the pruned state; with plain SGD, units dead on the whole
  // training set never move, so both networks train alike.
  const t2 = await Trainer.create(await make(), pruned.model, opts, train);
  t2.restore(pruned.state);
  expect(t2.step).toBe(4);
  const a = await collect(t.run(6));
  const b = await collect(t2.run(6));
  expect(b.every((s) => Number.isFinite(s.loss))).toBe(true);
  if (kind === 'sgd') b.forEach((s, i) => expect(Math.abs(s.loss - a[i].loss)).toBeLessThan(1e-5));
  // Moments of the kept entries carried over: the first kept row of layer 1 in both layouts.
  if (state.m) {
    const j = pruned.kept[0][0];
    const nl0 = paramLayout(pruned.model).layers[0];
    expect(Array.from(pruned.state.m!.subarray(nl0.weight, nl0.weight + 20))).toEqual(
      Array.from(state.m.subarray(l0.weight + j * 20, l0.weight + (j + 1) * 20)),
    );
  }
  return { onD, onTest };
}

describe('prune dead units', () => {
  it('CPU, SGD: same outputs on the scanned set, and training continues alike', async () => {
    const r = await pruneCase(async () => new CpuBackend(), 'sgd');
    console.log(`largest logit change: ${r.onD} on the scanned set, ${r.onTest} on the test set`);
  });
  it('CPU, Adam: the moments of the kept entries carry over', async () => {
    await pruneCase(async () => new CpuBackend(), 'adam');
  });
  it('WebGPU, SGD', async () => {
    const r = await pruneCase(gpuBackend, 'sgd');
    console.log(`WebGPU: largest logit change: ${r.onD} on the scanned set, ${r.onTest} on the test set`);
  });
});

describe('pruneUnits', () => {
  it('keeps one unit of a layer that is chosen whole, and names a unit that does not exist', async () => {
    const model = smallModel({ hidden: [6, 5] });
    const state = { model, step: 0, config: {}, params: initialParams(model) };
    const all = pruneUnits(state, [[], [0, 1, 2, 3, 4]]);
    expect(all.model.hidden).toEqual([6, 1]);
    expect(all.kept[1]).toEqual([0]);
    expect(() => pruneUnits(state, [[6]])).toThrow(/hidden layer 1 has no unit 6 \(it has 6\)/);
  });
});
