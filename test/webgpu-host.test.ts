// The WebGPU backend's host side: waits that leave nothing behind, the Node wait on either
// kind of adapter, timestamps at full resolution, and a configurable run-ahead.
import { describe, expect, it } from 'vitest';
import { lostWatch } from '../src/backend/webgpu/lost.ts';
import { nodeWait } from '../src/backend/webgpu/node-gpu.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { collect, trainer, trainerOptions } from './support/train.ts';
import { gpu, gpuBackend } from './support/gpu.ts';

describe('WebGPU host side', () => {
  it('waits keep nothing on the device once they settle (one lost-watch per device)', async () => {
    const ctx = await gpu();
    const a = new WebGpuBackend(ctx);
    const b = new WebGpuBackend(ctx);
    const watch = lostWatch(ctx.device);
    expect(lostWatch(ctx.device)).toBe(watch);
    a.allocate({ x: 64 });
    a.writeF({ arena: 'x', offset: 0, length: 4 }, [1, 2, 3, 4]);
    for (let i = 0; i < 50; i++) await a.readF({ arena: 'x', offset: 0, length: 4 });
    b.allocate({ y: 64 });
    await b.finish();
    expect(watch.pending).toBe(0);
    a.destroy();
    b.destroy();
  });

  it('the Node wait settles like the promise it waits on, on software and hardware adapters alike', async () => {
    for (const software of [true, false]) {
      await expect(nodeWait(new Promise((r) => setTimeout(() => r(7), 5)), software)).resolves.toBe(7);
      await expect(nodeWait(Promise.reject(new Error('no')), software)).rejects.toThrow('no');
    }
  });

  it('timestamps are not quantised: passes of one submit get distinct times', async () => {
    const { device, timestamps } = await gpu();
    expect(timestamps).toBe(true); // SwiftShader and real GPUs both offer timestamp-query
    const n = 8;
    const qs = device.createQuerySet({ type: 'timestamp', count: 2 * n });
    const resolve = device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    for (let i = 0; i < n; i++) {
      enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } }).end();
    }
    enc.resolveQuerySet(qs, 0, 2 * n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
    device.queue.submit([enc.finish()]);
    await (await gpu()).wait(read.mapAsync(GPUMapMode.READ));
    const t = Array.from(new BigUint64Array(read.getMappedRange()));
    read.unmap();
    [qs, resolve, read].forEach((o) => o.destroy());
    // Quantised (Dawn's default), every one of these reads the same value.
    expect(new Set(t.map(String)).size).toBeGreaterThan(n);
  });

  it('the trainer may run further ahead than the default: same losses, more staging buffers', async () => {
    const base = await collect((await trainer(await gpuBackend(), undefined, trainerOptions())).run(12));
    const backend = await gpuBackend();
    const ahead = await collect((await trainer(backend, undefined, trainerOptions({ runAhead: 5 }))).run(12));
    expect(ahead.map((s) => s.loss)).toEqual(base.map((s) => s.loss));
    expect(() => backend.reserveSnapshots(8)).toThrow(/before the first snapshot/);
    await expect(trainer(await gpuBackend(), undefined, trainerOptions({ runAhead: -1 }))).rejects.toThrow(/runAhead/);
  });
});
