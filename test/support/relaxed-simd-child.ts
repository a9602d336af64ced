// Run by cpu-wasm-relaxed.test.ts in a child `node --experimental-wasm-relaxed-simd`:
// the relaxed-SIMD (fused multiply-add) kernels against the TypeScript twin and the plain
// kernels, dense and sparse, on one and two threads. Prints one JSON line of findings.
import { CpuBackend, type CpuBackendOptions } from '../../src/backend/cpu/cpu-backend.ts';
import { stopHelpers, WasmHeap, wasmModules } from '../../src/backend/cpu/wasm/runtime.ts';
import { matmul, matmulCpu, type MatmulShape } from '../../src/ops/matmul.ts';
import type { BufRange, StepValues } from '../../src/ops/op.ts';
import { Rng } from '../../src/util/rng.ts';
import { maxRelErr } from './op-harness.ts';
import { collect, smallModel, trainer, trainerOptions } from './train.ts';

const values: StepValues = { lr: 0, t: 1, batchStart: 0 };
const pad = (n: number) => Math.ceil(n / 64) * 64;

async function product(opts: CpuBackendOptions, shape: MatmulShape, a: Float32Array, b: Float32Array) {
  const backend = new CpuBackend('float32', opts);
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
  const c = Float32Array.from((await backend.readF(rc)) as Float32Array);
  const out = { c, adapter: backend.adapter, split: backend.wasmStats?.split ?? 0, spmms: backend.wasmStats?.spmms ?? 0 };
  backend.destroy();
  return out;
}

const rng = new Rng(4242);
const findings = {
  autoVariant: wasmModules('auto')?.variant,
  adapters: [] as string[],
  /** Largest relative error of relaxed vs the twin, dense and sparse products. */
  denseErr: 0,
  sparseErr: 0,
  /** Products where relaxed and plain differ in some bit (FMA really ran). */
  differs: 0,
  products: 0,
  /** Two-thread relaxed products that are not bit-identical to one thread (must be 0), and how many were split. */
  threadMismatches: 0,
  split: 0,
  sparseRuns: 0,
  /** Training: largest |loss difference| relaxed vs plain over the steps, sparse on and off. */
  trainDiff: 0,
  trainSparseDiff: 0,
  trainSteps: 0,
  /** spmmScatter vs spmm on the relaxed kernels: elements that differ (must be 0). */
  scatterMismatches: 0,
  scatterProducts: 0,
  heapVariant: '' as string,
};
const shapes: [number, number, number, boolean, boolean][] = [
  [1, 1, 1, false, false],
  [1, 9, 7, false, true],
  [7, 1, 5, true, false],
  [13, 15, 255, true, true],
  [37, 21, 300, false, true],
  [64, 200, 300, false, false],
  [300, 9, 33, true, false],
  [130, 97, 530, false, true],
];
for (const [M, N, K, transA, transB] of shapes) {
  const shape: MatmulShape = { M, N, K, transA, transB };
  // relu-like A (about half exact zeros) so the sparse path has work to skip.
  const a = rng.fill(M * K).map((x) => (x < 0 ? 0 : x));
  const b = rng.fill(K * N);
  const ref = new Float32Array(M * N);
  matmulCpu(M, N, K, transA, transB, a, b, ref);
  const relaxed = await product({ threads: 1, simd: 'relaxed', sparse: 'off' }, shape, a, b);
  const plain = await product({ threads: 1, simd: 'plain', sparse: 'off' }, shape, a, b);
  for (const s of [relaxed.adapter, plain.adapter]) if (!findings.adapters.includes(s)) findings.adapters.push(s);
  findings.denseErr = Math.max(findings.denseErr, maxRelErr(ref, relaxed.c));
  findings.products++;
  if (relaxed.c.some((x, i) => x !== plain.c[i])) findings.differs++;
  const sparse = await product({ threads: 1, simd: 'relaxed', sparse: 'on' }, shape, a, b);
  findings.sparseRuns += sparse.spmms;
  findings.sparseErr = Math.max(findings.sparseErr, maxRelErr(ref, sparse.c));
  for (const sp of ['off', 'on'] as const) {
    const one = sp === 'off' ? relaxed : sparse;
    const two = await product({ threads: 2, splitAbove: 1, simd: 'relaxed', sparse: sp }, shape, a, b);
    findings.split += two.split;
    if (two.c.some((x, i) => x !== one.c[i])) findings.threadMismatches++;
  }
}
// The scatter kernel (dW with X sparse too) fuses exactly where spmm does: the same values.
{
  const heap = WasmHeap.create({ threads: 1, simd: 'relaxed' })!;
  findings.heapVariant = heap.variant;
  for (const [M, N, K] of [
    [65, 33, 7],
    [301, 99, 13],
  ]) {
    const [a, b, cnt, idx, val, bcnt, bidx, bval, c1, c2] = heap.reserve([K * M, K * N, M, M * K, M * K, K, K * N, K * N, M * N, M * N].map((n) => n * 4));
    const f = (at: number, n: number) => new Float32Array(heap.memory.buffer, at, n);
    f(a, K * M).set(rng.fill(K * M).map((x) => (x < 0.3 ? 0 : x)));
    f(b, K * N).set(rng.fill(K * N).map((x) => (x < 0 ? 0 : x)));
    heap.compactRows(true, M, K, a, cnt, idx, val);
    heap.spmm(M, N, K, cnt, idx, val, b, c1);
    heap.compactRows(false, K, N, b, bcnt, bidx, bval);
    heap.spmmScatter(M, N, K, cnt, idx, val, bcnt, bidx, bval, c2);
    const want = f(c1, M * N);
    f(c2, M * N).forEach((x, i) => x !== want[i] && findings.scatterMismatches++);
    findings.scatterProducts++;
  }
  heap.release();
}
const steps = 30;
for (const sparse of ['off', 'on'] as const) {
  const run = async (simd: 'plain' | 'relaxed') =>
    collect((await trainer(new CpuBackend('float32', { threads: 2, splitAbove: 1, simd, sparse }), smallModel(), trainerOptions())).run(steps));
  const [p, r] = [await run('plain'), await run('relaxed')];
  const diff = Math.max(...r.map((s, i) => Math.abs(s.loss - p[i].loss)));
  if (sparse === 'off') findings.trainDiff = diff;
  else findings.trainSparseDiff = diff;
  findings.trainSteps = Math.min(p.length, r.length);
}
stopHelpers();
console.log(JSON.stringify(findings));
