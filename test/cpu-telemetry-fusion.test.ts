// The CPU backend's telemetry folded into other passes (src/backend/cpu/fusion.ts): zero
// counts and active flags in the forward epilogue, gradient sums of squares in the update,
// the rest in WebAssembly. Checked against the plain twins (reference mode) on training
// runs and against the optimiser twin on random parameters.
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { fastUpdate, TelemetryFusion } from '../src/backend/cpu/fusion.ts';
import { stopHelpers, wasmModules, WasmHeap } from '../src/backend/cpu/wasm/runtime.ts';
import { DEFAULT_OPTIMIZER, optimizerOp, type OptimizerKind } from '../src/ops/optimizer.ts';
import { isClear, type PlanItem, type PlanStep, type View } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';
import type { StepStats } from '../src/train/telemetry.ts';

afterAll(() => stopHelpers());

const close = (a: number[], b: number[], tol = 1e-5) => a.every((x, i) => Math.abs(x - b[i]) <= tol * Math.max(1, Math.abs(b[i])));

/** The telemetry of two runs: counts equal, norms equal up to the order of summation. */
function expectSameTelemetry(fused: StepStats[], plain: StepStats[]): void {
  expect(fused.length).toBe(plain.length);
  fused.forEach((s, i) => {
    const p = plain[i];
    expect(s.sparsity, `step ${s.step} sparsity`).toEqual(p.sparsity);
    expect(s.deadUnits, `step ${s.step} dead units`).toEqual(p.deadUnits);
    expect(s.batchDead, `step ${s.step} batch-dead units`).toEqual(p.batchDead);
    expect(close(s.gradNorm, p.gradNorm), `step ${s.step} gradNorm ${s.gradNorm} vs ${p.gradNorm}`).toBe(true);
    expect(close(s.biasGradNorm, p.biasGradNorm), `step ${s.step} biasGradNorm`).toBe(true);
    expect(close(s.deltaNorm, p.deltaNorm), `step ${s.step} deltaNorm`).toBe(true);
    expect(Math.abs(s.loss - p.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(p.loss)));
  });
}

describe.runIf(wasmModules())('CPU telemetry fused into the forward epilogue and the update', () => {
  const cases: { name: string; kind: OptimizerKind; clipNorm?: number; weightDecay?: number; l1?: number; sparse?: 'on' | 'off'; threads?: number }[] = [
    { name: 'SGD', kind: 'sgd' },
    { name: 'momentum with weight decay and L1', kind: 'momentum', weightDecay: 1e-3, l1: 1e-3 },
    { name: 'momentum on the sparse path, shared memory (two threads)', kind: 'momentum', sparse: 'on', threads: 2 },
    { name: 'SGD with clipping (norms before the update: not folded)', kind: 'sgd', clipNorm: 0.5 },
    { name: 'Adam (update stays with the twin)', kind: 'adam' },
  ];
  for (const c of cases) {
    it(`${c.name}: 60 steps report the plain twins' telemetry and reach their weights`, async () => {
      // Odd widths (not multiples of the SIMD width), a dead-prone bias shift from L1.
      const model = smallModel({ hidden: [37, 13, 22] });
      const opts = trainerOptions({
        batch: 7,
        l1: c.l1 ?? 0,
        optimizer: { ...DEFAULT_OPTIMIZER, kind: c.kind, clipNorm: c.clipNorm ?? 0, weightDecay: c.weightDecay ?? 0 },
        lr: c.kind === 'adam' ? 0.01 : 0.05,
        deadWindow: 7 * 25,
      });
      const fusedBe = new CpuBackend('float32', { threads: c.threads ?? 1, sparse: c.sparse ?? 'off' });
      const plainBe = new CpuBackend('float32', { threads: 1, reference: true });
      const ft = await trainer(fusedBe, model, opts, smallData(300));
      const pt = await trainer(plainBe, model, opts, smallData(300));
      // What is folded here: every hidden layer's stats, and the norms unless the update needs them first.
      const heap = WasmHeap.create({ threads: 1 })!;
      const folds = new TelemetryFusion(ft.plan.step, heap, (bytes) => heap.reserve([bytes])[0]).folds;
      heap.release();
      expect(folds.stats).toEqual(['stats 0', 'stats 1', 'stats 2']);
      expect(folds.gradNorms).toEqual(c.clipNorm || c.kind === 'adam' ? [] : ['grad norms']);
      expect(folds.deltaNorms).toEqual(['delta norm 0', 'delta norm 1', 'delta norm 2', 'delta norm 3']);
      const fused = await collect(ft.run(60));
      const plain = await collect(pt.run(60));
      // The run must exercise what is folded: some zeros, some dead units somewhere.
      expect(plain.some((s) => s.sparsity.some((x) => x > 0))).toBe(true);
      expectSameTelemetry(fused, plain);
      const wf = await fusedBe.readF(ft.plan.regions.params);
      const wp = await plainBe.readF(pt.plan.regions.params);
      let worst = 0;
      for (let i = 0; i < wp.length; i++) worst = Math.max(worst, Math.abs(wf[i] - wp[i]));
      expect(worst).toBeLessThan(1e-4);
      fusedBe.destroy();
      plainBe.destroy();
    });
  }

  it('a delta norm is taken beside its bias gradient, once, and only for a table covering the whole dZ', async () => {
    const be = new CpuBackend('float32', { threads: 1, reference: true });
    const t = await trainer(be, smallModel({ hidden: [37, 13, 22] }), trainerOptions({ batch: 7 }));
    const items = t.plan.step;
    const step = (label: string) => items.find((i): i is PlanStep => !isClear(i) && i.label === label)!;
    const [db, norm] = [step('db 1'), step('delta norm 1')];
    const heap = WasmHeap.create({ threads: 1 })!;
    const fusionOf = (list: PlanItem[]) => new TelemetryFusion(list, heap, (bytes) => heap.reserve([bytes])[0]);
    // A write to that dZ between the two keeps them apart; a write to another layer's does not.
    expect(fusionOf([db, step('act backward 1'), norm]).folds.deltaNorms).toEqual([]);
    expect(fusionOf([db, step('act backward 0'), norm]).folds.deltaNorms).toEqual(['delta norm 1']);
    const fusion = fusionOf(items);
    const n = 7 * 13;
    const [dzAt, segAt, stAt] = heap.reserve([n * 4, 3 * 4, 64 * 4]);
    const dz = heap.views(dzAt, n);
    dz.f.set(new Rng(5).fill(n));
    const segs = heap.views(segAt, 3);
    const stats = heap.views(stAt, 64);
    let exact = 0;
    for (const v of dz.f) exact += v * v;
    const views = { x: dz, segs, stats };
    segs.u.set([0, n, 5]);
    fusion.afterBiasGrad(db, { dz, out: stats });
    expect(fusion.deltaNorm(norm, views)).toBe(true);
    expect(Math.abs(stats.f[5] - exact)).toBeLessThanOrEqual(2e-6 * exact);
    // Taken once: a step whose bias gradient did not run computes its own.
    expect(fusion.deltaNorm(norm, views)).toBe(false);
    segs.u.set([0, n - 1, 5]);
    fusion.afterBiasGrad(db, { dz, out: stats });
    expect(fusion.deltaNorm(norm, views)).toBe(false);
    heap.release();
    be.destroy();
  });

  it('batch 1 and telemetry off train as the plain twins do', async () => {
    for (const telemetry of [true, false]) {
      const opts = trainerOptions({ batch: 1, telemetry, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum' }, lr: 0.02 });
      const fusedBe = new CpuBackend('float32', { threads: 1 });
      const plainBe = new CpuBackend('float32', { threads: 1, reference: true });
      const ft = await trainer(fusedBe, smallModel(), opts);
      const pt = await trainer(plainBe, smallModel(), opts);
      const fused = await collect(ft.run(40));
      const plain = await collect(pt.run(40));
      if (telemetry) expectSameTelemetry(fused, plain);
      expect(fused.at(-1)!.loss).toBeCloseTo(plain.at(-1)!.loss, 5);
      fusedBe.destroy();
      plainBe.destroy();
    }
  });
});

describe.runIf(wasmModules())('the WebAssembly update', () => {
  for (const kind of ['sgd', 'momentum'] as const) {
    it(`${kind}: bit for bit the optimiser twin, with the gradients' sums of squares`, () => {
      const n = 1001; // not a multiple of 4: the scalar tail runs too
      const heap = WasmHeap.create({ threads: 1 })!;
      const [pAt, gAt, mAt, sAt] = heap.reserve([n * 4, n * 4, n * 4, 64 * 4]);
      const rng = new Rng(7);
      const p0 = rng.fill(n);
      const g0 = rng.fill(n).map((x, i) => (i % 3 === 0 ? 0 : x)); // exact zeros, as relu leaves
      const m0 = rng.fill(n);
      const views = (at: number, len: number): View => heap.views(at, len);
      const fast = { params: views(pAt, n), grads: views(gAt, n), m: views(mAt, n), v: views(mAt, n), stats: views(sAt, 64) };
      fast.params.f.set(p0);
      fast.grads.f.set(g0);
      fast.m.f.set(m0);
      const plain = {
        params: { f: Float32Array.from(p0), u: new Uint32Array(n) },
        grads: { f: Float32Array.from(g0), u: new Uint32Array(n) },
        m: { f: Float32Array.from(m0), u: new Uint32Array(n) },
      };
      const c = {
        COUNT: n,
        KIND: kind === 'sgd' ? 0 : 1,
        MOMENTUM: 0.9,
        BETA1: 0.9,
        BETA2: 0.999,
        EPS: 1e-8,
        WEIGHT_DECAY: 3e-4,
        CLIP_NORM: 0,
        CLIP_SLOT0: 0,
        CLIP_COUNT: 0,
      };
      const step = { lr: 0.037, t: 1, batchStart: 0 };
      const pieces = [
        { from: 3, length: 500, slot: 5 },
        { from: 600, length: 401, slot: 9 },
      ];
      expect(fastUpdate(heap, c, fast, step, pieces)).toBe(true);
      optimizerOp.cpu(c, { ...plain, v: plain.m, stats: fast.stats }, step);
      expect(Array.from(fast.params.f)).toEqual(Array.from(plain.params.f));
      if (kind === 'momentum') expect(Array.from(fast.m.f)).toEqual(Array.from(plain.m.f));
      for (const { from, length, slot } of pieces) {
        let ss = 0;
        for (let i = from; i < from + length; i++) ss += g0[i] * g0[i];
        // Squares summed in f32 within blocks of 128, in f64 across them (assembly/matmul.ts, SQ_BLOCK).
        expect(Math.abs(fast.stats.f[slot] - ss)).toBeLessThanOrEqual(2e-6 * ss);
      }
      heap.release();
    });
  }

  it("sums of squares (the update's and sumsq) are within 2e-6 of the exact sum, relative, at lengths around the 128-float block", () => {
    const heap = WasmHeap.create({ threads: 1 })!;
    const most = 4099;
    const [pAt, gAt, xAt] = heap.reserve([most * 4, most * 4, most * 4]);
    const rng = new Rng(11);
    // Magnitudes spread over six decades and exact zeros: a block's f32 sum must not lose the small ones wholesale.
    const x = rng.fill(most).map((v, i) => (i % 5 === 0 ? 0 : v * 10 ** ((i % 7) - 3)));
    for (const n of [1, 3, 7, 8, 9, 127, 128, 129, 255, 256, 257, 1000, most]) {
      let exact = 0;
      for (let i = 0; i < n; i++) exact += x[i] * x[i];
      heap.views(xAt, most).f.set(x);
      expect(Math.abs(heap.sumsq(xAt, n) - exact), `sumsq, n = ${n}`).toBeLessThanOrEqual(2e-6 * exact);
      heap.views(gAt, most).f.set(x);
      heap.views(pAt, most).f.fill(1);
      expect(Math.abs(heap.update(pAt, gAt, 0, n, 0.01, 0, 0, 1, true) - exact), `update, n = ${n}`).toBeLessThanOrEqual(2e-6 * exact);
    }
    heap.release();
  });
});
