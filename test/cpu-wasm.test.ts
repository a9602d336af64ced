// The CPU backend's WebAssembly SIMD matmul: against the TypeScript twin on many shapes,
// split across threads, inside a training run, and across a second allocate().
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend, type CpuBackendOptions } from '../src/backend/cpu/cpu-backend.ts';
import { matmulBlocked } from '../src/backend/cpu/matmul-fast.ts';
import { stopHelpers, WasmHeap, wasmBiasAct, wasmMatmul, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { threadsSupported } from '../src/backend/cpu/wasm/threads.ts';
import { activate } from '../src/ops/activations.ts';
import { matmul, matmulBiasAct, matmulCpu, type MatmulShape } from '../src/ops/matmul.ts';
import type { BufRange, StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr } from './support/op-harness.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';

const values: StepValues = { lr: 0, t: 1, batchStart: 0 };
const pad = (n: number) => Math.ceil(n / 64) * 64;

afterAll(() => stopHelpers());

/** C = op(A)·op(B) on a fresh backend, through a plan step, with A and B from the given arrays. */
async function product(backend: CpuBackend, shape: MatmulShape, a: Float32Array, b: Float32Array): Promise<Float32Array> {
  const { M, N, K } = shape;
  const ra: BufRange = { arena: 'ab', offset: 0, length: M * K };
  const rb: BufRange = { arena: 'ab', offset: pad(M * K), length: K * N };
  const rc: BufRange = { arena: 'c', offset: 0, length: M * N };
  const step = matmul('mm', shape, { a: ra, b: rb, c: rc });
  backend.allocate({ ab: rb.offset + K * N, c: M * N });
  backend.writeF(ra, a);
  backend.writeF(rb, b);
  await backend.prepare([step]);
  backend.run([step], values);
  return (await backend.readF(rc)) as Float32Array;
}

/** Shapes for one transpose case: edge sizes, odd sizes, and some beyond the cache blocks. */
function shapes(transA: boolean, transB: boolean, rng: Rng): MatmulShape[] {
  const fixed: [number, number, number][] = [
    [1, 1, 1],
    [1, 9, 7],
    [7, 1, 5],
    [5, 3, 1],
    [4, 8, 4],
    [3, 7, 2],
    [9, 17, 33],
    [13, 15, 255],
    [33, 47, 257],
    [64, 1000, 20],
    [20, 24, 17],
    [130, 520, 300], // beyond MC = 128 rows, NC = 512 columns, KC = 256
    [16, 5, 24],
  ];
  const out = fixed.map(([M, N, K]) => ({ M, N, K, transA, transB }));
  while (out.length < 24) {
    const r = () => 1 + rng.int(rng.next() < 0.5 ? 12 : 160);
    out.push({ M: r(), N: r(), K: r(), transA, transB });
  }
  return out;
}

/** op(A)'s nonzeros row by row, read off directly: [columns, values] in column order (NaN listed, ±0 not). */
function nonzeroLists(a: Float32Array, m: number, k: number, transA: boolean): [number[], number[]][] {
  const at = (i: number, j: number) => (transA ? a[j * m + i] : a[i * k + j]);
  return Array.from({ length: m }, (_, i) => {
    const cols = Array.from({ length: k }, (_, j) => j).filter((j) => at(i, j) !== 0);
    return [cols, cols.map((j) => at(i, j))];
  });
}

/** compactRows on a copy of op(A) in the heap: its total, the counts and each row's listed entries (only those are defined). */
function compactIn(heap: WasmHeap, a: Float32Array, m: number, k: number, transA: boolean) {
  const [at, cnt, idx, val] = heap.reserve([m * k * 4, m * 4, m * k * 4, m * k * 4]);
  new Float32Array(heap.memory.buffer, at, m * k).set(a);
  const total = heap.compactRows(transA, m, k, at, cnt, idx, val);
  const counts = Array.from(new Int32Array(heap.memory.buffer, cnt, m));
  const I = new Uint32Array(heap.memory.buffer, idx, m * k);
  const V = new Float32Array(heap.memory.buffer, val, m * k);
  const lists = counts.map((c, i) => [Array.from(I.subarray(i * k, i * k + c)), Array.from(V.subarray(i * k, i * k + c))]);
  return { total, counts, lists, at };
}

describe('cache-blocked TypeScript matmul (the fast path without WebAssembly)', () => {
  const rng = new Rng(77);
  it.each([
    [false, true],
    [false, false],
    [true, false],
    [true, true],
  ])('transA=%s transB=%s equals the plain twin on 24 shapes, float32 and float64', (transA, transB) => {
    for (const { M, N, K } of shapes(transA, transB, rng)) {
      for (const make of [(n: number) => rng.fill(n), (n: number) => Float64Array.from(rng.fill(n))]) {
        const a = make(M * K);
        const b = make(K * N);
        const ref = a instanceof Float32Array ? new Float32Array(M * N) : new Float64Array(M * N);
        const got = a instanceof Float32Array ? new Float32Array(M * N) : new Float64Array(M * N);
        got.fill(Number.NaN); // overwritten, never accumulated into
        matmulCpu(M, N, K, transA, transB, a, b, ref);
        matmulBlocked(M, N, K, transA, transB, a, b, got);
        expect(maxRelErr(ref, got), `${M}×${N}×${K}`).toBeLessThan(a instanceof Float32Array ? 1e-4 : 1e-12);
      }
    }
  });
});

describe.runIf(wasmModules() !== undefined)('WebAssembly SIMD matmul', () => {
  const rng = new Rng(2024);
  const cases: [string, boolean, boolean][] = [
    ['X·Wᵀ (transB)', false, true],
    ['dZ·W', false, false],
    ['dZᵀ·X (transA)', true, false],
    ['both transposed', true, true],
  ];
  it.each(cases)('%s equals the TypeScript twin on 24 shapes', async (_, transA, transB) => {
    for (const shape of shapes(transA, transB, rng)) {
      const { M, N, K } = shape;
      const a = rng.fill(M * K);
      const b = rng.fill(K * N);
      const ref = new Float32Array(M * N);
      matmulCpu(M, N, K, transA, transB, a, b, ref);
      const backend = new CpuBackend('float32', { threads: 1 });
      expect(backend.adapter).toContain('WebAssembly');
      const got = await product(backend, shape, a, b);
      const err = maxRelErr(ref, got);
      expect(err, `${M}×${N}×${K} transA=${transA} transB=${transB}`).toBeLessThan(1e-4);
      expect(backend.wasmStats?.gemms).toBe(1);
      backend.destroy();
    }
  });

  it('keeps the bias + activation epilogue: z = product + bias rounded to f32, then out = act(z)', async () => {
    const shape: MatmulShape = { M: 37, N: 29, K: 51, transA: false, transB: true };
    const { M, N, K } = shape;
    const a = rng.fill(M * K);
    const b = rng.fill(K * N);
    const bias = rng.fill(N);
    for (const [act, alpha] of [
      [1, 0],
      [2, 0.1],
      [5, 0],
    ]) {
      const run = async (opts: CpuBackendOptions) => {
        const be = new CpuBackend('float32', opts);
        const r = (offset: number, length: number): BufRange => ({ arena: 'x', offset, length });
        const io = { a: r(0, M * K), b: r(pad(M * K), K * N), bias: r(pad(M * K) + pad(K * N), N), z: r(4096, M * N), out: r(8192, M * N) };
        be.allocate({ x: 8192 + M * N });
        be.writeF(io.a, a);
        be.writeF(io.b, b);
        be.writeF(io.bias, bias);
        be.run([matmulBiasAct('fwd', shape, act, alpha, io)], values);
        return { z: (await be.readF(io.z)) as Float32Array, out: (await be.readF(io.out)) as Float32Array };
      };
      const ts = await run({ wasm: false });
      const wa = await run({ threads: 1 });
      expect(maxRelErr(ts.z, wa.z)).toBeLessThan(1e-5);
      for (let i = 0; i < M * N; i++) expect(wa.out[i]).toBe(Math.fround(activate(act, alpha, wa.z[i])));
    }
  });

  it("the wasm epilogue (linear, relu) gives the TypeScript bits, NaN, ±0 and ±∞ included, and adds up each column's zeros", () => {
    // Rows in blocks of four and the rest; N not a multiple of 4: the scalar tail too.
    for (const M of [1, 4, 7, 9]) {
      const N = 13;
      const be = new CpuBackend('float32', { threads: 1 });
      be.allocate({ x: 4 * 128 });
      const z: BufRange = { arena: 'x', offset: 0, length: M * N };
      const bias: BufRange = { arena: 'x', offset: 128, length: N };
      const out: BufRange = { arena: 'x', offset: 256, length: M * N };
      const counts: BufRange = { arena: 'x', offset: 384, length: N };
      const special = [NaN, 0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38];
      const zs = Float32Array.from({ length: M * N }, (_, i) => (i % 5 === 0 ? special[(i / 5) % special.length] : rng.uniform(-2, 2)));
      const bs = Float32Array.from({ length: N }, (_, j) => (j % 4 === 1 ? special[j % special.length] : rng.uniform(-1, 1)));
      for (const act of [0, 1]) {
        be.writeF(z, zs);
        be.writeF(bias, bs);
        const v = (r: BufRange) => be.view(r).f;
        const u = be.view(counts).u;
        const zeros = new Int32Array(u.buffer, u.byteOffset, N);
        const before = Int32Array.from({ length: N }, (_, j) => 3 * j);
        zeros.set(before);
        expect(wasmBiasAct(M, N, act, v(z), v(bias), v(out), zeros)).toBe(true);
        for (let i = 0; i < M * N; i++) {
          const want = Math.fround(zs[i] + bs[i % N]);
          expect(Object.is(v(z)[i], want), `M ${M}: z[${i}]`).toBe(true);
          expect(Object.is(v(out)[i], Math.fround(activate(act, 0, want))), `M ${M}: out[${i}]`).toBe(true);
        }
        for (let j = 0; j < N; j++) {
          let zero = 0;
          for (let i = 0; i < M; i++) zero += +(v(out)[i * N + j] === 0);
          expect(zeros[j], `M ${M}, act ${act}: column ${j}'s zeros`).toBe(before[j] + zero);
        }
      }
      expect(wasmBiasAct(M, N, 2, be.view(z).f, be.view(bias).f, be.view(out).f)).toBe(false); // leaky: TypeScript
      be.destroy();
    }
  });

  it('runs only on views in its own memory: float64 and plain arrays go to the TypeScript twin', () => {
    const f64 = new CpuBackend('float64');
    expect(f64.adapter).toContain('TypeScript');
    f64.allocate({ x: 16 });
    expect(f64.view({ arena: 'x', offset: 0, length: 16 }).f).toBeInstanceOf(Float64Array);
    expect(f64.wasmStats).toBeUndefined();
    const plain = new Float32Array(4);
    expect(wasmMatmul(2, 2, 1, false, false, plain, plain, plain)).toBe(false);
    const ts = new CpuBackend('float32', { wasm: false });
    expect(ts.adapter).toContain('TypeScript');
  });

  it('allocate() twice: growing the memory keeps the first arenas and their contents', async () => {
    const be = new CpuBackend('float32', { threads: 1 });
    const first: BufRange = { arena: 'first', offset: 3, length: 1000 };
    be.allocate({ first: 1003, small: 5 });
    const data = rng.fill(1000);
    be.writeF(first, data);
    be.writeU({ arena: 'small', offset: 0, length: 5 }, Uint32Array.of(1, 2, 3, 4, 0xffffffff));
    // Several megabytes more: the memory grows (a non-shared memory detaches its old buffer).
    be.allocate({ second: 3_000_000 });
    expect(Array.from((await be.readF(first)) as Float32Array)).toEqual(Array.from(data));
    expect(Array.from(await be.readU({ arena: 'small', offset: 0, length: 5 }))).toEqual([1, 2, 3, 4, 0xffffffff]);
    expect(be.view(first).f.length).toBe(1000);
    // A product across arenas of both allocations.
    const shape: MatmulShape = { M: 10, N: 10, K: 100, transA: false, transB: false };
    const a: BufRange = { arena: 'first', offset: 3, length: 1000 };
    const b: BufRange = { arena: 'second', offset: 64, length: 1000 };
    const c: BufRange = { arena: 'second', offset: 2_000_000, length: 100 };
    const bData = rng.fill(1000);
    be.writeF(b, bData);
    be.run([matmul('mm', shape, { a, b, c })], values);
    const ref = new Float32Array(100);
    matmulCpu(10, 10, 100, false, false, data, bData, ref);
    expect(maxRelErr(ref, (await be.readF(c)) as Float32Array)).toBeLessThan(1e-5);
    expect(be.wasmStats?.gemms).toBe(1);
    be.destroy();
  });

  it('free(): the arena can be made again, zeroed, its memory reused without growing, its neighbours untouched', async () => {
    const be = new CpuBackend('float32', { threads: 1 });
    const big: BufRange = { arena: 'big', offset: 0, length: 500_000 };
    const after: BufRange = { arena: 'after', offset: 0, length: 100 };
    be.allocate({ big: big.length, after: after.length });
    const keep = rng.fill(100);
    be.writeF(big, rng.fill(big.length));
    be.writeF(after, keep);
    be.free(['big', 'nothing-by-that-name']);
    await expect(be.readF(big)).rejects.toThrow(/no arena named big/);
    // Two smaller arenas, one of the same name, fit where the freed one was.
    be.allocate({ big: 200_000, other: 200_000 });
    for (const r of [
      { arena: 'big', offset: 0, length: 200_000 },
      { arena: 'other', offset: 0, length: 200_000 },
    ]) {
      expect((await be.readF(r)).every((x) => x === 0)).toBe(true);
      be.writeF(r, rng.fill(200_000));
    }
    expect(Array.from((await be.readF(after)) as Float32Array)).toEqual(Array.from(keep));
    be.destroy();

    const heap = WasmHeap.create({ threads: 1 })!;
    const [a, b] = heap.reserve([4_000_000, 4_000_000]);
    const size = heap.size;
    heap.giveBack(a, 4_000_000);
    heap.giveBack(b, 4_000_000);
    // The two neighbours merged: one region larger than either fits, and the memory stays as it was.
    const [c] = heap.reserve([7_000_000]);
    expect(c).toBe(a);
    expect(heap.size).toBe(size);
    heap.release();
  });

  it('a small training follows the TypeScript twin within 1e-4 over 50 steps', async () => {
    const ts = await collect((await trainer(new CpuBackend('float32', { wasm: false }), smallModel(), trainerOptions())).run(50));
    const wasm = new CpuBackend('float32', { threads: 1 });
    const wa = await collect((await trainer(wasm, smallModel(), trainerOptions())).run(50));
    expect(wa).toHaveLength(50);
    for (let i = 0; i < 50; i++) {
      expect(wa[i].step).toBe(ts[i].step);
      expect(Math.abs(wa[i].loss - ts[i].loss)).toBeLessThan(1e-4);
    }
    expect(wasm.wasmStats?.gemms).toBeGreaterThanOrEqual(50 * 6);
  });
});

describe.runIf(wasmModules() !== undefined && threadsSupported())('WebAssembly SIMD matmul on two threads', () => {
  it('splitting C across a worker gives the very same bits as one thread', async () => {
    const rng = new Rng(77);
    // The larger side of C is cut at multiples of the register tile: too small a C stays whole.
    for (const [M, N, K, transA, transB, splits] of [
      [64, 1000, 784, false, true, 1],
      [64, 784, 1000, false, false, 1],
      [1000, 784, 64, true, false, 1],
      [37, 21, 300, false, true, 1],
      [300, 9, 33, true, false, 1],
      [3, 20, 3, false, false, 1],
      [3, 3, 3, false, false, 0],
    ] as const) {
      const shape: MatmulShape = { M, N, K, transA, transB };
      const a = rng.fill(M * K);
      const b = rng.fill(K * N);
      const single = new CpuBackend('float32', { threads: 1 });
      const one = await product(single, shape, a, b);
      const two = new CpuBackend('float32', { threads: 2, splitAbove: 1 });
      const got = await product(two, shape, a, b);
      expect(two.wasmStats?.split, `${M}×${N}×${K}`).toBe(splits);
      expect(Array.from(got)).toEqual(Array.from(one));
      single.destroy();
      two.destroy();
    }
  });

  it('compacting op(A) split across a worker gives the same lists and count as one thread', async () => {
    const rng = new Rng(5);
    for (const [m, k, transA] of [
      [256, 1000, false],
      [1000, 256, true],
      [301, 447, false],
      [447, 301, true],
      // op(A) stored transposed with rows too long for the scratch to take it whole: in blocks
      [300, 3000, true],
    ] as const) {
      // relu-like: about half the entries exact zeros
      const a = rng.fill(m * k).map((x) => Math.max(0, x));
      const want = nonzeroLists(a, m, k, transA);
      const run = async (threads: number) => {
        const heap = WasmHeap.create({ threads })!;
        await heap.warmUp();
        const r = compactIn(heap, a, m, k, transA);
        const split = heap.compactionsSplit;
        heap.release();
        return { ...r, split };
      };
      const one = await run(1);
      const two = await run(2);
      expect(one.split).toBe(0);
      expect(two.split, `${m}×${k}`).toBe(1);
      expect(one.total).toBe(one.counts.reduce((s, c) => s + c, 0));
      expect(one.total).toBeGreaterThan(0.3 * m * k);
      expect(one.total).toBeLessThan(0.7 * m * k);
      expect(two.total).toBe(one.total);
      expect(two.counts).toEqual(one.counts);
      expect(two.lists).toEqual(one.lists);
      expect(one.lists).toEqual(want);
    }
  });

  it('compacting op(A) lists exactly its nonzeros (NaN in, −0 out) at relu densities, on shapes around the 16-wide blocks; counting them agrees', () => {
    const rng = new Rng(41);
    const heap = WasmHeap.create({ threads: 1 })!;
    try {
      for (const density of [0, 0.01, 0.04, 0.2, 0.9, 1]) {
        for (const [m, k] of [
          [1, 1],
          [1, 15],
          [3, 16],
          [2, 17],
          [17, 33],
          [64, 1000],
          [5, 784],
        ]) {
          for (const transA of [false, true]) {
            const a = rng.fill(m * k).map((x) => (rng.next() < density ? x || 1 : rng.next() < 0.5 ? 0 : -0));
            // A NaN must be listed (it reaches C in the dense product too).
            if (density > 0) a[(m * k) >> 1] = NaN;
            const want = nonzeroLists(a, m, k, transA);
            const { total, lists, at: ap } = compactIn(heap, a, m, k, transA);
            const what = `${m}×${k}${transA ? 'ᵀ' : ''} at ${density}`;
            expect(lists, what).toEqual(want);
            expect(total, what).toBe(want.reduce((s, [cols]) => s + cols.length, 0));
            // The count the dense path reports its density by.
            expect(heap.countNonzeros(ap, m * k), what).toBe(total);
          }
        }
      }
    } finally {
      heap.release();
    }
  });

  it('the relu backward split across a worker gives the very same bits as one thread', async () => {
    const rng = new Rng(12);
    for (const [rows, units, l1, masked] of [
      [256, 1000, 1e-3, true],
      [256, 1000, 1e-3, false],
      [401, 333, 0.5, true],
      [1, 140001, 0.25, false],
      [131, 1001, 0, false],
    ] as const) {
      const n = rows * units;
      const z = rng.fill(n, -1, 1).map((x) => (rng.next() < 0.3 ? 0 : x));
      const a = z.map((x) => Math.max(0, x));
      const d = rng.fill(n, -1, 1);
      const mask = rng.fill(units).map((x) => (x > 0 ? 1 : 0));
      const run = async (threads: number) => {
        const heap = WasmHeap.create({ threads })!;
        await heap.warmUp();
        const [zp, ap, dp, mp] = heap.reserve([n * 4, n * 4, n * 4, units * 4]);
        const f = (at: number, len: number) => new Float32Array(heap.memory.buffer, at, len);
        f(zp, n).set(z);
        f(ap, n).set(a);
        f(dp, n).set(d);
        f(mp, units).set(mask);
        heap.reluBackward(n, l1, zp, ap, dp, masked ? mp : 0, masked ? units : 1);
        const out = Array.from(new Uint32Array(heap.memory.buffer, dp, n));
        const split = heap.backwardsSplit;
        heap.release();
        return { out, split };
      };
      const one = await run(1);
      const two = await run(2);
      const what = `${rows}×${units}, l1 ${l1}, ${masked ? 'masked' : 'plain'}`;
      expect(one.split).toBe(0);
      expect(two.split, what).toBe(1);
      expect(two.out, what).toEqual(one.out);
      // Changed where z > 0 (kept or moved by l1), zeroed elsewhere.
      const df = new Float32Array(new Uint32Array(one.out).buffer);
      expect(df.some((x, i) => z[i] > 0 && x !== 0)).toBe(true);
      expect(df.every((x, i) => z[i] > 0 || x === 0)).toBe(true);
    }
  });

  it('the double-sparse dW (spmmScatter) split by rows of C gives the very same bits as one thread', async () => {
    const rng = new Rng(9);
    // M units × N inputs, K = batch (op(A) = dZᵀ stored K × M); rows of C cut in chunks.
    for (const [M, N, K, dDz, dX] of [
      [1000, 784, 64, 0.2, 0.1],
      [37, 300, 5, 0.5, 0.5],
      [9, 31, 1, 0.8, 0.8],
    ] as const) {
      const sparse = (n: number, density: number) => rng.fill(n, -1, 1).map((x) => (rng.next() < density ? x : 0));
      const dz = sparse(K * M, dDz);
      const x = sparse(K * N, dX);
      const run = async (threads: number) => {
        const heap = WasmHeap.create({ threads, splitAbove: 1 })!;
        await heap.warmUp();
        const [a, b, cnt, idx, val, bcnt, bidx, bval, c] = heap.reserve([
          K * M * 4,
          K * N * 4,
          M * 4,
          M * K * 4,
          M * K * 4,
          K * 4,
          K * N * 4,
          K * N * 4,
          M * N * 4,
        ]);
        new Float32Array(heap.memory.buffer, a, K * M).set(dz);
        new Float32Array(heap.memory.buffer, b, K * N).set(x);
        new Float32Array(heap.memory.buffer, c, M * N).fill(Number.NaN); // every element must be written
        heap.compactRows(true, M, K, a, cnt, idx, val);
        heap.compactRows(false, K, N, b, bcnt, bidx, bval);
        heap.spmmScatter(M, N, K, cnt, idx, val, bcnt, bidx, bval, c);
        const out = Array.from(new Uint32Array(heap.memory.buffer, c, M * N));
        const split = heap.stats.split;
        heap.release();
        return { out, split };
      };
      const one = await run(1);
      const two = await run(2);
      expect(one.split).toBe(0);
      expect(two.split, `${M}×${N}×${K}`).toBe(1);
      expect(two.out).toEqual(one.out);
      expect(one.out.some((bits) => bits !== 0 && bits !== 0x80000000)).toBe(true);
      expect(one.out.every((bits) => (bits & 0x7fc00000) !== 0x7fc00000)).toBe(true);
    }
  });

  it('a small training split across threads follows the TypeScript twin within 1e-4 over 50 steps', async () => {
    const ts = await collect((await trainer(new CpuBackend('float32', { wasm: false }), smallModel(), trainerOptions())).run(50));
    const two = new CpuBackend('float32', { threads: 2, splitAbove: 1 });
    const wa = await collect((await trainer(two, smallModel(), trainerOptions())).run(50));
    for (let i = 0; i < 50; i++) expect(Math.abs(wa[i].loss - ts[i].loss)).toBeLessThan(1e-4);
    // Split from the first step on (these tiny products may then pause splitting as a loss).
    expect(two.wasmStats?.split).toBeGreaterThan(0);
    expect(two.adapter).toContain('2 threads');
  });

  it('helpers follow the memory as it grows and move between backends', async () => {
    const rng = new Rng(5);
    const shape: MatmulShape = { M: 40, N: 40, K: 40, transA: false, transB: false };
    const a = rng.fill(1600);
    const b = rng.fill(1600);
    const ref = new Float32Array(1600);
    matmulCpu(40, 40, 40, false, false, a, b, ref);
    const x = new CpuBackend('float32', { threads: 2, splitAbove: 1 });
    const y = new CpuBackend('float32', { threads: 2, splitAbove: 1 });
    const step = matmul('mm', shape, {
      a: { arena: 'a', offset: 0, length: 1600 },
      b: { arena: 'b', offset: 0, length: 1600 },
      c: { arena: 'c', offset: 0, length: 1600 },
    });
    for (const be of [x, y]) {
      be.allocate({ a: 1600, b: 1600 });
      be.writeF({ arena: 'a', offset: 0, length: 1600 }, a);
      be.writeF({ arena: 'b', offset: 0, length: 1600 }, b);
    }
    for (const be of [x, y, x]) {
      // C lives in an arena allocated after a grow: the helper must see the larger memory.
      if (!be.wasmStats?.gemms) be.allocate({ pad: 4_000_000, c: 1600 });
      await be.prepare([step]);
      be.run([step], values);
      expect(maxRelErr(ref, (await be.readF({ arena: 'c', offset: 0, length: 1600 })) as Float32Array)).toBeLessThan(1e-5);
    }
    expect(x.wasmStats?.split).toBe(2);
    expect(y.wasmStats?.split).toBe(1);
    x.destroy();
    y.destroy();
  });
});
