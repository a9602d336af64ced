// Long runs must not create GPU objects per step.
import { describe, expect, it } from 'vitest';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';
import { gpuBackend } from './support/gpu.ts';

describe('no per-step allocation', () => {
  it.each(['sgd', 'adam'] as const)('%s: buffers, pipelines and bind groups stay constant over 100 steps', async (kind) => {
    const backend = await gpuBackend();
    const t = await trainer(backend, smallModel(), trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind }, lr: 0.01 }));
    await collect(t.run(1));
    const after1 = { ...backend.counters };
    expect(after1.pipelines).toBeGreaterThan(5);
    // 512 examples / batch 16 = 32 steps per epoch: 100 steps cross three epoch boundaries
    // (reshuffle and window reset included).
    await collect(t.run(100));
    expect(backend.counters).toEqual(after1);
  });
});
