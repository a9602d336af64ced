// CPU matmul throughput on the training shapes (784-1000-1000-… net): the TypeScript twin
// next to the WebAssembly SIMD kernel on 1 and 2 threads, each run as a plan step through
// a CpuBackend, in GFLOP/s. Each cell is the best of several interleaved rounds.
//   npx tsx bench/cpu-matmul.ts
//   ROUNDS=5 SECONDS=0.5 BATCHES=64,256 npx tsx bench/cpu-matmul.ts
//   node --experimental-wasm-relaxed-simd --import tsx bench/cpu-matmul.ts   (adds the FMA kernels)
import { CpuBackend, type CpuBackendOptions } from '../src/backend/cpu/cpu-backend.ts';
import { wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { matmul, matmulBiasAct, type MatmulShape } from '../src/ops/matmul.ts';
import type { PlanStep, StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';

interface Case {
  name: string;
  shape: MatmulShape;
  biasAct: boolean;
}

const batches = (process.env.BATCHES ?? '64,256').split(',').map(Number);
const cases: Case[] = [];
for (const B of batches) {
  for (const [n_in, n_out] of [
    [784, 1000],
    [1000, 1000],
  ]) {
    const io = `${n_in}→${n_out}`;
    cases.push({ name: `fwd X·Wᵀ+b B=${B} ${io}`, shape: { M: B, N: n_out, K: n_in, transA: false, transB: true }, biasAct: true });
    cases.push({ name: `dX  dZ·W  B=${B} ${io}`, shape: { M: B, N: n_in, K: n_out, transA: false, transB: false }, biasAct: false });
    cases.push({ name: `dW  dZᵀ·X B=${B} ${io}`, shape: { M: n_out, N: n_in, K: B, transA: true, transB: false }, biasAct: false });
  }
}

// The plain kernels (multiply then add), and the relaxed-SIMD ones (fused) where the
// engine validates them (Node: --experimental-wasm-relaxed-simd).
const variants: { name: string; options: CpuBackendOptions }[] = [
  { name: 'TS twin', options: { wasm: false } },
  { name: 'wasm 1T', options: { threads: 1, simd: 'plain' } },
  { name: 'wasm 2T', options: { threads: 2, simd: 'plain' } },
];
if (wasmModules('relaxed')) {
  variants.push({ name: 'FMA 1T', options: { threads: 1, simd: 'relaxed' } }, { name: 'FMA 2T', options: { threads: 2, simd: 'relaxed' } });
}
const rounds = Number(process.env.ROUNDS ?? 3);
const seconds = Number(process.env.SECONDS ?? 0.25);
const values: StepValues = { lr: 0, t: 1, batchStart: 0 };

async function setup(options: CpuBackendOptions, c: Case) {
  const backend = new CpuBackend('float32', options);
  const { M, N, K } = c.shape;
  const pad = (n: number) => Math.ceil(n / 64) * 64;
  const a = { arena: 'in', offset: 0, length: M * K };
  const b = { arena: 'in', offset: pad(M * K), length: K * N };
  const bias = { arena: 'in', offset: pad(M * K) + pad(K * N), length: N };
  const z = { arena: 'out', offset: 0, length: M * N };
  const out = { arena: 'out', offset: pad(M * N), length: M * N };
  const step: PlanStep = c.biasAct ? matmulBiasAct(c.name, c.shape, 1, 0, { a, b, bias, z, out }) : matmul(c.name, c.shape, { a, b, c: z });
  backend.allocate({ in: bias.offset + N, out: out.offset + M * N });
  const rng = new Rng(1);
  for (const r of [a, b, bias]) backend.writeF(r, rng.fill(r.length));
  await backend.prepare([step]);
  for (let i = 0; i < 3; i++) backend.run([step], values); // warm up (and tier up the wasm)
  return { backend, step };
}

function time({ backend, step }: { backend: CpuBackend; step: PlanStep }): number {
  let runs = 0;
  let t = 0;
  const t0 = performance.now();
  do {
    backend.run([step], values);
    runs++;
    t = (performance.now() - t0) / 1000;
  } while (t < seconds || runs < 2);
  return t / runs;
}

const probe = new CpuBackend('float32', { threads: 2 });
console.log(`${probe.adapter}; best of ${rounds} rounds of ≥ ${seconds} s each`);
console.log(`GFLOP/s\n${'shape'.padEnd(28)}${variants.map((v) => v.name.padStart(10)).join('')}${'2T/1T'.padStart(8)}`);
const totals = variants.map(() => 0);
let flopsTotal = 0;
for (const c of cases) {
  const flops = 2 * c.shape.M * c.shape.N * c.shape.K;
  const runs = [];
  for (const v of variants) runs.push(await setup(v.options, c));
  const best = runs.map(() => Infinity);
  for (let r = 0; r < rounds; r++) for (const [i, run] of runs.entries()) best[i] = Math.min(best[i], time(run));
  const split = runs[2].backend.wasmStats?.split ?? 0;
  for (const run of runs) run.backend.destroy();
  best.forEach((s, i) => (totals[i] += s));
  flopsTotal += flops;
  const g = best.map((s) => flops / s / 1e9);
  console.log(`${c.name.padEnd(28)}${g.map((x) => x.toFixed(2).padStart(10)).join('')}${(g[2] / g[1]).toFixed(2).padStart(8)}${split ? '' : '  (not split)'}`);
}
const g = totals.map((s) => flopsTotal / s / 1e9);
console.log(`${'all (flops / time)'.padEnd(28)}${g.map((x) => x.toFixed(2).padStart(10)).join('')}${(g[2] / g[1]).toFixed(2).padStart(8)}`);
