// The WebGPU backend's own contract: loud failures, ordered snapshots, a lost device.
import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../src/backend/webgpu/device.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { biasGrad } from '../src/ops/bias-grad.ts';
import { gpuBackend } from './support/gpu.ts';

describe('WebGPU backend', () => {
  it('names the adapter it found', async () => {
    const b = await gpuBackend();
    expect(b.adapter.length).toBeGreaterThan(3);
  });

  it('rejects, before the first step, a dispatch that reads and writes one arena', async () => {
    const b = await gpuBackend();
    b.allocate({ a: 256 });
    const step = biasGrad('db', 4, 8, { arena: 'a', offset: 0, length: 32 }, { arena: 'a', offset: 64, length: 8 });
    await expect(b.prepare([step])).rejects.toThrow(/WebGPU rejected/);
  });

  it('a snapshot sees exactly the work enqueued before it, while later work is queued', async () => {
    const b = await gpuBackend();
    b.allocate({ dz: 64, out: 64 });
    const step = biasGrad('db', 2, 3, { arena: 'dz', offset: 0, length: 6 }, { arena: 'out', offset: 0, length: 3 });
    await b.prepare([step]);
    const values = { lr: 0, t: 1, batchStart: 0 };
    const snaps = [];
    for (let k = 1; k <= 3; k++) {
      b.writeF({ arena: 'dz', offset: 0, length: 6 }, [k, k, k, 10 * k, 10 * k, 10 * k]);
      b.run([step], values);
      snaps.push(b.snapshot({ arena: 'out', offset: 0, length: 3 }));
    }
    const got = await Promise.all(snaps);
    expect(got.map((v) => Array.from(v.f))).toEqual([
      [11, 11, 11],
      [22, 22, 22],
      [33, 33, 33],
    ]);
    // The ring holds three: a fourth while three are in flight is refused, not corrupted.
    const s = [1, 2, 3].map(() => b.snapshot({ arena: 'out', offset: 0, length: 3 }));
    expect(() => b.snapshot({ arena: 'out', offset: 0, length: 3 })).toThrow(/in flight/);
    await Promise.all(s);
  });

  it('a lost device is a clear error, not a hang', async () => {
    const b = new WebGpuBackend(await acquireGpu());
    b.allocate({ x: 64 });
    b.ctx.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await expect(b.readF({ arena: 'x', offset: 0, length: 4 })).rejects.toThrow(/lost/);
  });
});
