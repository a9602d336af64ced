// Matmul throughput on the training shapes: the GPU kernel (each tile configuration given)
// next to the CPU twin, in GFLOP/s. Each cell is the best of several interleaved rounds
// (a software adapter shares the CPU with everything else, so single timings are noisy).
//   npx tsx bench/matmul.ts                      the built-in candidate tile configs
//   npx tsx bench/matmul.ts 8x8@8x8 4x4@8x8      TMxTN@WG_XxWG_Y, any number
//   ROUNDS=5 SECONDS=0.5 npx tsx bench/matmul.ts
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { Backend } from '../src/backend/backend.ts';
import { acquireGpu } from '../src/backend/webgpu/device.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { DEFAULT_TILES, matmul, matmulBiasAct, type MatmulShape, type MatmulTiles } from '../src/ops/matmul.ts';
import type { PlanStep, StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';

interface Case {
  name: string;
  shape: MatmulShape;
  biasAct: boolean;
}

const cases: Case[] = [];
for (const B of [64, 256]) {
  cases.push({ name: `fwd X·Wᵀ+b B=${B} 784→1000`, shape: { M: B, N: 1000, K: 784, transA: false, transB: true }, biasAct: true });
  cases.push({ name: `dX dZ·W   B=${B} 1000→784`, shape: { M: B, N: 784, K: 1000, transA: false, transB: false }, biasAct: false });
  cases.push({ name: `dW dZᵀ·X  B=${B} 1000×784`, shape: { M: 1000, N: 784, K: B, transA: true, transB: false }, biasAct: false });
}

const parseTiles = (s: string): MatmulTiles => {
  const m = /^(\d+)x(\d+)@(\d+)x(\d+)$/.exec(s);
  if (!m) throw new Error(`tile config ${s}: expected TMxTN@WG_XxWG_Y, e.g. 8x8@8x8`);
  return { TM: +m[1], TN: +m[2], WG_X: +m[3], WG_Y: +m[4] };
};
const fmtTiles = (t: MatmulTiles) => `${t.TM}x${t.TN}@${t.WG_X}x${t.WG_Y}`;

const args = process.argv.slice(2);
const configs: MatmulTiles[] = args.length
  ? args.map(parseTiles)
  : [DEFAULT_TILES, { TM: 8, TN: 8, WG_X: 4, WG_Y: 4 }, { TM: 8, TN: 4, WG_X: 8, WG_Y: 8 }, { TM: 4, TN: 4, WG_X: 8, WG_Y: 8 }];
const rounds = Number(process.env.ROUNDS ?? 3);
const seconds = Number(process.env.SECONDS ?? 0.3);
const values: StepValues = { lr: 0, t: 1, batchStart: 0 };

/** A backend holding one case's inputs, with its step compiled and warmed up. */
async function setup(backend: Backend, c: Case, tiles: MatmulTiles): Promise<{ backend: Backend; step: PlanStep }> {
  const { M, N, K } = c.shape;
  const pad = (n: number) => Math.ceil(n / 64) * 64;
  const a = { arena: 'in', offset: 0, length: M * K };
  const b = { arena: 'in', offset: pad(M * K), length: K * N };
  const bias = { arena: 'in', offset: pad(M * K) + pad(K * N), length: N };
  const z = { arena: 'out', offset: 0, length: M * N };
  const out = { arena: 'out', offset: pad(M * N), length: M * N };
  const step = c.biasAct ? matmulBiasAct(c.name, c.shape, 1, 0, { a, b, bias, z, out }, tiles) : matmul(c.name, c.shape, { a, b, c: z }, tiles);
  backend.allocate({ in: bias.offset + N, out: out.offset + M * N });
  const rng = new Rng(1);
  for (const r of [a, b, bias]) backend.writeF(r, rng.fill(r.length));
  await backend.prepare([step]);
  backend.run([step], values);
  await backend.finish();
  return { backend, step };
}

/** Seconds per run over at least `seconds` (each run waited for). */
async function time({ backend, step }: { backend: Backend; step: PlanStep }): Promise<number> {
  let runs = 0;
  let t = 0;
  const t0 = performance.now();
  do {
    backend.run([step], values);
    await backend.finish();
    runs++;
    t = (performance.now() - t0) / 1000;
  } while (t < seconds || runs < 2);
  return t / runs;
}

const ctx = await acquireGpu();
console.log(`GPU: ${new WebGpuBackend(ctx).adapter}; best of ${rounds} rounds of ≥ ${seconds} s each`);
const cols = ['CPU twin', ...configs.map(fmtTiles)];
console.log(`GFLOP/s\n${'shape'.padEnd(26)}${cols.map((s) => s.padStart(11)).join('')}`);
const seconds_total = cols.map(() => 0);
let flops_total = 0;
for (const c of cases) {
  const flops = 2 * c.shape.M * c.shape.N * c.shape.K;
  const runs = [await setup(new CpuBackend(), c, configs[0])];
  for (const t of configs) runs.push(await setup(new WebGpuBackend(ctx), c, t));
  const best = runs.map(() => Infinity);
  for (let r = 0; r < rounds; r++) for (const [i, run] of runs.entries()) best[i] = Math.min(best[i], await time(run));
  for (const run of runs) run.backend.destroy();
  best.forEach((s, i) => (seconds_total[i] += s));
  flops_total += flops;
  console.log(`${c.name.padEnd(26)}${best.map((s) => (flops / s / 1e9).toFixed(2).padStart(11)).join('')}`);
}
console.log(`${'all (flops / time)'.padEnd(26)}${seconds_total.map((s) => (flops_total / s / 1e9).toFixed(2).padStart(11)).join('')}`);
process.exit(0);
