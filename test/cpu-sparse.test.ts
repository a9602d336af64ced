// The CPU backend's sparse-aware matmul (only the nonzeros of op(A) are summed): against
// the dense WebAssembly path on the three products of a layer at many densities, the
// chooser's switch at its crossover, its estimates refined from the products' own times,
// and a training run.
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend, type CpuBackendOptions } from '../src/backend/cpu/cpu-backend.ts';
import { DEFAULT_CROSSOVER, EXPLORE_STEPS, PathChooser, type ShapeInfo, startupTimings } from '../src/backend/cpu/sparse-chooser.ts';
import { stopHelpers, WasmHeap, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { threadsSupported } from '../src/backend/cpu/wasm/threads.ts';
import { matmul, matmulBiasAct, type MatmulShape } from '../src/ops/matmul.ts';
import type { BufRange, PlanStep, StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr } from './support/op-harness.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';

const values: StepValues = { lr: 0, t: 1, batchStart: 0 };
const pad = (n: number) => Math.ceil(n / 64) * 64;

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

interface Io {
  step: PlanStep;
  c: BufRange;
  out?: BufRange;
}

/** One product (fused with bias + relu when `fused`) as a plan step over one arena. */
function productStep(shape: MatmulShape, fused: boolean): Io & { a: BufRange; b: BufRange; bias: BufRange; size: number } {
  const { M, N, K } = shape;
  const r = (offset: number, length: number): BufRange => ({ arena: 'x', offset, length });
  const a = r(0, M * K);
  const b = r(pad(M * K), K * N);
  const bias = r(b.offset + pad(K * N), N);
  const c = r(bias.offset + pad(N), M * N);
  const out = r(c.offset + pad(M * N), M * N);
  const step = fused ? matmulBiasAct('fwd', shape, 1, 0, { a, b, bias, z: c, out }) : matmul('mm', shape, { a, b, c });
  return { step, a, b, bias, c, out: fused ? out : undefined, size: out.offset + M * N };
}

async function runOnce(options: CpuBackendOptions, shape: MatmulShape, fused: boolean, data: { a: Float32Array; b: Float32Array; bias: Float32Array }) {
  const be = new CpuBackend('float32', { threads: 1, ...options });
  const io = productStep(shape, fused);
  be.allocate({ x: io.size });
  be.writeF(io.a, data.a);
  be.writeF(io.b, data.b);
  be.writeF(io.bias, data.bias);
  await be.prepare([io.step]);
  be.run([io.step], values);
  const c = (await be.readF(io.c)) as Float32Array;
  const out = io.out ? ((await be.readF(io.out)) as Float32Array) : undefined;
  const result = { c, out, stats: be.sparseStats, wasm: be.wasmStats };
  be.destroy();
  return result;
}

const products: [string, (B: number, nIn: number, nOut: number) => MatmulShape, boolean][] = [
  ['forward X·Wᵀ + b, relu', (B, nIn, nOut) => ({ M: B, N: nOut, K: nIn, transA: false, transB: true }), true],
  ['dX = dZ·W', (B, nIn, nOut) => ({ M: B, N: nIn, K: nOut, transA: false, transB: false }), false],
  ['dW = dZᵀ·X', (B, nIn, nOut) => ({ M: nOut, N: nIn, K: B, transA: true, transB: false }), false],
];
// Batch, inputs, outputs: batch 1, odd sizes, sizes either side of one and two of the sparse
// kernels' 24-wide column panels (23, 25, 29, 48, 49), and a paper layer.
const layers: [number, number, number][] = [
  [1, 37, 29],
  [1, 784, 1000],
  [7, 33, 65],
  [13, 100, 31],
  [64, 784, 1000],
  [5, 3, 4],
  [9, 49, 48],
  [2, 23, 25],
];

/** Runs f with the process-wide start-up timings empty, then puts back what was there. */
async function withoutStartupTimings(f: () => void | Promise<void>): Promise<void> {
  const saved = new Map(startupTimings);
  startupTimings.clear();
  try {
    await f();
  } finally {
    startupTimings.clear();
    for (const [k, v] of saved) startupTimings.set(k, v);
  }
}

describe.runIf(wasmModules() !== undefined)('sparse-aware WebAssembly matmul', () => {
  const rng = new Rng(91);
  it.each(products)('%s: the sparse path equals the dense one at densities 0, 1 %, 10 %, 50 %, 100 %', async (_, shapeFor, fused) => {
    for (const [B, nIn, nOut] of layers) {
      const shape = shapeFor(B, nIn, nOut);
      const { M, N, K } = shape;
      for (const density of [0, 0.01, 0.1, 0.5, 1]) {
        const data = { a: sparseData(rng, M * K, density), b: rng.fill(K * N), bias: rng.fill(N) };
        const dense = await runOnce({ sparse: 'off' }, shape, fused, data);
        const sparse = await runOnce({ sparse: 'on' }, shape, fused, data);
        const what = `${M}×${N}×${K} at density ${density}`;
        expect(sparse.wasm?.spmms, what).toBe(1);
        expect(dense.wasm?.spmms, what).toBe(0);
        const st = sparse.stats?.[sparse.stats && Object.keys(sparse.stats)[0]];
        const want = density === 0 ? 0 : Math.max(1, Math.round(density * M * K)) / (M * K);
        expect(st?.path).toBe('sparse');
        expect(st?.density, what).toBeCloseTo(want, 12);
        // 'off' runs dense but still counts the density it saw.
        const off = dense.stats?.[dense.stats && Object.keys(dense.stats)[0]];
        expect(off?.path, what).toBe('dense');
        expect(off?.crossover).toBe(0);
        expect(off?.density, what).toBe(st?.density);
        expect(off?.meanDensity, what).toBe(st?.meanDensity);
        expect(maxRelErr(dense.c, sparse.c), what).toBeLessThan(1e-4);
        if (fused) expect(maxRelErr(dense.out!, sparse.out!), what).toBeLessThan(1e-4);
        if (density === 0) {
          // Nothing to sum: the product is exactly zero, z the bias and out relu(bias).
          let wrong = 0;
          for (let i = 0; i < M * N; i++) {
            const want = fused ? data.bias[i % N] : 0;
            if (!Object.is(sparse.c[i], want)) wrong++;
            if (fused && sparse.out![i] !== (want > 0 ? want : 0)) wrong++;
          }
          expect(wrong, what).toBe(0);
        } else {
          expect(sparse.c.some((v) => v !== 0)).toBe(true);
        }
      }
    }
  });

  it("'auto' switches paths at the crossover density it estimates for the product", async () => {
    const shape: MatmulShape = { M: 64, N: 1000, K: 784, transA: false, transB: true };
    const be = new CpuBackend('float32', { threads: 1, sparse: 'auto' });
    const io = productStep(shape, true);
    be.allocate({ x: io.size });
    be.writeF(io.b, rng.fill(shape.K * shape.N));
    be.writeF(io.bias, rng.fill(shape.N));
    const t0 = performance.now();
    await be.prepare([io.step]);
    expect(performance.now() - t0, 'the start-up measurement is bounded').toBeLessThan(1000);
    expect(startupTimings.has('64×1000×784 NT/1'), 'the shape was timed at start-up').toBe(true);
    const path = (density: number) => {
      be.writeF(io.a, sparseData(rng, shape.M * shape.K, density));
      be.run([io.step], values);
      return be.sparseStats!.fwd;
    };
    const first = path(0.5);
    expect(first.shape).toBe('64×1000×784 NT');
    // Skipping 95 % of the terms wins on any machine.
    expect(first.crossover).toBeGreaterThan(0.05);
    // Each step takes the path the crossover reported after the step before says (the
    // estimate moves with every step's time), or the other one when it is a probe.
    let cross = first.crossover;
    let steps = 1;
    let probes = first.probes;
    const densities = [1, 0.5, 0.02];
    for (let k = 0; k < 4; k++) densities.push(cross / 2, Math.min(1, cross + 0.02), Math.max(0, cross - 0.02));
    for (const d of densities) {
      const st = path(d);
      steps++;
      const want = d < cross ? 'sparse' : 'dense';
      expect(st.path, `density ${d} against crossover ${cross}${st.probe ? ' (a probe)' : ''}`).toBe(
        st.probe ? (want === 'sparse' ? 'dense' : 'sparse') : want,
      );
      // A product with no zeros is never probed on the sparse path.
      if (d === 1) expect(st.path).toBe('dense');
      probes += st.probe ? 1 : 0;
      cross = st.crossover;
    }
    expect(be.sparseStats!.fwd.steps).toBe(steps);
    expect(be.sparseStats!.fwd.probes).toBe(probes);
    // Probes only while a path has few runs of its own (at most 3 each).
    expect(probes).toBeLessThanOrEqual(6);
    be.destroy();
  });

  it('an untimed shape starts from a timed shape of its kind scaled by M·N·K, else from another kind, else the default', () =>
    withoutStartupTimings(() => {
      const chooser = new PathChooser();
      const info = (M: number, N: number, K: number, kind: string): ShapeInfo => ({ key: `${M}×${N}×${K} ${kind}/1`, kind, work: M * N * K, threads: 1 });
      const wide = info(256, 1000, 1000, 'NT');
      expect(chooser.estimate('fwd', wide, 0.5)).toEqual({ crossover: DEFAULT_CROSSOVER, denseKnown: false, sparseKnown: false });
      startupTimings.set('64×1000×1000 NT/1', { denseMs: 3, crossover: 0.4 });
      startupTimings.set('64×1000×784 TN/1', { denseMs: 2, crossover: 0.8 });
      startupTimings.set('64×1000×784 NT/2', { denseMs: 1, crossover: 0.9 }); // another thread count: not this setting
      const e = chooser.estimate('fwd', wide, 0.5);
      expect(e.crossover).toBeCloseTo(0.4, 12);
      expect(e.denseMs).toBeCloseTo(12, 12); // 4× the work of the timed NT shape
      expect(e.sparseMs).toBeCloseTo((12 / 0.4) * 0.5, 12);
      expect([e.denseKnown, e.sparseKnown]).toEqual([false, false]);
      // No timed shape of kind NN: from the other kinds (median of 0.4 and 0.8 is taken as the upper one).
      expect(chooser.estimate('dX', info(256, 1000, 1000, 'NN'), 0.5).crossover).toBeCloseTo(0.8, 12);
      // A shape timed itself starts from its own timing.
      const own = chooser.estimate('dW', info(64, 1000, 784, 'TN'), 0.5);
      expect([own.crossover, own.denseMs]).toEqual([0.8, 2]);
    }));

  it('the chooser follows the times the products take: a wrong start-up crossover is corrected by its own runs', () =>
    withoutStartupTimings(() => {
      const s: ShapeInfo = { key: '64×1000×1000 NT/1', kind: 'NT', work: 64e6, threads: 1 };
      // The start-up timing (as under load) said sparse only below 5 %; really the sparse path costs
      // 10 ms per unit of density and the dense one 8 ms: sparse below 0.8.
      startupTimings.set(s.key, { denseMs: 8, crossover: 0.05 });
      const chooser = new PathChooser();
      const paths: string[] = [];
      let probes = 0;
      for (let k = 0; k < 200; k++) {
        const d = 0.5;
        const { sparse, probe } = chooser.choose('fwd', s, d);
        probes += +probe;
        paths.push(sparse ? 'sparse' : 'dense');
        // Every eleventh run is slowed 5× by other work on the cores.
        const noise = k % 11 === 5 ? 5 : 1;
        chooser.observe('fwd', s, sparse, d, (sparse ? 10 * d : 8) * noise);
      }
      // Dense at first; a probe soon times the sparse path; sparse from then on, but for a few probes.
      expect(paths[0]).toBe('dense');
      const firstSparse = paths.indexOf('sparse');
      expect(firstSparse).toBeGreaterThan(0);
      expect(firstSparse).toBeLessThanOrEqual(4);
      const late = paths.slice(firstSparse + 3);
      expect(late.filter((p) => p === 'dense').length, 'dense runs after converging (probes only)').toBeLessThanOrEqual(Math.ceil(late.length / 32));
      expect(chooser.estimate('fwd', s, 0.5).crossover).toBeCloseTo(0.8, 12);
      expect(probes).toBeLessThanOrEqual(8);
    }));

  it('slow first runs of a path (baseline code, cold pages) do not hold a product on the other path', () =>
    withoutStartupTimings(() => {
      // As measured on the paper's first layer: dense 1.6 ms; sparse 0.65 ms at 19 % density,
      // but 2.8 and 1.9 ms on its first two runs. The start-up timing had it right (0.7).
      const s: ShapeInfo = { key: '64×1000×784 NT/2', kind: 'NT', work: 50e6, threads: 2 };
      startupTimings.set(s.key, { denseMs: 1.6, crossover: 0.7 });
      const chooser = new PathChooser();
      const first = [2.8, 1.9];
      let sparseRuns = 0;
      const paths: string[] = [];
      for (let k = 0; k < 100; k++) {
        const { sparse } = chooser.choose('forward 0', s, 0.19);
        paths.push(sparse ? 'sparse' : 'dense');
        chooser.observe('forward 0', s, sparse, 0.19, sparse ? (first[sparseRuns++] ?? 0.65) : 1.6);
      }
      const late = paths.slice(EXPLORE_STEPS);
      expect(late.filter((p) => p === 'dense').length, paths.join(' ')).toBeLessThanOrEqual(Math.ceil(late.length / 32));
      expect(chooser.estimate('forward 0', s, 0.19).crossover).toBeCloseTo(1.6 / (0.65 / 0.19), 12);
    }));

  it('an all-zero operand (a dead layer) after both paths are known: sparse, no crash, the rarest probe', () =>
    withoutStartupTimings(() => {
      const s: ShapeInfo = { key: '64×1000×1000 NN/1', kind: 'NN', work: 64e6, threads: 1 };
      startupTimings.set(s.key, { denseMs: 8, crossover: 0.5 });
      const chooser = new PathChooser();
      // Both paths known from runs of their own at a live density.
      for (let k = 0; k < 12; k++) {
        const { sparse } = chooser.choose('dX', s, 0.3);
        chooser.observe('dX', s, sparse, 0.3, sparse ? 10 * 0.3 : 8);
      }
      // Then the layer dies: op(A) is all zeros, the sparse path costs nothing.
      const paths: boolean[] = [];
      for (let k = 0; k < 300; k++) {
        const { sparse } = chooser.choose('dX', s, 0);
        paths.push(sparse);
        chooser.observe('dX', s, sparse, 0, sparse ? 0 : 8);
      }
      expect(paths.every((p) => p)).toBe(true);
      expect(chooser.estimate('dX', s, 0).crossover).toBeGreaterThan(0);
    }));

  it.each(['dense', 'sparse'] as const)('with no start-up budget, the chooser converges to the faster path when the %s path is made slow', (slow) =>
    withoutStartupTimings(async () => {
      const shape: MatmulShape = { M: 64, N: 1000, K: 784, transA: false, transB: true };
      const be = new CpuBackend('float32', { threads: 1, sparse: 'auto', sparseBudgetMs: 0 });
      try {
        const io = productStep(shape, true);
        be.allocate({ x: io.size });
        be.writeF(io.b, rng.fill(shape.K * shape.N));
        be.writeF(io.bias, rng.fill(shape.N));
        await be.prepare([io.step]);
        expect(startupTimings.size, 'nothing timed at start-up').toBe(0);
        // The real products, with 30 ms of busy waiting added to one path.
        const heap = (be as unknown as { heap: WasmHeap }).heap;
        const spin = () => {
          const t = performance.now();
          while (performance.now() - t < 30);
        };
        for (const name of slow === 'dense' ? (['gemm'] as const) : (['spmm', 'spmmT'] as const)) {
          const f = heap[name].bind(heap) as (...args: unknown[]) => unknown;
          Object.assign(heap, { [name]: (...args: unknown[]) => (spin(), f(...args)) });
        }
        // Sparse at 10 % and dense at 40 % by the default crossover: each starts on the slow path.
        const density = slow === 'dense' ? 0.4 : 0.1;
        const data = sparseData(rng, shape.M * shape.K, density);
        be.writeF(io.a, data);
        const paths: string[] = [];
        for (let k = 0; k < EXPLORE_STEPS + 6; k++) {
          be.run([io.step], values);
          paths.push(be.sparseStats!.fwd.path);
        }
        expect(paths[0]).toBe(slow);
        // Once each path has had its warm-up runs and runs of its own (the exploring), only the fast one.
        const fast = slow === 'dense' ? 'sparse' : 'dense';
        expect(paths.slice(EXPLORE_STEPS), paths.join(' ')).toEqual(Array(6).fill(fast));
        const cross = be.sparseStats!.fwd.crossover;
        expect(slow === 'dense' ? cross > density : cross < density, `crossover ${cross}`).toBe(true);
        // The values are those of the dense product whatever the path (up to the summation order).
        const c = (await be.readF(io.c)) as Float32Array;
        const ref = await runOnce({ sparse: 'off' }, shape, true, {
          a: data,
          b: (await be.readF(io.b)) as Float32Array,
          bias: (await be.readF(io.bias)) as Float32Array,
        });
        expect(maxRelErr(ref.c, c)).toBeLessThan(1e-4);
      } finally {
        be.destroy();
      }
    }),
  );

  it('rejects an unknown mode with a one-line message', () => {
    expect(() => new CpuBackend('float32', { sparse: 'maybe' as 'on' })).toThrow('CpuBackend option sparse must be one of auto, on, off, not "maybe"');
  });

  it("200 training steps with sparse 'on' follow the dense trajectory and report the same telemetry", async () => {
    const opts = trainerOptions({ l1: 0.001, optimizer: { ...trainerOptions().optimizer, kind: 'momentum' }, lr: 0.02 });
    const denseBe = new CpuBackend('float32', { threads: 1, sparse: 'off' });
    const sparseBe = new CpuBackend('float32', { threads: 1, sparse: 'on' });
    const dense = await collect((await trainer(denseBe, smallModel(), opts)).run(200));
    const sparse = await collect((await trainer(sparseBe, smallModel(), opts)).run(200));
    expect(sparse).toHaveLength(200);
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      expect(sparse[i].step).toBe(dense[i].step);
      worst = Math.max(worst, Math.abs(sparse[i].loss - dense[i].loss) / Math.max(1, dense[i].loss));
      for (let h = 0; h < 2; h++) {
        expect(Math.abs(sparse[i].sparsity[h] - dense[i].sparsity[h])).toBeLessThan(0.01);
        expect(Math.abs(sparse[i].deadUnits[h] - dense[i].deadUnits[h])).toBeLessThanOrEqual(1);
      }
    }
    // Only the summation order differs (exact zeros are left out), as between the CPU and GPU.
    expect(worst).toBeLessThan(1e-3);
    // Every product of every step ran sparse: 3 forward, 2 dX and 3 dW per step.
    const st = sparseBe.sparseStats!;
    expect(Object.keys(st).sort()).toEqual(['dW 0', 'dW 1', 'dW 2', 'dX 1', 'dX 2', 'forward 0', 'forward 1', 'forward 2']);
    for (const s of Object.values(st)) expect(s.sparseSteps).toBe(200);
    expect(sparseBe.wasmStats?.spmms).toBe(200 * 8);
    // Hidden layers' relu outputs and their deltas are sparse; the synthetic pixels are not.
    expect(st['forward 1'].density).toBeLessThan(0.9);
    expect(st['dW 1'].density).toBeLessThan(0.9);
    // dX under a relu was computed only where the layer below is active.
    for (const k of ['dX 1', 'dX 2']) expect(st[k].maskDensity, k).toBeGreaterThan(0);
    for (const k of ['dX 1', 'dX 2']) expect(st[k].maskDensity, k).toBeLessThan(0.9);
    // 'off' ran every product dense and saw the same densities (up to the rounding that
    // moves a few units across zero).
    const off = denseBe.sparseStats!;
    expect(Object.keys(off).sort()).toEqual(Object.keys(st).sort());
    expect(denseBe.wasmStats?.spmms).toBe(0);
    for (const [k, s] of Object.entries(off)) {
      expect(s.path, k).toBe('dense');
      expect([s.steps, s.sparseSteps], k).toEqual([200, 0]);
      expect(Math.abs(s.meanDensity - st[k].meanDensity), k).toBeLessThan(0.01);
    }
    expect(st['forward 1'].meanDensity).toBeLessThan(0.9);
    denseBe.destroy();
    sparseBe.destroy();
  });
});

describe.runIf(wasmModules() !== undefined && threadsSupported())('sparse-aware WebAssembly matmul on two threads', () => {
  it('splitting the columns (and the transpose) across a worker gives the very same bits as one thread', async () => {
    const rng = new Rng(17);
    for (const [name, shapeFor, fused] of products) {
      for (const [B, nIn, nOut] of [
        [64, 784, 1000],
        [3, 300, 700],
        [17, 1000, 65],
      ] as const) {
        const shape = shapeFor(B, nIn, nOut);
        const { M, N, K } = shape;
        const data = { a: sparseData(rng, M * K, 0.15), b: rng.fill(K * N), bias: rng.fill(N) };
        const one = await runOnce({ sparse: 'on', threads: 1 }, shape, fused, data);
        const two = await runOnce({ sparse: 'on', threads: 2, splitAbove: 1 }, shape, fused, data);
        expect(two.wasm?.spmms).toBe(1);
        expect(two.wasm?.split, `${name} ${M}×${N}×${K}`).toBe(N >= 64 ? 1 : 0);
        expect(Array.from(two.c), `${name} ${M}×${N}×${K}`).toEqual(Array.from(one.c));
      }
    }
  });

  it('B stored transposed: panels transposed in each thread’s scratch give the bits of a full transpose then spmm', async () => {
    const rng = new Rng(23);
    // Batch 1, odd sizes, widths around the 24-wide panels, a paper layer; K past one transpose
    // tile, and past one L1 block of a panel's rows (341).
    for (const [M, N, K] of [
      [1, 29, 37],
      [3, 47, 400],
      [7, 65, 33],
      [13, 31, 100],
      [64, 1000, 784],
      [5, 96, 130],
    ] as const) {
      for (const threads of threadsSupported() ? [1, 2] : [1]) {
        const heap = WasmHeap.create({ threads, splitAbove: 1 })!;
        if (threads > 1) expect(await heap.warmUp()).toBe(1);
        const [a, bt, cnt, idx, val, b, c1, c2] = heap.reserve([M * K * 4, N * K * 4, M * 4, M * K * 4, M * K * 4, K * N * 4, M * N * 4, M * N * 4]);
        const f = (at: number, n: number) => new Float32Array(heap.memory.buffer, at, n);
        f(a, M * K).set(sparseData(rng, M * K, 0.2));
        f(bt, N * K).set(rng.fill(N * K));
        heap.compactRows(false, M, K, a, cnt, idx, val);
        heap.transpose(N, K, bt, b);
        heap.spmm(M, N, K, cnt, idx, val, b, c1);
        const split = heap.stats.split;
        expect(heap.spmmT(M, N, K, cnt, idx, val, bt, c2)).toBe(true);
        if (threads > 1) expect(heap.stats.split - split, `${M}×${N}×${K}`).toBe(N >= 64 ? 1 : 0);
        expect(Array.from(f(c2, M * N)), `${M}×${N}×${K}, ${threads} threads`).toEqual(Array.from(f(c1, M * N)));
        heap.release();
      }
    }
  });
});
