// Telemetry read back from the GPU against values computed here from the same step's
// actual activations, gradients and deltas.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { Backend } from '../src/backend/backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';
import { gpuBackend } from './support/gpu.ts';

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

async function checkAgainstTensors(backend: Backend) {
  const t = await trainer(backend, smallModel({ hidden: [40, 33] }), trainerOptions({ batch: 13 }));
  const B = 13;
  const stats = await collect(t.run(3));
  const s = stats[2];
  const { layout, tensors } = t.plan;
  // Active flags accumulate over the window: rebuild them from the three batches.
  for (let h = 0; h < 2; h++) {
    const units = layout.layers[h].outputs;
    const a = await backend.readF(tensors.a[h]);
    let zeros = 0;
    let batchDead = 0;
    for (let j = 0; j < units; j++) {
      let colZeros = 0;
      for (let i = 0; i < B; i++) if (a[i * units + j] === 0) colZeros++;
      zeros += colZeros;
      if (colZeros === B) batchDead++;
    }
    expect(s.sparsity[h]).toBeCloseTo(zeros / (B * units), 10);
    expect(s.batchDead[h]).toBe(batchDead);
    expect(s.deadUnits[h]).toBeLessThanOrEqual(batchDead);
  }
  for (const l of layout.layers) {
    const g = await backend.readF({ arena: 'grads', offset: l.weight, length: l.inputs * l.outputs });
    const gb = await backend.readF({ arena: 'grads', offset: l.bias, length: l.outputs });
    const d = await backend.readF(tensors.d[l.index]);
    expect(s.gradNorm[l.index]).toBeCloseTo(norm(g), 4);
    expect(s.biasGradNorm[l.index]).toBeCloseTo(norm(gb), 4);
    expect(s.deltaNorm[l.index]).toBeCloseTo(norm(d) / Math.sqrt(B), 4);
    expect(s.gradNorm[l.index]).toBeGreaterThan(0);
  }
  return stats;
}

describe('telemetry', () => {
  it('GPU stats equal values recomputed from the step’s own activations and gradients', async () => {
    await checkAgainstTensors(await gpuBackend());
  });

  it('CPU stats equal the same recomputation', async () => {
    await checkAgainstTensors(new CpuBackend());
  });

  it('a unit forced dead (very negative bias) is counted dead in every batch and over the window', async () => {
    const backend = await gpuBackend();
    const t = await trainer(backend, smallModel({ hidden: [24, 17] }), trainerOptions({ lr: 1e-6 }));
    const p = await t.getParams();
    const l0 = t.plan.layout.layers[0];
    p[l0.bias + 5] = -1e4;
    p[l0.bias + 9] = -1e4;
    t.setParams(p);
    const stats = await collect(t.run(4));
    for (const s of stats) {
      expect(s.batchDead[0]).toBeGreaterThanOrEqual(2);
      expect(s.deadUnits[0]).toBeGreaterThanOrEqual(2);
    }
    const a = await backend.readF(t.plan.tensors.a[0]);
    for (let i = 0; i < 16; i++) {
      expect(a[i * 24 + 5]).toBe(0);
      expect(a[i * 24 + 9]).toBe(0);
    }
  });

  it('right after Glorot-uniform init with zero biases, a relu layer on centred input is 50% ± 5% zeros', async () => {
    const data = syntheticDataset({ examples: 1024, features: 256, classes: 10, seed: 9 });
    const model = smallModel({ inputs: 256, classes: 10, hidden: [512, 512], init: 'glorot' });
    const t = await trainer(await gpuBackend(), model, trainerOptions({ batch: 128, lr: 1e-9 }), data);
    const [s] = await collect(t.run(1));
    for (const sp of s.sparsity) {
      expect(sp).toBeGreaterThan(0.45);
      expect(sp).toBeLessThan(0.55);
    }
  });
});
