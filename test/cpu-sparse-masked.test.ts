// dX = dZ·W computed only where the layer below is active: the masked kernel against spmm
// (the same bits where the mask is nonzero, +0 elsewhere) on one and two threads, and the
// backend's use of it under a relu's activation backward (with and without dropout in
// between), and not under other activations.
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { reluMasks } from '../src/backend/cpu/relu-mask.ts';
import { stopHelpers, WasmHeap, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { threadsSupported } from '../src/backend/cpu/wasm/threads.ts';
import { activationId, type Activation } from '../src/ops/activations.ts';
import { activationBackward } from '../src/ops/activation-backward.ts';
import { dropoutBackwardStep } from '../src/ops/dropout.ts';
import { matmul } from '../src/ops/matmul.ts';
import type { BufRange, PlanItem, StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr } from './support/op-harness.ts';

afterAll(() => stopHelpers());

/** Random values with exactly round(density·n) nonzeros (at least one unless density is 0). */
function sparseData(rng: Rng, n: number, density: number): Float32Array {
  const x = new Float32Array(n);
  const nnz = density === 0 ? 0 : Math.max(1, Math.round(density * n));
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < nnz; i++) {
    const j = i + rng.int(n - i);
    [order[i], order[j]] = [order[j], order[i]];
    let v = 0;
    while (v === 0) v = rng.uniform(-1, 1);
    x[order[i]] = v;
  }
  return x;
}

describe.runIf(wasmModules() !== undefined)('masked sparse product (dX under a relu)', () => {
  it('equals spmm bit for bit where the mask is nonzero and is +0 elsewhere, on one and two threads', async () => {
    const rng = new Rng(5);
    // Batch 1, odd widths (a group of 4 cut at the end), widths around the 128-column panels, a paper layer.
    const shapes: [number, number, number][] = [
      [1, 29, 37],
      [7, 65, 33],
      [13, 31, 100],
      [5, 130, 97],
      [3, 6, 5],
      [64, 1000, 1000],
    ];
    for (const threads of threadsSupported() ? [1, 2] : [1]) {
      const heap = WasmHeap.create({ threads, splitAbove: 1 })!;
      if (threads > 1) expect(await heap.warmUp()).toBe(1);
      for (const [M, N, K] of shapes) {
        const [a, b, mask, cnt, idx, val, gcnt, gidx, c1, c2] = heap.reserve([
          M * K * 4,
          K * N * 4,
          M * N * 4,
          M * 4,
          M * K * 4,
          M * K * 4,
          M * 4,
          M * Math.ceil(N / 4) * 4,
          M * N * 4,
          M * N * 4,
        ]);
        const f = (at: number, n: number) => new Float32Array(heap.memory.buffer, at, n);
        f(b, K * N).set(rng.fill(K * N));
        const splits = heap.stats.split;
        for (const density of [0, 0.01, 0.1, 0.5, 1]) {
          for (const maskDensity of [0, 0.1, 0.5, 1]) {
            const what = `${M}×${N}×${K}, dZ ${density}, mask ${maskDensity}, ${threads} thread(s)`;
            f(a, M * K).set(sparseData(rng, M * K, density));
            const m = sparseData(rng, M * N, maskDensity);
            f(mask, M * N).set(m);
            f(c2, M * N).fill(Number.NaN); // every element must be written
            heap.compactRows(false, M, K, a, cnt, idx, val);
            heap.spmm(M, N, K, cnt, idx, val, b, c1);
            const nz = heap.maskGroups(M, N, mask, gcnt, gidx);
            expect(nz, what).toBe(m.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0));
            heap.spmmMasked(M, N, K, cnt, idx, val, b, c2, mask, gcnt, gidx);
            const full = f(c1, M * N);
            const got = f(c2, M * N);
            let wrong = 0;
            for (let i = 0; i < M * N; i++) if (!Object.is(got[i], m[i] !== 0 ? full[i] : 0)) wrong++;
            expect(wrong, what).toBe(0);
            // Not all zeros where something survives the mask (the paper layer always has some).
            const live = m.some((v, i) => v !== 0 && full[i] !== 0);
            expect(
              got.some((v) => v !== 0),
              what,
            ).toBe(live);
            if (M === 64 && density > 0 && maskDensity > 0) expect(live, what).toBe(true);
          }
        }
        // Split across the helper where wide enough (splitting may pause for a while when a
        // split loses, e.g. on the nearly empty products here, so not necessarily every time).
        if (threads > 1) expect(heap.stats.split > splits, `${M}×${N}×${K}`).toBe(N >= 64);
      }
      heap.release();
    }
  });

  /**
   * dX = dZ·W, then (optionally) dropout backward, then the activation backward, as the
   * training plan lays them out; the final ∂L/∂z of the layer below and the sparse stats.
   */
  async function backward(sparse: 'on' | 'off' | 'auto', activation: Activation, dropout: boolean, B: number, nIn: number, nOut: number, seed: number) {
    const rng = new Rng(seed);
    const r = (arena: string, length: number): BufRange => ({ arena, offset: 0, length });
    const dz = r('dz', B * nOut);
    const w = r('w', nOut * nIn);
    const d = r('d', B * nIn);
    const z = r('z', B * nIn);
    const a = r('a', B * nIn);
    const act = activationId(activation);
    const items: PlanItem[] = [matmul('dX 1', { M: B, N: nIn, K: nOut, transA: false, transB: false }, { a: dz, b: w, c: d })];
    if (dropout) items.push(dropoutBackwardStep('dropout backward 1', { count: B * nIn, p: 0.3, seed: 7, layer: 1 }, d));
    items.push(activationBackward('act backward 0', B * nIn, act, 0.01, 1e-3 / B, { z, a, d }));
    const be = new CpuBackend('float32', { threads: 1, sparse });
    be.allocate({ dz: dz.length, w: w.length, d: d.length, z: z.length, a: a.length });
    // The layer below: z with ~80 % of it negative, a = act(z) (relu: exact zeros there).
    const zv = rng.fill(B * nIn, -1, 0.25);
    const av = zv.map((v) => (activation === 'relu' ? (v > 0 ? v : 0) : v > 0 ? v : 0.01 * v));
    be.writeF(z, zv);
    be.writeF(a, av);
    be.writeF(dz, sparseData(rng, B * nOut, 0.2));
    be.writeF(w, rng.fill(nOut * nIn));
    await be.prepare(items);
    const values: StepValues = { lr: 0, t: 3, batchStart: 0 };
    be.run(items, values);
    const out = (await be.readF(d)) as Float32Array;
    const stats = be.sparseStats!['dX 1'];
    be.destroy();
    return { out, stats, a: av, items };
  }

  it('under a relu (with or without dropout between) dX is computed only where the layer below is active, and the step ends as the dense one', async () => {
    for (const [B, nIn, nOut] of [
      [1, 37, 29],
      [16, 130, 65],
      [64, 1000, 1000],
    ] as const) {
      for (const dropout of [false, true]) {
        const what = `${B}×${nIn}×${nOut}${dropout ? ' with dropout' : ''}`;
        const dense = await backward('off', 'relu', dropout, B, nIn, nOut, 3);
        const sparse = await backward('on', 'relu', dropout, B, nIn, nOut, 3);
        expect(reluMasks(sparse.items).size, what).toBe(1);
        expect(sparse.stats.path).toBe('sparse');
        const active = sparse.a.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0) / sparse.a.length;
        expect(sparse.stats.maskDensity, what).toBeCloseTo(active, 12);
        expect(dense.stats.maskDensity, what).toBeUndefined();
        expect(maxRelErr(dense.out, sparse.out), what).toBeLessThan(1e-4);
        // Where the layer below is 0, ∂L/∂z is exactly 0 on both paths.
        let wrong = 0;
        for (let i = 0; i < sparse.a.length; i++) if (sparse.a[i] === 0 && (sparse.out[i] !== 0 || dense.out[i] !== 0)) wrong++;
        expect(wrong, what).toBe(0);
        expect(sparse.out.some((v) => v !== 0)).toBe(true);
      }
    }
  });

  it('other activations keep the full dX (leaky relu passes gradient where its output is negative)', async () => {
    const dense = await backward('off', 'leaky_relu', false, 16, 130, 65, 4);
    const sparse = await backward('on', 'leaky_relu', false, 16, 130, 65, 4);
    expect(reluMasks(sparse.items).size).toBe(0);
    expect(sparse.stats.path).toBe('sparse');
    expect(sparse.stats.maskDensity).toBeUndefined();
    expect(maxRelErr(dense.out, sparse.out)).toBeLessThan(1e-4);
    // The leaky slope's gradient reaches the units whose output is negative.
    expect(sparse.out.some((v, i) => v !== 0 && sparse.a[i] < 0)).toBe(true);
  });

  it("'auto' takes the masked product on the paper's shapes at relu densities", async () => {
    const r = await backward('auto', 'relu', false, 64, 1000, 1000, 9);
    expect(r.stats.path).toBe('sparse');
    expect(r.stats.maskDensity).toBeGreaterThan(0.1);
    expect(r.stats.maskDensity).toBeLessThan(0.3);
  });
});
