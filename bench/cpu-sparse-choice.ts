// The sparse/dense choice on the paper network (784-1000-1000-1000-10) from a fresh
// initialisation: how many of a step's 8 products ran sparse, examples/s, and each
// product's crossover at the end. One process per run (the start-up timing is per
// process); ROOT runs another checkout's backend (e.g. a worktree of an earlier commit), so
// that launches of the two can alternate.
//   BATCH=256 STEPS=30 npx tsx bench/cpu-sparse-choice.ts
//   ROOT=/tmp/before BATCH=64 npx tsx bench/cpu-sparse-choice.ts
import { resolve } from 'node:path';

const root = resolve(process.env.ROOT ?? new URL('..', import.meta.url).pathname);
const batch = Number(process.env.BATCH ?? 64);
const steps = Number(process.env.STEPS ?? 30);
const { CpuBackend } = await import(`${root}/src/backend/cpu/cpu-backend.ts`);
const { stopHelpers } = await import(`${root}/src/backend/cpu/wasm/runtime.ts`);
const { sliceDataset } = await import(`${root}/src/data/dataset.ts`);
const { loadDataset } = await import(`${root}/src/data/load.ts`);
const { PAPER_MODEL } = await import(`${root}/src/model/spec.ts`);
const { Trainer } = await import(`${root}/src/train/trainer.ts`);
const { DEFAULT_OPTIMIZER } = await import(`${root}/src/ops/optimizer.ts`);

const data = sliceDataset(loadDataset({ data: 'mnist', seed: 1 }, 'train'), 0, 100 * batch, 'MNIST train (head)');
const backend = new CpuBackend('float32', { sparse: process.env.MODE ?? 'auto' });
const t = await Trainer.create(
  backend,
  PAPER_MODEL,
  { batch, l1: 0, telemetry: true, optimizer: DEFAULT_OPTIMIZER, lr: 0.01, shuffleSeed: 1, deadWindow: Number.MAX_SAFE_INTEGER, readEvery: steps },
  data,
);
for await (const s of t.run(3)) void s; // start-up timing, first steps
type Stat = { sparseSteps: number; crossover: number; meanDensity: number; density: number };
const sparseSteps = () => Object.values(backend.sparseStats as Record<string, Stat>).reduce((n, s) => n + s.sparseSteps, 0);
const s0 = sparseSteps();
const t0 = performance.now();
for await (const s of t.run(steps)) void s;
const secs = (performance.now() - t0) / 1000;
const st = backend.sparseStats as Record<string, Stat>;
const cells = Object.entries(st).map(([k, s]) => `${k} ${s.density.toFixed(2)}/${s.crossover.toFixed(2)}`);
console.log(
  `${root === resolve(new URL('..', import.meta.url).pathname) ? 'this' : root} batch ${batch}: ${((steps * batch) / secs).toFixed(0)} ex/s, ` +
    `${((sparseSteps() - s0) / steps).toFixed(1)} of ${Object.keys(backend.sparseStats as object).length} products sparse per step; density/crossover: ${cells.join(', ')}`,
);
backend.destroy();
stopHelpers();
