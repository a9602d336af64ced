// Reviving dead units (the ReDo rule) on a trainer's live state, on the CPU backend and
// on WebGPU: the outputs do not move, the units come back, the optimiser state of exactly
// their entries is reset.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { DEFAULT_OPTIMIZER, type OptimizerKind } from '../src/ops/optimizer.ts';
import { reviveInPlace, reviveUnits, unitsFromScan } from '../src/train/revive.ts';
import { UnitScanner } from '../src/train/unit-scan.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

const probe = syntheticDataset({ examples: 96, features: 20, classes: 5, seed: 21 });
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** The entries revival touches for unit j of hidden layer h, as flat indices. */
function touched(model: ReturnType<typeof smallModel>, units: number[][]): Set<number> {
  const layers = paramLayout(model).layers;
  const out = new Set<number>();
  units.forEach((list, h) => {
    const inL = layers[h];
    const outL = layers[h + 1];
    for (const j of list) {
      for (let k = 0; k < inL.inputs; k++) out.add(inL.weight + j * inL.inputs + k);
      out.add(inL.bias + j);
      for (let i = 0; i < outL.outputs; i++) out.add(outL.weight + i * outL.inputs + j);
    }
  });
  return out;
}

async function reviveCase(backend: Backend, kind: OptimizerKind) {
  const model = smallModel({ hidden: [24, 17] });
  const opts = trainerOptions({ lr: kind === 'adam' ? 0.003 : 0.05, optimizer: { ...DEFAULT_OPTIMIZER, kind } });
  const t = await trainer(backend, model, opts, smallData(512));
  await collect(t.run(5));
  // Units killed mid-run, so their moments are not zero when they are revived.
  const p = await t.getParams();
  const [l0, l1] = t.plan.layout.layers;
  for (const j of [3, 11]) p[l0.bias + j] = -100;
  p[l1.bias + 4] = -100;
  t.setParams(p);
  await collect(t.run(5));

  const scanner = await UnitScanner.create(backend, model, probe, { batch: 40 });
  const before = await scanner.scan({ logits: true });
  const units = unitsFromScan(before);
  expect(units[0]).toEqual(expect.arrayContaining([3, 11]));
  expect(units[1]).toContain(4);
  const size = t.plan.layout.size;
  const stateBefore = await t.state();
  const res = await reviveUnits(t, units, { seed: 77 });
  expect(res.revived).toEqual(units.map((u) => u.length));
  const after = await scanner.scan({ logits: true });
  const stateAfter = await t.state();

  // Bit-identical logits on the scanned set right after revival.
  expect(bits(after.logits!)).toEqual(bits(before.logits!));
  // The forced units are alive again: fresh incoming row, bias 0, outgoing column 0.
  expect(after.layers[0].deadUnits).not.toContain(3);
  expect(after.layers[0].deadUnits).not.toContain(11);
  expect(after.layers[1].deadUnits).not.toContain(4);
  const q = stateAfter.params;
  expect(q[l0.bias + 3]).toBe(0);
  expect(q[l1.weight + 3]).toBe(0);
  expect(Array.from(q.subarray(l0.weight + 3 * 20, l0.weight + 4 * 20))).not.toEqual(
    Array.from(stateBefore.params.subarray(l0.weight + 3 * 20, l0.weight + 4 * 20)),
  );
  // Optimiser state: zero on the revived entries, every other entry untouched; likewise the parameters.
  const hit = touched(model, units);
  const moments = [stateBefore.m && [stateBefore.m, stateAfter.m!], stateBefore.v && [stateBefore.v, stateAfter.v!]].filter((x) => x) as Float32Array[][];
  expect(moments.length).toBe(kind === 'adam' ? 2 : kind === 'momentum' ? 1 : 0);
  for (const [mb, ma] of moments) {
    let nonzeroBefore = 0;
    for (let i = 0; i < size; i++) {
      if (hit.has(i)) {
        if (mb[i] !== 0) nonzeroBefore++;
        expect(ma[i]).toBe(0);
      } else expect(Object.is(ma[i], mb[i])).toBe(true);
    }
    expect(nonzeroBefore).toBeGreaterThan(0);
  }
  for (let i = 0; i < size; i++) if (!hit.has(i)) expect(Object.is(q[i], stateBefore.params[i])).toBe(true);

  // Training goes on, and the revived units learn: their outgoing weights leave zero.
  const more = await collect(t.run(3));
  expect(more.every((s) => Number.isFinite(s.loss))).toBe(true);
  const later = await t.getParams();
  expect(later[l1.weight + 3]).not.toBe(0);
  return { before, after };
}

describe('revive (ReDo) on a trainer', () => {
  it('CPU, Adam', async () => {
    await reviveCase(new CpuBackend(), 'adam');
  });
  it('CPU, momentum', async () => {
    await reviveCase(new CpuBackend(), 'momentum');
  });
  it('WebGPU, Adam', async () => {
    await reviveCase(await gpuBackend(), 'adam');
  });
  it('WebGPU, SGD (no optimiser state)', async () => {
    await reviveCase(await gpuBackend(), 'sgd');
  });
});

describe('reviveInPlace', () => {
  it('draws the fresh rows from the layer’s initialiser, seeded', () => {
    const model = smallModel({ hidden: [24, 17], init: 'glorot' });
    const layout = paramLayout(model);
    const a = initialParams(model);
    const b = initialParams(model);
    reviveInPlace(model, layout, [[0, 5], [2]], 9, a);
    reviveInPlace(model, layout, [[5, 0, 5], [2]], 9, b);
    expect(bits(a)).toEqual(bits(b));
    const r = Math.sqrt(6 / (20 + 24));
    const row = a.subarray(layout.layers[0].weight + 5 * 20, layout.layers[0].weight + 6 * 20);
    expect(row.every((w) => Math.abs(w) <= r)).toBe(true);
    expect(new Set(row).size).toBe(20);
  });
  it('names a unit that does not exist', () => {
    const model = smallModel({ hidden: [24, 17] });
    expect(() => reviveInPlace(model, paramLayout(model), [[], [17]], 1, initialParams(model))).toThrow(/hidden layer 2 has no unit 17 \(it has 17\)/);
    expect(() => reviveInPlace(model, paramLayout(model), [[], [], []], 1, initialParams(model))).toThrow(/3 hidden layers, but the model has 2/);
  });
});
