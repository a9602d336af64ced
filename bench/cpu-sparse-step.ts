// A whole training step of the paper network on the CPU backend, sparse path ('auto')
// against dense ('off'), as the sparse workload trains: momentum (μ 0.9, lr 0.03), the L1
// activation penalty, real MNIST batches, from the committed L1-trained checkpoint
// (docs/glorot2011/rectifier.safetensors). The two trainers run in one process, rep by rep
// interleaved (the cores may be shared): examples/s is the median over reps, and the ratio
// is of the medians. Then each item's time in a step (CpuBackend.setTiming), by label.
//   npx tsx bench/cpu-sparse-step.ts
//   REPS=7 STEPS=10 BATCH=64 TELEMETRY=0 L1=1e-3 npx tsx bench/cpu-sparse-step.ts
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { SparseMode } from '../src/backend/cpu/sparse-matmul.ts';
import { stopHelpers } from '../src/backend/cpu/wasm/runtime.ts';
import { sliceDataset } from '../src/data/dataset.ts';
import { loadDataset } from '../src/data/load.ts';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { Trainer } from '../src/train/trainer.ts';

const reps = Number(process.env.REPS ?? 7);
const steps = Number(process.env.STEPS ?? 10);
const batch = Number(process.env.BATCH ?? 64);
const telemetry = process.env.TELEMETRY !== '0';
const l1 = Number(process.env.L1 ?? 1e-3);
const profileSteps = Number(process.env.PROFILE_STEPS ?? 30);
const checkpoint = process.env.CHECKPOINT ?? 'docs/glorot2011/rectifier.safetensors';

const ck = loadCheckpoint(checkpoint);
const data = sliceDataset(loadDataset({ data: 'mnist', seed: 1 }, 'train'), 0, 100 * batch, 'MNIST train (head)');
// 'auto-nomask': the sparse path computing every dX in full (for A/B of the relu masks);
// a '-t1' suffix: one thread.
const modes = (process.env.MODES ?? 'auto,off').split(',');
const trainers: Trainer[] = [];
for (const mode of modes) {
  const backend = new CpuBackend('float32', { sparse: mode.replace(/-.*/, '') as SparseMode, threads: mode.includes('-t1') ? 1 : undefined });
  if (mode.endsWith('-nomask')) Object.assign(backend, { masks: { get: () => new Map(), set() {} } });
  const t = await Trainer.create(
    backend,
    ck.model,
    {
      batch,
      l1,
      telemetry,
      optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 },
      lr: 0.03,
      shuffleSeed: 1,
      deadWindow: Number.MAX_SAFE_INTEGER,
      readEvery: steps,
    },
    data,
  );
  t.setParams(ck.params);
  for await (const s of t.run(3)) void s; // warm up (and measure the crossovers)
  trainers.push(t);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const eps: number[][] = modes.map(() => []);
const zeros: number[][] = [];
for (let r = 0; r < reps; r++) {
  for (const [i, t] of trainers.entries()) {
    t.setParams(ck.params);
    const t0 = performance.now();
    for await (const s of t.run(steps)) if (i === 0 && s.sparsity.length) zeros.push(s.sparsity);
    eps[i].push((steps * batch) / ((performance.now() - t0) / 1000));
  }
}
const med = eps.map(median);
const b0 = trainers[0].backend as CpuBackend;
console.log(`${b0.adapter}; batch ${batch}, momentum, l1 ${l1}, telemetry ${telemetry ? 'on' : 'off'}; ${reps} reps × ${steps} steps, interleaved`);
if (zeros.length) console.log(`hidden zeros (last step): ${zeros[zeros.length - 1].map((z) => `${(z * 100).toFixed(1)}%`).join(' / ')}`);
for (const [i, m] of modes.entries()) console.log(`  ${m.padEnd(5)} examples/s median ${med[i].toFixed(0)}  (${eps[i].map((x) => x.toFixed(0)).join(' ')})`);
const last = modes.length - 1;
for (let i = 0; i < last; i++) {
  const ratios = eps[i].map((x, r) => (x / eps[last][r]).toFixed(2)).join(' ');
  console.log(`  ${modes[i]} ÷ ${modes[last]} (medians): ${(med[i] / med[last]).toFixed(2)}×; per rep: ${ratios}`);
}

// Where a step's time goes: each item's time per step, steps interleaved across the
// trainers; per item the median and the fastest of the steps (other work on the cores
// only adds time: the fastest is what the item costs undisturbed).
for (const t of trainers) (t.backend as CpuBackend).setTiming(true);
const times = trainers.map(() => new Map<string, number[]>());
const seen = trainers.map(() => new Map<string, number>());
for (let k = 0; k < profileSteps; k++) {
  for (const [i, t] of trainers.entries()) {
    for await (const s of t.run(1)) void s;
    for (const [label, ms] of (t.backend as CpuBackend).timings!) {
      const step = ms - (seen[i].get(label) ?? 0);
      seen[i].set(label, ms);
      times[i].set(label, [...(times[i].get(label) ?? []), step]);
    }
  }
}
const stat = (f: (xs: number[]) => number) => times.map((m) => new Map([...m].map(([l, xs]) => [l, f(xs)])));
const [medians, fastest] = [stat(median), stat((xs) => Math.min(...xs))];
console.log(`\nms per step by item over ${profileSteps} steps: median, fastest`);
console.log(`  ${''.padEnd(32)}${modes.map((m) => m.padStart(18)).join('')}`);
for (const l of medians[0].keys()) {
  const ms = medians.map((m) => m.get(l) ?? 0);
  if (ms.every((x) => x < 0.005)) continue;
  const cells = ms.map((x, i) => `${x.toFixed(3).padStart(9)}${(fastest[i].get(l) ?? 0).toFixed(3).padStart(9)}`);
  console.log(`  ${l.padEnd(32)}${cells.join('')}`);
}
const sums = [medians, fastest].map((t) => t.map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
console.log(`  ${'sum'.padEnd(32)}${sums[0].map((x, i) => `${x.toFixed(3).padStart(9)}${sums[1][i].toFixed(3).padStart(9)}`).join('')}`);
for (let i = 0; i < last; i++) {
  const [m, f] = sums.map((s) => (s[last] / s[i]).toFixed(2));
  console.log(`  ${modes[last]} ÷ ${modes[i]} (sums): ${m}× of medians, ${f}× of fastest`);
}
const st = b0.sparseStats ?? {};
console.log('\nauto: product path, density (mean), crossover');
for (const [l, s] of Object.entries(st)) {
  const mask = s.maskDensity === undefined ? '' : `  masked (mask ${s.maskDensity.toFixed(3)})`;
  console.log(`  ${l.padEnd(14)}${s.shape.padEnd(20)}${s.path.padEnd(8)}${s.meanDensity.toFixed(3).padStart(7)}${s.crossover.toFixed(2).padStart(6)}${mask}`);
}
for (const t of trainers) t.backend.destroy();
stopHelpers();
