// The matmul autotuner on the real adapter (SwiftShader here): it measures every candidate,
// never chooses one that does not fit the adapter or fails the correctness probe, keeps its
// choices in the cache, and a network planned with its per-shape choices trains like the CPU.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { memoryCache } from '../src/backend/webgpu/tuning-cache.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { matmulWith, type MatmulCandidate } from '../src/ops/matmul-candidates.ts';
import type { MatmulShape } from '../src/ops/matmul.ts';
import { registerCandidate, shapeKey, type KernelTuning } from '../src/ops/tuning.ts';
import { matmulProducts } from '../src/plan/plan.ts';
import { gpu } from './support/gpu.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';

const A = registerCandidate({ TM: 4, TN: 4, WG_X: 16, WG_Y: 16 });
const B: MatmulCandidate = { kind: 'tiled', name: 'tiled 32x32 k8 t4x4', tile: { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 } };
const SPLIT: MatmulCandidate = { kind: 'splitk', name: 'splitk3 32x32 k8 t4x4', tile: { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 }, slices: 3 };
const TOO_WIDE = registerCandidate({ TM: 1, TN: 1, WG_X: 64, WG_Y: 64 }); // 4096 threads: beyond any adapter
const BROKEN = registerCandidate({ TM: 2, TN: 4, WG_X: 8, WG_Y: 8 }); // built below with the wrong K: must fail the probe
const ALL = [A, B, SPLIT, TOO_WIDE, BROKEN];

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
    const build = (c: MatmulCandidate, label: string, shape: MatmulShape, io: Parameters<typeof matmulWith>[3]) =>
      c === BROKEN ? matmulWith(c, label, { ...shape, K: Math.max(1, shape.K - 1) }, io) : matmulWith(c, label, shape, io);
    const report = (await backend.tune(products, { mode: 'on', candidates: ALL, cache, budgetMs: 60_000, build }))!;
    expect(report.entries).toHaveLength(3);
    for (const e of report.entries) {
      const by = Object.fromEntries(e.candidates.map((c) => [c.config, c]));
      expect(by[A.name]).toHaveProperty('gflops');
      expect(by[B.name]).toHaveProperty('gflops');
      expect(by[SPLIT.name]).toHaveProperty('gflops');
      expect((by[TOO_WIDE.name] as { error: string }).error).toMatch(/workgroup limits/);
      expect((by[BROKEN.name] as { error: string }).error).toMatch(/correctness probe/);
      expect([A.name, B.name, SPLIT.name]).toContain(e.chosen);
      expect(e.cached).toBe(false);
      const best = Math.max(...e.candidates.flatMap((c) => ('gflops' in c ? [c.gflops] : [])));
      expect((by[e.chosen] as { gflops: number }).gflops).toBe(best);
    }
    expect(Object.keys(backend.chosen).sort()).toEqual(shapes.map(shapeKey).sort());
    for (const sh of shapes)
      expect(backend.tuning.matmulChoice?.(sh)?.name).toBe(report.entries.find((e) => e.shape[0] === sh.M && e.shape[1] === sh.N)!.chosen);

    // A second backend on the same adapter takes every choice from the cache, measuring nothing.
    const again = new WebGpuBackend(await gpu());
    const cached = (await again.tune(products, { mode: 'on', candidates: ALL, cache, build }))!;
    expect(cached.entries.every((e) => e.cached)).toBe(true);
    expect(cached.chosen).toEqual(report.chosen);
    backend.destroy();
    again.destroy();
  });

  it('measures the `first` candidate of each shape first, even when the budget allows nothing else', async () => {
    const backend = new WebGpuBackend(await gpu());
    const first = (s: MatmulShape) => (s.M === 1 ? SPLIT : B);
    const report = (await backend.tune(products, { mode: 'on', candidates: [A, B, SPLIT], cache: null, budgetMs: 1, first }))!;
    for (const [i, e] of report.entries.entries()) {
      const lead = first(shapes[i]).name;
      expect(e.candidates[0]).toMatchObject({ config: lead });
      expect(e.candidates[0]).toHaveProperty('gflops');
      expect(e.chosen).toBe(lead);
      for (const c of e.candidates.slice(1)) expect((c as { error: string }).error).toMatch(/budget/);
    }
    backend.destroy();
  });

  it('auto mode leaves a software adapter on its measured table', async () => {
    const backend = new WebGpuBackend(await gpu());
    expect(backend.adapterInfo.isFallback).toBe(true);
    expect(await backend.tune(products)).toBeUndefined();
    expect(backend.tuning.matmulChoice).toBeUndefined();
  });

  it('a network planned with per-shape choices uses them and trains like the CPU', async () => {
    const model = smallModel({ hidden: [70, 33] });
    const opts = trainerOptions();
    const backend = new WebGpuBackend(await gpu(), { matmul: { TM: 8, TN: 8, WG_X: 8, WG_Y: 8 } } satisfies KernelTuning);
    await backend.tune(matmulProducts(model, opts.batch), { mode: 'on', candidates: [SPLIT], cache: null, budgetMs: 60_000 });
    const onGpu = await trainer(backend, model, opts);
    // Every product now runs the split-K candidate (partial products, then the fixed-order
    // reduce; a K that fits one slice runs its one-pass tiled kernel).
    const shaders = onGpu.plan.step.flatMap((s) => ('op' in s ? [s.op.shader] : []));
    expect(shaders).not.toContain('matmul');
    expect(shaders.filter((n) => n === 'matmul_splitk_reduce').length).toBeGreaterThan(0);
    const gpuRun = await collect(onGpu.run(30));
    const cpuRun = await collect((await trainer(new CpuBackend(), model, opts)).run(30));
    for (let i = 0; i < 30; i++) expect(Math.abs(gpuRun[i].loss - cpuRun[i].loss)).toBeLessThan(1e-4 * Math.max(1, cpuRun[i].loss));
  });
});
