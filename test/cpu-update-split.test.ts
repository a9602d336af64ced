// The SGD / momentum update of a large parameter buffer in fixed chunks, on one thread and
// split across a helper: the twin's arithmetic bit for bit (parameters and moments), and
// the same sum of squares whoever ran the chunks.
import { afterAll, describe, expect, it } from 'vitest';
import { stopHelpers, WasmHeap, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { threadsSupported } from '../src/backend/cpu/wasm/threads.ts';
import { Rng } from '../src/util/rng.ts';

afterAll(() => stopHelpers());

/** The optimiser twin's formula, in f32 (every operation rounded), as the WGSL computes it; Σ g² in doubles (exact). */
function reference(p: Float32Array, g: Float32Array, m: Float32Array | undefined, lr: number, mu: number, wd: number, clip: number): number {
  const f = Math.fround;
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    let t = f(f(g[i] * f(clip)) + f(f(wd) * p[i]));
    if (m) {
      t = f(f(f(mu) * m[i]) + t);
      m[i] = t;
    }
    p[i] = f(p[i] - f(f(lr) * t));
    s += g[i] * g[i];
  }
  return s;
}

/** A heap on `threads` threads (helpers started) holding copies of the parameters, gradients and moments. */
async function heapWith(threads: number, p0: Float32Array, g: Float32Array, m0: Float32Array) {
  const n = p0.length;
  const heap = WasmHeap.create({ threads, splitAbove: 1 })!;
  if (threads > 1) expect(await heap.warmUp()).toBe(1);
  const [pp, gg, mm] = heap.reserve([n * 4, n * 4, n * 4]);
  const f = (at: number) => new Float32Array(heap.memory.buffer, at, n);
  f(pp).set(p0);
  f(gg).set(g);
  f(mm).set(m0);
  return { heap, pp, gg, mm, f };
}

describe.runIf(wasmModules() !== undefined)('chunked parameter update', () => {
  it('gives the twin’s parameters and moments bit for bit, on one thread and split, with the same sums', async () => {
    const rng = new Rng(4);
    // Past one chunk (2^16) and the split threshold (2^18), not a multiple of 4; and a small one.
    for (const n of [300_001, 70_000, 1_001]) {
      for (const momentum of [false, true]) {
        const p0 = rng.fill(n, -1, 1);
        const g = rng.fill(n, -0.1, 0.1);
        const m0 = rng.fill(n, -0.05, 0.05);
        const [lr, mu, wd, clip] = [0.03, 0.9, 1e-4, 0.7];
        const want = { p: Float32Array.from(p0), m: Float32Array.from(m0) };
        const wantSq = reference(want.p, g, momentum ? want.m : undefined, lr, mu, wd, clip);
        const sums: number[] = [];
        const results: Float32Array[][] = [];
        for (const threads of threadsSupported() ? [1, 2] : [1]) {
          const { heap, pp, gg, mm, f } = await heapWith(threads, p0, g, m0);
          const split = heap.stats.splitUpdates;
          sums.push(heap.update(pp, gg, momentum ? mm : 0, n, lr, mu, wd, clip, true));
          if (threads > 1) expect(heap.stats.splitUpdates - split, `${n}`).toBe(n >= 1 << 18 ? 1 : 0);
          results.push([Float32Array.from(f(pp)), Float32Array.from(f(mm))]);
          heap.release();
        }
        const what = `n ${n}, ${momentum ? 'momentum' : 'sgd'}`;
        for (const [p, m] of results) {
          expect(Array.from(p), what).toEqual(Array.from(want.p));
          expect(Array.from(m), what).toEqual(Array.from(momentum ? want.m : m0));
        }
        expect(new Set(sums).size, what).toBe(1);
        // Squares summed in f32 within blocks of 128, in f64 across them (assembly/matmul.ts, SQ_BLOCK).
        expect(Math.abs(sums[0] - wantSq) / wantSq, what).toBeLessThan(2e-6);
      }
    }
  });

  it('sums each piece on its own in one pass, the same on one thread and split, with the parameters of a plain update', async () => {
    const rng = new Rng(9);
    const n = 300_003;
    const p0 = rng.fill(n, -1, 1);
    const g = rng.fill(n, -0.1, 0.1);
    const m0 = rng.fill(n, -0.05, 0.05);
    const [lr, mu, wd, clip] = [0.02, 0.9, 0, 1];
    // Gaps, adjacent pieces, pieces across a chunk's end (2^16) and not on multiples of 4,
    // a piece of one parameter; and more pieces than the chunk table holds (one update each).
    const layouts = [
      [
        { from: 5, length: 70_001 },
        { from: 70_006, length: 3 },
        { from: 70_009, length: 1 },
        { from: 131_000, length: 169_000 },
      ],
      Array.from({ length: 5000 }, (_, k) => ({ from: 60 * k + 1, length: 7 })),
    ];
    for (const pieces of layouts) {
      const exact = pieces.map(({ from, length }) => {
        let s = 0;
        for (let i = from; i < from + length; i++) s += g[i] * g[i];
        return s;
      });
      const want = { p: Float32Array.from(p0), m: Float32Array.from(m0) };
      reference(want.p, g, want.m, lr, mu, wd, clip);
      const runs: number[][] = [];
      for (const threads of threadsSupported() ? [1, 2] : [1]) {
        const { heap, pp, gg, mm, f } = await heapWith(threads, p0, g, m0);
        const split = heap.stats.splitUpdates;
        const sums = heap.updatePieces(pp, gg, mm, n, lr, mu, wd, clip, pieces);
        if (threads > 1 && pieces.length < 10) expect(heap.stats.splitUpdates - split).toBe(1);
        expect(Array.from(f(pp))).toEqual(Array.from(want.p));
        expect(Array.from(f(mm))).toEqual(Array.from(want.m));
        sums.forEach((s, k) => expect(Math.abs(s - exact[k]), `piece ${k}`).toBeLessThanOrEqual(2e-6 * exact[k]));
        runs.push(sums);
        heap.release();
      }
      for (const r of runs) expect(r).toEqual(runs[0]);
    }
  });
});
