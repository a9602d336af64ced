// Long runs must not create GPU objects per step.
import { afterEach, describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';
import { gpu, gpuBackend } from './support/gpu.ts';

const saved = process.env.RECTIGRAD_MAX_BINDING_BYTES;
afterEach(() => {
  if (saved === undefined) delete process.env.RECTIGRAD_MAX_BINDING_BYTES;
  else process.env.RECTIGRAD_MAX_BINDING_BYTES = saved;
});

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

  it('adam, with layers split by rows and arenas cut into several buffers (16 KiB bindings)', async () => {
    process.env.RECTIGRAD_MAX_BINDING_BYTES = '16K';
    const backend = new WebGpuBackend(await gpu());
    const t = await trainer(
      backend,
      smallModel({ hidden: [256, 16] }),
      trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'adam' }, lr: 0.01 }),
    );
    expect(t.plan.layout.layers[0].chunks.length).toBe(2);
    expect(t.plan.chunks.params.length).toBeGreaterThan(1);
    await collect(t.run(1));
    const after1 = { ...backend.counters };
    expect(after1.buffers).toBeGreaterThan(Object.keys(t.plan.arenas).length);
    await collect(t.run(100));
    expect(backend.counters).toEqual(after1);
  });
});
