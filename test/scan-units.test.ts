// The full-set scan (train/unit-scan.ts) against a direct float64 forward pass over the
// same set, on the CPU backend and on WebGPU.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import type { ModelSpec } from '../src/model/spec.ts';
import { activity, scanUnits, UnitScanner } from '../src/train/unit-scan.ts';
import { forward64 } from './support/forward.ts';
import { gpuBackend } from './support/gpu.ts';
import { smallModel, trainer, trainerOptions } from './support/train.ts';

// 300 examples: two full batches of 128 and a remainder of 44.
const data = syntheticDataset({ examples: 300, features: 20, classes: 5, seed: 8 });
const FORCED = [3, 11];

/** Initial weights with units 3 and 11 of layer 1 forced dead (bias −100) and a spread of negative biases so that some die on their own. */
function paramsFor(model: ModelSpec): Float32Array {
  const p = initialParams(model);
  const layers = paramLayout(model).layers;
  for (let h = 0; h < model.hidden.length; h++) {
    for (let j = 0; j < layers[h].outputs; j++) p[layers[h].bias + j] = -0.3 * ((j * 7) % 5);
  }
  for (const j of FORCED) p[layers[0].bias + j] = -100;
  return p;
}

async function checkScan(backend: Backend, model: ModelSpec) {
  const params = paramsFor(model);
  const tau = 0.1;
  const res = await scanUnits(backend, model, params, data, { tau, batch: 128, logits: true });
  const ref = forward64(model, params, data);
  expect(res.examples).toBe(300);
  expect(res.layers.map((l) => l.layer)).toEqual(model.hidden.map((_, h) => h + 1));
  let dead = 0;
  let alive = 0;
  res.layers.forEach((l, h) => {
    const refDead = ref.maxZ[h].map((m) => m <= 0);
    for (let j = 0; j < l.units; j++) {
      expect(Math.abs(l.maxZ[j] - ref.maxZ[h][j])).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.maxZ[h][j])));
      expect(Math.abs(l.meanAbs[j] - ref.meanAbs[h][j])).toBeLessThan(1e-4 * Math.max(1, ref.meanAbs[h][j]));
      // Units within float rounding of the boundary could go either way; there are none here.
      expect(Math.abs(ref.maxZ[h][j])).toBeGreaterThan(1e-3);
      expect(l.deadUnits.includes(j)).toBe(refDead[j]);
      if (refDead[j]) dead++;
      else alive++;
    }
    expect(l.dead).toBe(refDead.filter(Boolean).length);
    // Dormant: the definition applied to the reference's E|a|.
    const mean = ref.meanAbs[h].reduce((s, x) => s + x, 0) / l.units;
    expect(l.dormantUnits).toEqual(ref.meanAbs[h].flatMap((x, j) => (x / mean <= tau ? [j] : [])));
    expect(l.dormant).toBeGreaterThanOrEqual(model.activation === 'relu' ? l.dead : 0);
  });
  for (const j of FORCED) expect(res.layers[0].deadUnits).toContain(j);
  // The set has dead units beyond the forced ones, and live ones.
  expect(dead).toBeGreaterThan(FORCED.length);
  expect(alive).toBeGreaterThan(dead);
  // The logits of every example, from the same pass.
  let worst = 0;
  res.logits!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref.logits[i]))));
  expect(worst).toBeLessThan(1e-4);
  return res;
}

describe('full-set scan: dead and dormant units against a float64 forward pass', () => {
  const model = smallModel({ hidden: [40, 33] });
  it('CPU backend', async () => {
    await checkScan(new CpuBackend(), model);
  });
  it('WebGPU, and the GPU counts equal the CPU counts', async () => {
    const gpu = await checkScan(await gpuBackend(), model);
    const cpu = await scanUnits(new CpuBackend(), model, paramsFor(model), data, { tau: 0.1, batch: 128 });
    expect(gpu.layers.map((l) => [l.deadUnits, l.dormantUnits])).toEqual(cpu.layers.map((l) => [l.deadUnits, l.dormantUnits]));
  });
  it('leaky_relu: dead by z ≤ 0 although the outputs are not zero', async () => {
    const res = await checkScan(new CpuBackend(), smallModel({ hidden: [40, 33], activation: 'leaky_relu', alpha: 0.01 }));
    for (const j of FORCED) expect(res.layers[0].meanAbs[j]).toBeGreaterThan(0);
  });
});

describe('scanner over a trainer’s live weights', () => {
  it('sees a unit the trainer’s weights make dead, and scans again after they change', async () => {
    const backend = await gpuBackend();
    const model = smallModel({ hidden: [24, 17] });
    const t = await trainer(backend, model, trainerOptions(), data);
    const scanner = await UnitScanner.create(backend, model, data, { batch: 128 });
    const before = await scanner.scan();
    expect(before.layers[0].deadUnits).not.toContain(5);
    const p = await t.getParams();
    p[t.plan.layout.layers[0].bias + 5] = -100;
    t.setParams(p);
    const after = await scanner.scan();
    expect(after.layers[0].deadUnits).toContain(5);
    expect(after.layers[0].dead).toBe(before.layers[0].dead + 1);
    await expect(scanner.scan({ params: p })).rejects.toThrow(/shared params arena/);
  });
});

describe('scan input checks', () => {
  it('names a bad τ and a mismatched dataset in one line', async () => {
    const model = smallModel();
    await expect(scanUnits(new CpuBackend(), model, initialParams(model), data, { tau: -1 })).rejects.toThrow(/τ must be a finite number ≥ 0/);
    await expect(scanUnits(new CpuBackend(), smallModel({ inputs: 21 }), undefined, data)).rejects.toThrow(/20 values per example but the model takes 21/);
  });
  it('a layer that is zero everywhere is all dormant', () => {
    const l = activity(1, Float32Array.from([-1, -2, 0]), Float64Array.from([0, 0, 0]), 0);
    expect([l.dead, l.dormant]).toEqual([3, 3]);
  });
});
