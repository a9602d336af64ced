// Training throughput against sparsity: the paper network (784-1000-1000-1000-10, relu,
// SGD, f32) on one MNIST batch, its hidden biases shifted so that a given fraction of every
// hidden layer's outputs is exactly zero at the start (as after training with the L1
// penalty; bench/sparse-workload.ts: bias shifts set any sparsity asked for, where the
// bench's `sparse` workload starts from one trained checkpoint instead), timed on rectigrad's CPU backend with the sparse
// path chosen by measurement ('auto') and with it off ('off'), interleaved, the median of
// several repetitions; PyTorch (dense BLAS: its time does not depend on the zeros), a whole
// training step from bench/cpu-sparse-torch.py timed right after each sparsity's runs, as
// a reference line when /usr/bin/python3 has torch. Writes
// the chart (docs/sparse-throughput.svg) and the numbers beside it (.json).
//   npx tsx bench/sparse-sweep.ts
//   REDRAW=1 npx tsx bench/sparse-sweep.ts      (the chart again from its .json)
//   BATCH=64 REPS=5 STEPS=5 OUT=docs/sparse-throughput.svg OPENBLAS_CORETYPE=SkylakeX npx tsx bench/sparse-sweep.ts
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { stopHelpers } from '../src/backend/cpu/wasm/runtime.ts';
import { loadMnist } from '../src/data/idx-files.ts';
import { sparsityThroughputChart, type ThroughputPoint } from '../src/experiment/charts.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { PAPER_MODEL } from '../src/model/spec.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { Trainer } from '../src/train/trainer.ts';
import { biasShifts } from './sparse-workload.ts';

const B = Number(process.env.BATCH ?? 64);
const reps = Number(process.env.REPS ?? 5);
const steps = Number(process.env.STEPS ?? 5);
const out = process.env.OUT ?? 'docs/sparse-throughput.svg';
const SPARSITIES = (process.env.SPARSITIES ?? '0,0.25,0.5,0.7,0.8,0.9,0.95').split(',').map(Number);
const PATHS = [
  { mode: 'auto', engine: 'rectigrad-cpu, sparse path (auto)' },
  { mode: 'off', engine: 'rectigrad-cpu, dense path' },
] as const;

// REDRAW=1: only draw the chart again from the numbers written beside it.
if (process.env.REDRAW) {
  const saved = JSON.parse(readFileSync(out.replace(/\.svg$/, '.json'), 'utf8')) as { batch: number; points: ThroughputPoint[] };
  writeFileSync(out, await sparsityThroughputChart(saved.points, chartTitle(saved.batch)));
  console.log(`redrew ${out}`);
  process.exit(0);
}

const mnist = loadMnist('train');
const data = { ...mnist, name: `MNIST batch ${B}`, examples: B, images: mnist.images.subarray(0, B * mnist.features), labels: mnist.labels.subarray(0, B) };
const x = Float32Array.from(data.images, (p) => p * data.scale + data.shift);
const layers = paramLayout(PAPER_MODEL).layers;
function chartTitle(batch: number): string {
  return `Paper network, batch ${batch}: training examples/s against sparsity (2 threads)`;
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];

/** PyTorch's whole training step at this batch on the same cores (undefined, with the reason logged, without torch). */
let core: string | undefined;
let torchMissing = false;
function torchStep(): number | undefined {
  if (torchMissing) return undefined;
  // OpenBLAS picks its kernels from the CPU it detects; where it does not recognise one (a
  // virtual CPU), OPENBLAS_CORETYPE (e.g. SkylakeX) names it, or it runs a generic kernel.
  // Passive OpenMP threads unless set, as the bench runs it (spinning ones starve OpenBLAS's on busy cores).
  const env: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, BATCHES: String(B), THREADS: '2', STEP_ONLY: '1', OPENBLAS_VERBOSE: '2' };
  const r = spawnSync(process.env.PYTHON ?? '/usr/bin/python3', ['bench/cpu-sparse-torch.py'], { env, encoding: 'utf8' });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const m = /examples\/s \(whole training step, autograd\) (\d+)/.exec(text);
  if (r.status !== 0 || !m) {
    torchMissing = true;
    console.log(`PyTorch skipped: ${r.error?.message ?? text.trim().split('\n').at(-1)}`);
    return undefined;
  }
  core = /Core: (\S+)/.exec(text)?.[1];
  return Number(m[1]);
}

const points: ThroughputPoint[] = [];
const torch: { sparsity: number; eps: number }[] = [];
for (const sparsity of SPARSITIES) {
  const shifts = biasShifts(
    PAPER_MODEL,
    x,
    B,
    [1, 1, 1].map(() => 1 - sparsity),
  );
  const init = initialParams(PAPER_MODEL);
  shifts.forEach((s, h) => init.fill(s, layers[h].bias, layers[h].bias + layers[h].outputs));
  const runs = [];
  for (const p of PATHS) {
    const backend = new CpuBackend('float32', { sparse: p.mode });
    const opts = { batch: B, l1: 0, telemetry: false, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' as const }, lr: 0.01, shuffleSeed: 1, readEvery: steps };
    const trainer = await Trainer.create(backend, PAPER_MODEL, opts, data);
    trainer.setParams(init);
    for await (const s of trainer.run(2)) void s; // warm up (and, in 'auto', the crossovers measured)
    runs.push({ ...p, backend, trainer, eps: [] as number[] });
  }
  for (let r = 0; r < reps; r++) {
    for (const run of r % 2 ? [...runs].reverse() : runs) {
      run.trainer.setParams(init);
      const t0 = performance.now();
      for await (const s of run.trainer.run(steps)) void s;
      run.eps.push((steps * B * 1000) / (performance.now() - t0));
    }
  }
  for (const run of runs) {
    points.push({ sparsity, examplesPerSecond: Math.round(median(run.eps)), engine: run.engine });
    run.backend.destroy();
  }
  // PyTorch right after, so that it meets about the same load.
  const t = torchStep();
  if (t !== undefined) torch.push({ sparsity, eps: t });
  console.log(
    `sparsity ${(sparsity * 100).toFixed(0)} %: ${runs.map((r) => `${r.mode} ${Math.round(median(r.eps))}`).join(', ')}${t ? `, PyTorch ${t}` : ''} examples/s`,
  );
}
// PyTorch's dense step does not depend on the zeros, but its OpenBLAS threads suffer most
// from other work on the cores: its line is the fastest of its measurements (all are kept in
// the .json), which favours it.
const best = Math.max(...torch.map((t) => t.eps));
for (const t of torch)
  points.push({ sparsity: t.sparsity, examplesPerSecond: best, engine: `PyTorch, OpenBLAS (${core ?? 'core unknown'}), dense: its fastest` });

const svgText = await sparsityThroughputChart(points, chartTitle(B));
writeFileSync(out, svgText);
writeFileSync(
  out.replace(/\.svg$/, '.json'),
  JSON.stringify({ batch: B, reps, steps, date: new Date().toISOString().slice(0, 10), points, pytorch: torch }, null, 2) + '\n',
);
console.log(`wrote ${out}`);
stopHelpers();
