// The sparse-aware CPU matmul against the dense one on the paper's network
// (784-1000-1000-1000-10, relu) with MNIST-like densities: 19 % nonzero pixels and hidden
// layers 6 / 14 / 21 % active, as after training with the L1 activation penalty. Every
// product of a training step (forward, dX, dW of each layer) runs as a plan step through a
// CpuBackend with sparse 'off', 'on' and 'auto'; the step's matmul time gives examples/s.
// Each cell is the fastest call over several interleaved rounds (the cores may be shared).
//   npx tsx bench/cpu-sparse.ts
//   ROUNDS=5 SECONDS=0.3 BATCHES=10,64,256 THREADS=2 npx tsx bench/cpu-sparse.ts
import { CpuBackend, type CpuBackendOptions } from '../src/backend/cpu/cpu-backend.ts';
import { stopHelpers } from '../src/backend/cpu/wasm/runtime.ts';
import { matmul, matmulBiasAct, type MatmulShape } from '../src/ops/matmul.ts';
import type { PlanStep, StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';

interface Product {
  name: string;
  shape: MatmulShape;
  fused: boolean;
  /** Nonzero fraction of op(A). */
  density: number;
}

const batches = (process.env.BATCHES ?? '10,64,256').split(',').map(Number);
const rounds = Number(process.env.ROUNDS ?? 3);
const seconds = Number(process.env.SECONDS ?? 0.2);
const threads = Number(process.env.THREADS ?? 2);
const values: StepValues = { lr: 0, t: 1, batchStart: 0 };

// Widths and the density of each layer's input (pixels, then the hidden relu outputs);
// the output layer's deltas (softmax − one-hot) have no zeros.
const widths = [784, 1000, 1000, 1000, 10];
const density = [0.19, 0.06, 0.14, 0.21, 1];

function products(B: number): Product[] {
  const out: Product[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [nIn, nOut] = [widths[l], widths[l + 1]];
    const io = `${l} ${nIn}→${nOut}`;
    out.push({ name: `fwd ${io}`, shape: { M: B, N: nOut, K: nIn, transA: false, transB: true }, fused: true, density: density[l] });
    if (l > 0) out.push({ name: `dX  ${io}`, shape: { M: B, N: nIn, K: nOut, transA: false, transB: false }, fused: false, density: density[l + 1] });
    out.push({ name: `dW  ${io}`, shape: { M: nOut, N: nIn, K: B, transA: true, transB: false }, fused: false, density: density[l + 1] });
  }
  return out;
}

const variants: { name: string; options: CpuBackendOptions }[] = [
  { name: 'dense', options: { sparse: 'off', threads } },
  { name: 'sparse', options: { sparse: 'on', threads } },
  { name: 'auto', options: { sparse: 'auto', threads } },
];

/** Random values, each zero with probability 1 − density. */
function sparseData(rng: Rng, n: number, d: number): Float32Array {
  const x = rng.fill(n);
  for (let i = 0; i < n; i++) if (rng.next() >= d) x[i] = 0;
  return x;
}

async function setup(options: CpuBackendOptions, p: Product) {
  const backend = new CpuBackend('float32', options);
  const { M, N, K } = p.shape;
  const pad = (n: number) => Math.ceil(n / 64) * 64;
  const a = { arena: 'in', offset: 0, length: M * K };
  const b = { arena: 'in', offset: pad(M * K), length: K * N };
  const bias = { arena: 'in', offset: pad(M * K) + pad(K * N), length: N };
  const z = { arena: 'out', offset: 0, length: M * N };
  const out = { arena: 'out', offset: pad(M * N), length: M * N };
  const step: PlanStep = p.fused ? matmulBiasAct(p.name, p.shape, 1, 0, { a, b, bias, z, out }) : matmul(p.name, p.shape, { a, b, c: z });
  backend.allocate({ in: bias.offset + N, out: out.offset + M * N });
  const rng = new Rng(1);
  // op(A) with the product's density (for dW op(A) is dZᵀ: the same zeros, stored transposed).
  backend.writeF(a, sparseData(rng, M * K, p.density));
  backend.writeF(b, rng.fill(K * N, -0.05, 0.05));
  backend.writeF(bias, rng.fill(N));
  await backend.prepare([step]);
  for (let i = 0; i < 3; i++) backend.run([step], values); // warm up (and tier up the wasm)
  return { backend, step };
}

/** The fastest single call within `seconds` (other work on the shared cores only adds time). */
function time({ backend, step }: { backend: CpuBackend; step: PlanStep }): number {
  let best = Infinity;
  let runs = 0;
  const t0 = performance.now();
  do {
    const t = performance.now();
    backend.run([step], values);
    best = Math.min(best, performance.now() - t);
    runs++;
  } while (performance.now() - t0 < seconds * 1000 || runs < 2);
  return best / 1000;
}

const probe = new CpuBackend('float32', { threads });
console.log(
  `${probe.adapter}; fastest call of ${rounds} interleaved rounds of ≥ ${seconds} s each; densities: input ${density[0]}, hidden ${density.slice(1, 4).join(' / ')}`,
);
for (const B of batches) {
  console.log(`\nbatch ${B}: ms per product${' '.repeat(8)}${variants.map((v) => v.name.padStart(9)).join('')}  dense/sparse  auto took`);
  const totals = variants.map(() => 0);
  for (const p of products(B)) {
    const runs = [];
    for (const v of variants) runs.push(await setup(v.options, p));
    const best = runs.map(() => Infinity);
    for (let r = 0; r < rounds; r++) for (const [i, run] of runs.entries()) best[i] = Math.min(best[i], time(run));
    const auto = runs[2].backend.sparseStats?.[p.name];
    for (const run of runs) run.backend.destroy();
    best.forEach((s, i) => (totals[i] += s));
    const took = auto ? `${auto.path} (crossover ${auto.crossover.toFixed(2)})` : '';
    console.log(
      `  ${`${p.name} d=${p.density}`.padEnd(33)}${best.map((s) => (s * 1e3).toFixed(3).padStart(9)).join('')}${(best[0] / best[1]).toFixed(2).padStart(14)}  ${took}`,
    );
  }
  const eps = totals.map((s) => B / s);
  console.log(
    `  ${'examples/s (matmuls of a step)'.padEnd(33)}${eps.map((x) => x.toFixed(0).padStart(9)).join('')}${(eps[1] / eps[0]).toFixed(2).padStart(14)}`,
  );
}
probe.destroy();
stopHelpers();
