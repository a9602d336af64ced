// The GPU-machine check, run by scripts/gpu-check.sh (from a checkout with tsx, or bundled
// into run.mjs by --pack for a machine without Node or network). It checks that training
// on the machine's WebGPU adapter follows the CPU reference, measures the matmul and the
// training step with the kernel configuration chosen for that adapter, runs the same MLP
// in PyTorch on CUDA (f32, TF32 off) as the native reference where python3 has it, and
// writes the results as markdown for docs/gpu.md.
//
//   run --probe                 only find the adapter (exit 2: none; 3: a software one)
//   run [--allow-software] [--out DIR] [--command TEXT]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '../../src/backend/cpu/cpu-backend.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { acquireGpu, adapterName, setGpuProvider, type GpuContext } from '../../src/backend/webgpu/device.ts';
import { nodeGpuProvider } from '../../src/backend/webgpu/node-gpu.ts';
import { WebGpuBackend } from '../../src/backend/webgpu/webgpu-backend.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { modelSpec, PAPER_MODEL, type ModelSpec } from '../../src/model/spec.ts';
import { candidateScratch, matmulBiasActWith, matmulWith } from '../../src/ops/matmul-candidates.ts';
import type { MatmulShape } from '../../src/ops/matmul.ts';
import type { PlanStep, StepValues } from '../../src/ops/op.ts';
import { registerCandidate } from '../../src/ops/tuning.ts';
import type { TuneReport } from '../../src/backend/webgpu/autotune.ts';
import { DEFAULT_OPTIMIZER } from '../../src/ops/optimizer.ts';
import { mib } from '../../src/plan/limits.ts';
import { Trainer, type TrainerOptions } from '../../src/train/trainer.ts';
import type { StepStats } from '../../src/train/telemetry.ts';
import { Rng } from '../../src/util/rng.ts';

setGpuProvider(nodeGpuProvider);
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const here = dirname(fileURLToPath(import.meta.url));
const log = (s: string) => process.stderr.write(`gpu-check: ${s}\n`);

/** The first adapter Dawn gives, without the SwiftShader fallback of the engine's own discovery. */
async function probe(): Promise<GPUAdapter | null> {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]) as GPU;
  (globalThis as { __gpuCheckDawn?: GPU }).__gpuCheckDawn = gpu; // keep Dawn referenced
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

const raw = await probe();
if (!raw && !flag('--allow-software')) {
  log("Dawn found no WebGPU adapter (its own messages, and the Vulkan loader's, are above).");
  process.exit(2);
}
const ctx: GpuContext = await acquireGpu();
const adapter = adapterName(ctx.adapter);
if (ctx.adapter.isFallback && !flag('--allow-software')) {
  log(`the adapter is ${adapter}: a software rasteriser, not the GPU. The GPU's Vulkan driver did not load (see the messages above).`);
  process.exit(3);
}
if (flag('--probe')) {
  console.log(JSON.stringify({ ...ctx.adapter, name: adapter, timestamps: ctx.timestamps }));
  process.exit(0);
}

const software = ctx.adapter.isFallback;
const out = opt('--out') ?? 'dist/gpu-check';
mkdirSync(out, { recursive: true });
const gpuBackend = () => new WebGpuBackend(ctx);
const tiles = gpuBackend().tuning.matmul;
const tileText = `${tiles.TM}x${tiles.TN}@${tiles.WG_X}x${tiles.WG_Y}`;
const limits = gpuBackend().limits;
log(`adapter ${adapter}; matmul tiles ${tileText}; one binding up to ${mib(limits.bindingBytes)}`);

// ---- correctness: the GPU follows the CPU reference ----------------------------------

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
const checks: Check[] = [];

async function collect(t: Trainer, steps: number): Promise<StepStats[]> {
  const s: StepStats[] = [];
  for await (const x of t.run(steps)) s.push(x);
  return s;
}

const options = (over: Partial<TrainerOptions> = {}): TrainerOptions => ({
  batch: 16,
  l1: 0,
  telemetry: true,
  optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum' },
  lr: 0.02,
  shuffleSeed: 5,
  ...over,
});

async function trajectory(name: string, model: ModelSpec, data: Dataset, opts: TrainerOptions, steps: number, gpu: () => Backend) {
  const t0 = performance.now();
  try {
    const cpu = await collect(await Trainer.create(new CpuBackend(), model, opts, data), steps);
    const onGpu = await collect(await Trainer.create(gpu(), model, opts, data), steps);
    // The loss, and the telemetry kernels beside it: gradient norms and sparsity per layer.
    let worst = 0;
    let worstNorm = 0;
    let worstSparsity = 0;
    for (let i = 0; i < steps; i++) {
      worst = Math.max(worst, Math.abs(onGpu[i].loss - cpu[i].loss) / Math.max(1, cpu[i].loss));
      onGpu[i].gradNorm.forEach((g, l) => (worstNorm = Math.max(worstNorm, Math.abs(g - cpu[i].gradNorm[l]) / Math.max(1e-3, cpu[i].gradNorm[l]))));
      onGpu[i].sparsity.forEach((x, l) => (worstSparsity = Math.max(worstSparsity, Math.abs(x - cpu[i].sparsity[l]))));
    }
    const falls = onGpu[steps - 1].loss < onGpu[0].loss;
    checks.push({
      name,
      ok: worst < 1e-3 && worstNorm < 1e-3 && worstSparsity < 0.01 && falls,
      detail:
        `${steps} steps; largest difference from the CPU: loss ${worst.toExponential(1)}, ‖dW‖ ${worstNorm.toExponential(1)} (limits 1e-3), ` +
        `sparsity ${worstSparsity.toFixed(4)} (limit 0.01); loss ${onGpu[0].loss.toFixed(3)} → ${onGpu[steps - 1].loss.toFixed(3)}; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    });
  } catch (e) {
    checks.push({ name, ok: false, detail: (e as Error).message.split('\n')[0] });
  }
}

log('training on the GPU against the CPU reference');
await trajectory(
  'small MLP 20-70-33-5 (tile edges), momentum',
  modelSpec({ inputs: 20, classes: 5, hidden: [70, 33], activation: 'relu', seed: 11 }),
  syntheticDataset({ examples: 512, features: 20, classes: 5, seed: 3 }),
  options(),
  60,
  gpuBackend,
);
// A network larger than one binding: its weights split over several dispatches and buffers.
await trajectory(
  '784-1024-1024-10 with 1 MiB bindings (split layers), adam',
  modelSpec({ inputs: 784, classes: 10, hidden: [1024, 1024], activation: 'relu', seed: 4 }),
  syntheticDataset({ examples: 64, features: 784, classes: 10, seed: 2 }),
  options({ optimizer: { ...DEFAULT_OPTIMIZER, kind: 'adam' }, lr: 1e-3 }),
  software ? 4 : 10,
  () => {
    process.env.RECTIGRAD_MAX_BINDING_BYTES = String(2 ** 20);
    const b = gpuBackend();
    delete process.env.RECTIGRAD_MAX_BINDING_BYTES;
    return b;
  },
);

// ---- matmul throughput with the training configuration --------------------------------

const values: StepValues = { lr: 0, t: 1, batchStart: 0 };
// ---- autotune: each product shape's kernel chosen by measurement on this adapter ------
// The choices stay in this process's tuning cache, so the matmul rows and the trainers
// below use them (a trainer tunes on first use; here it finds them measured).

const productShapes: { name: string; shape: MatmulShape; biasAct: boolean }[] = [];
for (const B of software ? [64] : [64, 256, 1024]) {
  productShapes.push({ name: `forward X·Wᵀ+b, B=${B}`, shape: { M: B, N: 1000, K: 784, transA: false, transB: true }, biasAct: true });
  productShapes.push({ name: `dX = dZ·W, B=${B}`, shape: { M: B, N: 784, K: 1000, transA: false, transB: false }, biasAct: false });
  productShapes.push({ name: `dW = dZᵀ·X, B=${B}`, shape: { M: 1000, N: 784, K: B, transA: true, transB: false }, biasAct: false });
}
for (const n of software ? [256] : [1024, 2048, 4096])
  productShapes.push({ name: `square ${n}`, shape: { M: n, N: n, K: n, transA: false, transB: false }, biasAct: false });

const tuner = gpuBackend();
let tune: TuneReport | undefined;
log('autotune: every matmul candidate on each product shape');
try {
  const paper = (B: number) => [
    { op: 'forward', shape: { M: B, N: 1000, K: 784, transA: false, transB: true } },
    { op: 'forward', shape: { M: B, N: 1000, K: 1000, transA: false, transB: true } },
    { op: 'forward', shape: { M: B, N: 10, K: 1000, transA: false, transB: true } },
    { op: 'dX', shape: { M: B, N: 1000, K: 1000, transA: false, transB: false } },
    { op: 'dX', shape: { M: B, N: 1000, K: 10, transA: false, transB: false } },
    { op: 'dW', shape: { M: 1000, N: 784, K: B, transA: true, transB: false } },
    { op: 'dW', shape: { M: 1000, N: 1000, K: B, transA: true, transB: false } },
    { op: 'dW', shape: { M: 10, N: 1000, K: B, transA: true, transB: false } },
  ];
  const products = [...productShapes.map((p) => ({ op: p.name, shape: p.shape })), ...batchesForTune().flatMap(paper)];
  tune = await tuner.tune(products, { mode: 'on', budgetMs: software ? 20_000 : 60_000 });
} catch (e) {
  log(`autotune failed: ${(e as Error).message.split('\n')[0]}`);
}
function batchesForTune(): number[] {
  return software ? [64] : [64, 256, 1024];
}

interface Row {
  name: string;
  cells: string[];
}
const matmulRows: Row[] = [];

async function timeMatmul(name: string, shape: MatmulShape, biasAct: boolean): Promise<void> {
  const { M, N, K } = shape;
  const pad = (n: number) => Math.ceil(n / 64) * 64;
  const cand = tuner.tuning.matmulChoice?.(shape) ?? registerCandidate(tiles);
  const a = { arena: 'in', offset: 0, length: M * K };
  const b = { arena: 'in', offset: pad(M * K), length: K * N };
  const bias = { arena: 'in', offset: pad(M * K) + pad(K * N), length: N };
  const z = { arena: 'out', offset: 0, length: M * N };
  const o = { arena: 'out', offset: pad(M * N), length: M * N };
  const scratch = { arena: 'scratch', offset: 0, length: Math.max(1, candidateScratch(cand, shape)) };
  const steps: PlanStep[] = biasAct
    ? matmulBiasActWith(cand, name, shape, 1, 0, { a, b, bias, z, out: o, scratch })
    : matmulWith(cand, name, shape, { a, b, c: z, scratch });
  const backend = gpuBackend();
  try {
    backend.allocate({ in: bias.offset + N, out: o.offset + M * N, scratch: scratch.length });
    const rng = new Rng(1);
    for (const r of [a, b, bias]) backend.writeF(r, rng.fill(r.length));
    await backend.prepare(steps);
    backend.run(steps, values);
    await backend.finish();
    // Enough dispatches per submit that the submit itself does not dominate.
    let reps = 1;
    let best = Infinity;
    const budget = software ? 1.0 : 0.6;
    const t0 = performance.now();
    while ((performance.now() - t0) / 1000 < budget) {
      const t = performance.now();
      backend.run(Array.from({ length: reps }, () => steps).flat(), values);
      await backend.finish();
      const dt = (performance.now() - t) / 1000 / reps;
      best = Math.min(best, dt);
      if (dt * reps < 0.02) reps *= 2;
    }
    const gflops = (2 * M * N * K) / best / 1e9;
    const peak = peakTflops();
    const ofPeak = peak ? ` (${((100 * gflops) / (peak * 1000)).toFixed(1)}% of ${peak} TFLOP/s f32 peak)` : '';
    matmulRows.push({ name, cells: [`${M}×${N}×${K}`, cand.name, gflops.toFixed(gflops < 100 ? 2 : 0) + ofPeak, `${(best * 1e3).toFixed(3)}`] });
  } catch (e) {
    matmulRows.push({ name, cells: [`${M}×${N}×${K}`, cand.name, 'failed', (e as Error).message.split('\n')[0]] });
  } finally {
    backend.destroy();
  }
}

/** The card's f32 peak in TFLOP/s: --peak-tflops, or known cards by name (H100/H200 SXM: 67). */
function peakTflops(): number | undefined {
  const given = Number(opt('--peak-tflops'));
  if (given > 0) return given;
  return /H200|H100/i.test(adapter) ? 67 : undefined;
}

log('matmul with the kernel chosen for each shape on this adapter');
for (const p of productShapes) await timeMatmul(p.name, p.shape, p.biasAct);

// ---- training throughput: the paper's network, and PyTorch on CUDA beside it ---------

const flops = (() => {
  const w = [784, 1000, 1000, 1000, 10];
  let f = 0;
  for (let i = 0; i + 1 < w.length; i++) f += 2 * w[i] * w[i + 1] * (i === 0 ? 2 : 3);
  return f;
})();
interface TrainRow {
  engine: string;
  batch: number;
  examplesPerSecond?: number;
  note: string;
}
const trainRows: TrainRow[] = [];
const trainSteps = software ? 4 : 200;
const batches = software ? [64] : [64, 256, 1024];
const data = syntheticDataset({ examples: software ? 256 : 16384, features: 784, classes: 10, seed: 9 });

log(`training 784-1000-1000-1000-10 (momentum, telemetry every step), ${trainSteps} timed steps per batch size`);
for (const batch of batches) {
  const backend = gpuBackend();
  try {
    const t = await Trainer.create(backend, PAPER_MODEL, options({ batch, lr: 0.01 }), data);
    await collect(t, 3); // compile and warm up
    const t0 = performance.now();
    const s = await collect(t, trainSteps);
    const secs = (performance.now() - t0) / 1000;
    const eps = (trainSteps * batch) / secs;
    trainRows.push({
      engine: 'rectigrad WebGPU (Node, Dawn)',
      batch,
      examplesPerSecond: eps,
      note: `loss ${s[s.length - 1].loss.toFixed(3)}; memory ${mib(t.plan.memory.totalBytes)} in ${t.plan.memory.buffers} buffers`,
    });
  } catch (e) {
    trainRows.push({ engine: 'rectigrad WebGPU (Node, Dawn)', batch, note: `failed: ${(e as Error).message.split('\n')[0]}` });
  } finally {
    backend.destroy();
  }
}

// PyTorch on CUDA, f32 with TF32 off: the native reference, where python3 has it.
const torchScript = [join(here, 'torch_reference.py'), join(here, 'gpu-check', 'torch_reference.py')].find((p) => existsSync(p));
for (const batch of batches) {
  if (!torchScript) {
    trainRows.push({ engine: 'PyTorch CUDA f32', batch, note: 'torch_reference.py not found' });
    break;
  }
  const r = spawnSync('python3', [torchScript, '--batch', String(batch), '--steps', String(trainSteps)], { encoding: 'utf8', timeout: 120_000 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: { examplesPerSecond?: number; device?: string; torch?: string; error?: string } = {};
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = { error: r.error ? `python3: ${r.error.message}` : (r.stderr ?? '').trim().split('\n').pop() || 'no output' };
  }
  if (parsed.error) {
    trainRows.push({ engine: 'PyTorch CUDA f32 (TF32 off)', batch, note: `not run: ${parsed.error}` });
    break;
  }
  trainRows.push({
    engine: 'PyTorch CUDA f32 (TF32 off)',
    batch,
    examplesPerSecond: parsed.examplesPerSecond,
    note: `torch ${parsed.torch} on ${parsed.device}`,
  });
}

// ---- report ----------------------------------------------------------------------------

const ok = checks.every((c) => c.ok);
const date = new Date()
  .toISOString()
  .replace(/\.\d+Z$/, ' UTC')
  .replace('T', ' ');
const md: string[] = [
  `#### ${date}: ${adapter}`,
  '',
  `- command: \`${opt('--command') ?? 'scripts/gpu-check.sh'}\``,
  `- adapter: ${adapter}${software ? " — **software adapter, allowed with --allow-software: these numbers are not a GPU's**" : ''}`,
  `- Node ${process.version}; glibc ${process.env.GPU_CHECK_GLIBC ?? 'unknown'}; matmul tiles ${tileText} (the training configuration for this adapter); largest binding ${mib(limits.bindingBytes)}`,
  `- result: **${ok ? (software ? 'checks passed on a software adapter (not a GPU result)' : 'passed') : 'FAILED'}**`,
  '',
  '| check | result | detail |',
  '|---|---|---|',
  ...checks.map((c) => `| ${c.name} | ${c.ok ? 'ok' : '**FAILED**'} | ${c.detail} |`),
  '',
  '| matmul | M×N×K | kernel (autotuned) | GFLOP/s | ms |',
  '|---|---|---|---|---|',
  ...matmulRows.map((r) => `| ${r.name} | ${r.cells.join(' | ')} |`),
  '',
  ...(tune
    ? [
        `Autotune (${tune.seconds.toFixed(1)} s): GFLOP/s of each candidate per product shape (— : not measured within the budget).`,
        '',
        '| product | M×N×K | chosen | candidates (GFLOP/s) |',
        '|---|---|---|---|',
        ...tune.entries.map(
          (e) =>
            `| ${e.op} | ${e.shape.join('×')} ${e.layout} | ${e.chosen} | ${e.candidates.map((c) => ('gflops' in c ? `${c.config} ${c.gflops.toFixed(1)}` : c.error.startsWith('not measured') ? `${c.config} —` : `${c.config}: ${c.error}`)).join('; ')} |`,
        ),
        '',
      ]
    : ['Autotune did not run (see the log).', '']),
  `| training 784-1000-1000-1000-10 | batch | examples/s | GFLOP/s | note |`,
  '|---|---|---|---|---|',
  ...trainRows.map(
    (r) =>
      `| ${r.engine} | ${r.batch} | ${r.examplesPerSecond ? Math.round(r.examplesPerSecond).toLocaleString('en') : '—'} | ${r.examplesPerSecond ? ((r.examplesPerSecond * flops) / 1e9).toFixed(0) : '—'} | ${r.note} |`,
  ),
  '',
];
writeFileSync(join(out, 'gpu.md'), md.join('\n'));
writeFileSync(
  join(out, 'gpu-check.json'),
  JSON.stringify({ date, adapter: ctx.adapter, tiles, checks, autotune: tune?.entries, matmul: matmulRows, training: trainRows, ok }, null, 1) + '\n',
);
console.log(md.join('\n'));
process.exit(ok ? 0 : 1);
