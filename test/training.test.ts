// The engine end to end on a real adapter: the same seeded run on WebGPU and on the CPU.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';
import { gpuBackend } from './support/gpu.ts';

describe('training on WebGPU and on the CPU', () => {
  it('200 steps: the loss falls and both backends follow the same trajectory', async () => {
    const opts = trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'momentum' }, lr: 0.02 });
    const cpu = await collect((await trainer(new CpuBackend(), smallModel(), opts)).run(200));
    const gpu = await collect((await trainer(await gpuBackend(), smallModel(), opts)).run(200));
    expect(cpu).toHaveLength(200);
    expect(gpu).toHaveLength(200);
    const mean = (a: { loss: number }[]) => a.reduce((s, x) => s + x.loss, 0) / a.length;
    // The loss falls: the last 20 steps average well below the first 20.
    expect(mean(gpu.slice(-20))).toBeLessThan(0.5 * mean(gpu.slice(0, 20)));
    // Both backends compute the same float32 arithmetic in a different summation order
    // (tiled GPU matmul vs the CPU's loop), so they differ by rounding, ~1e-7 relative per
    // op, and training compounds those differences slowly: over 200 steps of this small
    // net they stay far below 1e-3. A wrong kernel shows up as a difference of order 1e-1.
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      expect(gpu[i].step).toBe(cpu[i].step);
      worst = Math.max(worst, Math.abs(gpu[i].loss - cpu[i].loss) / Math.max(1, cpu[i].loss));
    }
    expect(worst).toBeLessThan(1e-3);
    // And the telemetry agrees too (counts may differ only where rounding flips a sign).
    const last = 199;
    for (let h = 0; h < 2; h++) expect(Math.abs(gpu[last].sparsity[h] - cpu[last].sparsity[h])).toBeLessThan(0.01);
  });
});
