// The matmul autotuner on the real adapter (SwiftShader here): it measures every candidate,
// never chooses one that does not fit the adapter or fails the correctness probe, keeps its
// choices in the cache, and a network planned with its per-shape choices trains like the CPU.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { memoryCache } from '../src/backend/webgpu/tuning-cache.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { matmul, type MatmulShape } from '../src/ops/matmul.ts';
import { formatTiles, shapeKey, type KernelTuning } from '../src/ops/tuning.ts';
import { matmulProducts } from '../src/plan/plan.ts';
import { gpu } from './support/gpu.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';

const A = { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 };
const B = { TM: 2, TN: 2, WG_X: 16, WG_Y: 16 };
const TOO_WIDE = { TM: 1, TN: 1, WG_X: 64, WG_Y: 64 }; // 4096 threads: beyond any adapter
const BROKEN = { TM: 2, TN: 4, WG_X: 8, WG_Y: 8 }; // built below with the wrong K: must fail the probe

const shapes: MatmulShape[] = [
  { M: 1, N: 33, K: 17, transA: false, transB: true },
  { M: 19, N: 70, K: 9, transA: false, transB: false },
  { M: 70, N: 21, K: 19, transA: true, transB: false },
];
const products = shapes.map((shape) => ({ op: 'matmul', shape }));

describe('matmul autotune', () => {
  it('measures each candidate, records why the others fail, and chooses only one that passed', async () => {
    const backend = new WebGpuBackend(await gpu());
    const cache = memoryCache();
    const build = (label: string, shape: MatmulShape, io: Parameters<typeof matmul>[2], tiles: typeof A) =>
      tiles === BROKEN ? matmul(label, { ...shape, K: Math.max(1, shape.K - 1) }, io, tiles) : matmul(label, shape, io, tiles);
    const report = (await backend.tune(products, { mode: 'on', candidates: [A, B, TOO_WIDE, BROKEN], cache, budgetMs: 60_000, build }))!;
    expect(report.entries).toHaveLength(3);
    for (const e of report.entries) {
      const by = Object.fromEntries(e.candidates.map((c) => [c.config, c]));
      expect(by[formatTiles(A)]).toHaveProperty('gflops');
      expect(by[formatTiles(B)]).toHaveProperty('gflops');
      expect((by[formatTiles(TOO_WIDE)] as { error: string }).error).toMatch(/threads per workgroup/);
      expect((by[formatTiles(BROKEN)] as { error: string }).error).toMatch(/correctness probe/);
      expect([formatTiles(A), formatTiles(B)]).toContain(e.chosen);
      expect(e.cached).toBe(false);
      const best = Math.max(...e.candidates.flatMap((c) => ('gflops' in c ? [c.gflops] : [])));
      expect((by[e.chosen] as { gflops: number }).gflops).toBe(best);
    }
    expect(Object.keys(backend.tuning.perShape ?? {}).sort()).toEqual(shapes.map(shapeKey).sort());

    // A second backend on the same adapter takes every choice from the cache, measuring nothing.
    const again = new WebGpuBackend(await gpu());
    const cached = (await again.tune(products, { mode: 'on', candidates: [A, B, TOO_WIDE, BROKEN], cache, build }))!;
    expect(cached.entries.every((e) => e.cached)).toBe(true);
    expect(cached.chosen).toEqual(report.chosen);
    backend.destroy();
    again.destroy();
  });

  it('auto mode leaves a software adapter on its measured table', async () => {
    const backend = new WebGpuBackend(await gpu());
    expect(backend.adapterInfo.isFallback).toBe(true);
    expect(await backend.tune(products)).toBeUndefined();
    expect(backend.tuning.perShape).toBeUndefined();
  });

  it('a network planned with per-shape choices uses them and trains like the CPU', async () => {
    const model = smallModel({ hidden: [70, 33] });
    const opts = trainerOptions();
    const backend = new WebGpuBackend(await gpu(), { matmul: A } satisfies KernelTuning);
    await backend.tune(matmulProducts(model, opts.batch), { mode: 'on', candidates: [B], cache: null, budgetMs: 60_000 });
    const onGpu = await trainer(backend, model, opts);
    const mm = onGpu.plan.step.filter((s) => 'op' in s && s.op.shader === 'matmul');
    expect(mm.length).toBeGreaterThan(0);
    for (const s of mm) expect('constants' in s && s.constants.TM).toBe(B.TM);
    const gpuRun = await collect(onGpu.run(30));
    const cpuRun = await collect((await trainer(new CpuBackend(), model, opts)).run(30));
    for (let i = 0; i < 30; i++) expect(Math.abs(gpuRun[i].loss - cpuRun[i].loss)).toBeLessThan(1e-4 * Math.max(1, cpuRun[i].loss));
  });
});
