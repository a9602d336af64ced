// The order of the examples: shuffled per epoch by default; with shuffle: false, step k
// trains on batch k mod stepsPerEpoch in the dataset's order (how the bench lines up
// rectigrad's steps with another library's).
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

describe('Trainer example order', () => {
  it('shuffle: false takes the batches in order, epoch after epoch', async () => {
    const data = smallData(48); // 3 batches of 16
    const model = smallModel();
    // lr 0: the weights stay put, so each step's loss is its batch's loss at the same weights.
    const opts = trainerOptions({ lr: 0, telemetry: false, readEvery: 1 });
    const ordered = await trainer(new CpuBackend(), model, { ...opts, shuffle: false }, data);
    const losses = (await collect(ordered.run(6))).map((s) => s.loss);
    // Each batch's cross-entropy from the predictor, at the same weights.
    const x = Float32Array.from(data.images as Uint8Array, (v) => v * data.scale + data.shift);
    const p = await ordered.predict(x);
    const batchLoss = (b: number) => {
      let s = 0;
      for (let i = b * 16; i < (b + 1) * 16; i++) s -= Math.log(p.probabilities[i * 5 + data.labels[i]]);
      return s / 16;
    };
    const want = [0, 1, 2, 0, 1, 2].map(batchLoss);
    losses.forEach((l, k) => expect(l, `step ${k + 1}`).toBeCloseTo(want[k], 5));
    expect(new Set(want.map((w) => w.toFixed(5))).size).toBe(3);
    // The default shuffles: its first step sees another mix of examples.
    const shuffled = await trainer(new CpuBackend(), model, opts, data);
    const first = (await collect(shuffled.run(1)))[0].loss;
    expect(Math.abs(first - want[0])).toBeGreaterThan(1e-4);
  });
});
