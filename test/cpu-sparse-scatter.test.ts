// dW = dZᵀ·X with the layer input X sparse too: the scatter kernel (each term added only at
// X's nonzeros) against spmm (the same values: only terms with a zero factor are left out)
// at many densities and odd shapes, and the backend's choice of it for sparse inputs.
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { stopHelpers, WasmHeap, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { matmul, matmulCpu } from '../src/ops/matmul.ts';
import type { BufRange } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr } from './support/op-harness.ts';

afterAll(() => stopHelpers());

/** Random values, each nonzero with probability `density` (never all zero unless density is 0). */
function sparseData(rng: Rng, n: number, density: number): Float32Array {
  const x = rng.fill(n, -1, 1);
  for (let i = 0; i < n; i++) if (rng.next() >= density) x[i] = 0;
  if (density > 0 && x.every((v) => v === 0)) x[rng.int(n)] = 0.5;
  return x;
}

describe.runIf(wasmModules() !== undefined)('double-sparse dW (scatter)', () => {
  it('gives spmm’s values at densities 0, 1 %, 10 %, 50 %, 100 % of either operand, odd shapes and batch 1', () => {
    const rng = new Rng(8);
    const heap = WasmHeap.create({ threads: 1 })!;
    // M units × N inputs, K = batch (op(A) = dZᵀ is stored K × M).
    for (const [M, N, K] of [
      [29, 37, 1],
      [65, 33, 7],
      [31, 100, 13],
      [1000, 784, 64],
      [4, 3, 5],
    ] as const) {
      const [a, b, cnt, idx, val, bcnt, bidx, bval, c1, c2] = heap.reserve([
        K * M * 4,
        K * N * 4,
        M * 4,
        M * K * 4,
        M * K * 4,
        K * 4,
        K * N * 4,
        K * N * 4,
        M * N * 4,
        M * N * 4,
      ]);
      const f = (at: number, n: number) => new Float32Array(heap.memory.buffer, at, n);
      for (const da of [0, 0.01, 0.1, 0.5, 1]) {
        for (const db of [0, 0.01, 0.1, 0.5, 1]) {
          const what = `${M}×${N}×${K}, dZ ${da}, X ${db}`;
          f(a, K * M).set(sparseData(rng, K * M, da));
          f(b, K * N).set(sparseData(rng, K * N, db));
          f(c2, M * N).fill(Number.NaN); // every element must be written
          heap.compactRows(true, M, K, a, cnt, idx, val);
          heap.spmm(M, N, K, cnt, idx, val, b, c1);
          heap.compactRows(false, K, N, b, bcnt, bidx, bval);
          heap.spmmScatter(M, N, K, cnt, idx, val, bcnt, bidx, bval, c2);
          const want = f(c1, M * N);
          const got = f(c2, M * N);
          let wrong = 0;
          // Equal as numbers (a left-out zero term can only change the sign of a zero).
          for (let i = 0; i < M * N; i++) if (got[i] !== want[i]) wrong++;
          expect(wrong, what).toBe(0);
          if (M === 1000 && da > 0 && db > 0)
            expect(
              got.some((v) => v !== 0),
              what,
            ).toBe(true);
        }
      }
    }
    heap.release();
  });

  async function dW(sparse: 'on' | 'off' | 'auto', xDensity: number) {
    const [M, N, K] = [1000, 1000, 64];
    const rng = new Rng(21);
    const r = (offset: number, length: number): BufRange => ({ arena: 'x', offset, length });
    const a = r(0, K * M);
    const b = r(K * M, K * N);
    const c = r(K * M + K * N, M * N);
    const step = matmul('dW 1', { M, N, K, transA: true, transB: false }, { a, b, c });
    const be = new CpuBackend('float32', { threads: 1, sparse });
    be.allocate({ x: c.offset + M * N });
    be.writeF(a, sparseData(rng, K * M, 0.2));
    be.writeF(b, sparseData(rng, K * N, xDensity));
    await be.prepare([step]);
    be.run([step], { lr: 0, t: 1, batchStart: 0 });
    const out = (await be.readF(c)) as Float32Array;
    const st = be.sparseStats!['dW 1'];
    be.destroy();
    return { out, st };
  }

  it('the backend scatters dW when the layer input is sparse, and agrees with the dense path', async () => {
    const dense = await dW('off', 0.08);
    for (const mode of ['on', 'auto'] as const) {
      const sparse = await dW(mode, 0.08);
      expect(sparse.st.path, mode).toBe('sparse');
      expect(sparse.st.inputDensity, mode).toBeGreaterThan(0.07);
      expect(sparse.st.inputDensity, mode).toBeLessThan(0.09);
      expect(maxRelErr(dense.out, sparse.out), mode).toBeLessThan(1e-4);
    }
    // A denser input keeps spmm.
    const denser = await dW('on', 0.4);
    expect(denser.st.inputDensity).toBeUndefined();
    expect(dense.st.inputDensity).toBeUndefined();
  });

  it('a dense layer input is not compacted for a few steps, and a sparse one scatters again after them', async () => {
    const [M, N, K] = [200, 300, 16];
    const rng = new Rng(4);
    const r = (offset: number, length: number): BufRange => ({ arena: 'x', offset, length });
    const a = r(0, K * M);
    const b = r(K * M, K * N);
    const c = r(K * M + K * N, M * N);
    const step = matmul('dW', { M, N, K, transA: true, transB: false }, { a, b, c });
    const be = new CpuBackend('float32', { threads: 1, sparse: 'on' });
    be.allocate({ x: c.offset + M * N });
    await be.prepare([step]);
    const run = async (xDensity: number) => {
      const dz = sparseData(rng, K * M, 0.2);
      const x = sparseData(rng, K * N, xDensity);
      be.writeF(a, dz);
      be.writeF(b, x);
      be.run([step], { lr: 0, t: 1, batchStart: 0 });
      const want = new Float32Array(M * N);
      matmulCpu(M, N, K, true, false, dz, x, want);
      expect(maxRelErr(want, (await be.readF(c)) as Float32Array)).toBeLessThan(1e-5);
      return be.sparseStats!.dW.inputDensity;
    };
    expect(await run(0.4)).toBeUndefined(); // compacted, too dense: the next 8 steps skip it
    const seen: (number | undefined)[] = [];
    for (let i = 0; i < 9; i++) seen.push(await run(0.05));
    expect(seen.slice(0, 8)).toEqual(Array(8).fill(undefined));
    expect(seen[8]).toBeGreaterThan(0.03);
    expect(seen[8]).toBeLessThan(0.07);
    be.destroy();
  });
});
