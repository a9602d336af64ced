// The engine end to end on a real adapter: the same seeded run on WebGPU and on the CPU.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';
import { HARDWARE_TUNING } from '../src/ops/tuning.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { gpu, gpuBackend } from './support/gpu.ts';

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

describe('per-adapter kernel tuning', () => {
  it('the hardware-GPU tile configuration trains like the CPU (checked here on SwiftShader)', async () => {
    const model = smallModel({ hidden: [70, 33] }); // widths that are not multiples of the tile
    const onGpu = await trainer(new WebGpuBackend(await gpu(), HARDWARE_TUNING), model);
    const forward = onGpu.plan.step.find((s) => 'op' in s && s.label === 'forward 0');
    expect(forward && 'constants' in forward ? forward.constants.WG_X : 0).toBe(HARDWARE_TUNING.matmul.WG_X);
    const gpuRun = await collect(onGpu.run(30));
    const cpuRun = await collect((await trainer(new CpuBackend(), model)).run(30));
    for (let i = 0; i < 30; i++) expect(Math.abs(gpuRun[i].loss - cpuRun[i].loss)).toBeLessThan(1e-4 * Math.max(1, cpuRun[i].loss));
  });
});
