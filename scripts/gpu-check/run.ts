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
import { MATMUL_CANDIDATES } from '../../src/ops/matmul-candidates.ts';
import { handle } from '../../bench/agent.ts';
import {
  flopsPerStep,
  toBase64,
  TRAIN_WORKLOADS,
  type EngineKind,
  type MeasureResult,
  type OpenResult,
  type TrainCell,
  type Variant,
} from '../../bench/spec.ts';
import { LAYOUTS, SWEEP_TOLERANCE, sweepAll } from './kernel-sweep.ts';

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
const gpuName = process.env.GPU_CHECK_GPU_NAME || undefined;
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

// ---- every matmul kernel against float64, on this adapter ------------------------------

{
  const perLayout = software ? 1 : 20;
  const candidates = [registerCandidate(tiles), ...MATMUL_CANDIDATES];
  log(`kernels: ${candidates.length} matmul candidates × ${LAYOUTS.length} layouts × ${perLayout} random shapes against float64`);
  const t0 = performance.now();
  const backend = gpuBackend();
  try {
    const cases = await sweepAll(backend, candidates, perLayout);
    const bad = cases.filter((c) => c.error !== undefined || !(c.relErr! < SWEEP_TOLERANCE));
    const worst = Math.max(...cases.map((c) => c.relErr ?? 0));
    checks.push({
      name: `matmul kernels: ${candidates.length} candidates × ${LAYOUTS.length} layouts × ${perLayout} shapes (1, odd, off-tile) against float64`,
      ok: bad.length === 0,
      detail:
        `${cases.length - bad.length}/${cases.length} within ${SWEEP_TOLERANCE} (largest relative error ${worst.toExponential(1)}); ${((performance.now() - t0) / 1000).toFixed(1)} s` +
        (bad.length
          ? `; failed: ${bad
              .slice(0, 6)
              .map((c) => `${c.candidate} ${c.layout} ${c.shape.join('×')}: ${c.error ?? c.relErr!.toExponential(1)}`)
              .join('; ')}`
          : ''),
    });
  } catch (e) {
    checks.push({ name: 'matmul kernels against float64', ok: false, detail: (e as Error).message.split('\n')[0] });
  } finally {
    backend.destroy();
  }
}

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

/**
 * The card's f32 peak in TFLOP/s: --peak-tflops, or known cards by name. WebGPU's adapter
 * info does not name the card (on an H200 Dawn says "NVIDIA: 580.159.04"), so gpu-check.sh
 * passes nvidia-smi's name in GPU_CHECK_GPU_NAME.
 */
function peakTflops(): number | undefined {
  const given = Number(opt('--peak-tflops'));
  if (given > 0) return given;
  const name = `${adapter} ${gpuName ?? ''}`;
  return /H200|H100 SXM|H100 80GB HBM3/i.test(name) ? 67 : /H100/i.test(name) ? 51 : /A100/i.test(name) ? 19.5 : undefined;
}

log('matmul with the kernel chosen for each shape on this adapter');
for (const p of productShapes) await timeMatmul(p.name, p.shape, p.biasAct);

// ---- training throughput: the paper's network, and PyTorch on CUDA beside it ---------

/** FLOPs of one training example's products (forward 2·in·out per layer, backward twice that, but no dX for the first). */
const flopsPerExample = (w: number[]) => w.slice(0, -1).reduce((f, n, i) => f + 2 * n * w[i + 1] * (i === 0 ? 2 : 3), 0);
interface TrainRow {
  engine: string;
  network: string;
  batch: number;
  examplesPerSecond?: number;
  gflops?: number;
  note: string;
}
const trainRows: TrainRow[] = [];
const trainSteps = software ? 4 : 200;
const nets = [
  { name: 'paper 784-1000-1000-1000-10', model: PAPER_MODEL, widths: [784, 1000, 1000, 1000, 10], batches: software ? [64] : [64, 256, 1024] },
  ...(software ? [] : [{ name: 'wide 784-4096-4096-4096-10', model: TRAIN_WORKLOADS.wide.model, widths: [784, 4096, 4096, 4096, 10], batches: [1024] }]),
];
const data = syntheticDataset({ examples: software ? 256 : 16384, features: 784, classes: 10, seed: 9 });

for (const net of nets) {
  const steps = net.widths[1] > 1000 ? Math.ceil(trainSteps / 4) : trainSteps;
  log(`training ${net.name} (momentum, telemetry every step), ${steps} timed steps per batch size`);
  for (const batch of net.batches) {
    const backend = gpuBackend();
    const engine = 'rectigrad WebGPU (Node, Dawn)';
    try {
      const t = await Trainer.create(backend, net.model, options({ batch, lr: 0.01 }), data);
      await collect(t, 3); // compile and warm up
      const t0 = performance.now();
      const s = await collect(t, steps);
      const eps = (steps * batch) / ((performance.now() - t0) / 1000);
      const last = s[s.length - 1];
      trainRows.push({
        engine,
        network: net.name,
        batch,
        examplesPerSecond: eps,
        gflops: (eps * flopsPerExample(net.widths)) / 1e9,
        note: `loss ${last.loss.toFixed(3)}; memory ${mib(t.plan.memory.totalBytes)} in ${t.plan.memory.buffers} buffers`,
      });
    } catch (e) {
      trainRows.push({ engine, network: net.name, batch, note: `failed: ${(e as Error).message.split('\n')[0]}` });
    } finally {
      backend.destroy();
    }
  }
}

// PyTorch on CUDA, f32 with TF32 off: the native reference, where python3 has it.
const torchScript = [join(here, 'torch_reference.py'), join(here, 'gpu-check', 'torch_reference.py')].find((p) => existsSync(p));
torch: for (const net of nets) {
  const steps = net.widths[1] > 1000 ? Math.ceil(trainSteps / 4) : trainSteps;
  for (const batch of net.batches) {
    const engine = 'PyTorch CUDA f32 (TF32 off)';
    if (!torchScript) {
      trainRows.push({ engine, network: net.name, batch, note: 'torch_reference.py not found' });
      break torch;
    }
    const r = spawnSync('python3', [torchScript, '--batch', String(batch), '--steps', String(steps), '--widths', net.widths.join(',')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    let parsed: { examplesPerSecond?: number; device?: string; torch?: string; error?: string } = {};
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = { error: r.error ? `python3: ${r.error.message}` : (r.stderr ?? '').trim().split('\n').pop() || 'no output' };
    }
    if (parsed.error) {
      trainRows.push({ engine, network: net.name, batch, note: `not run: ${parsed.error}` });
      break torch;
    }
    trainRows.push({
      engine,
      network: net.name,
      batch,
      examplesPerSecond: parsed.examplesPerSecond,
      gflops: (parsed.examplesPerSecond! * flopsPerExample(net.widths)) / 1e9,
      note: `torch ${parsed.torch} on ${parsed.device}`,
    });
  }
}

// ---- the bench's engines on the same adapter: rectigrad against jax-js WebGPU ----------
// Both through the bench's own sessions (the same batch, initial weights, SGD step and
// clock), on synthetic MNIST-like pixels (this machine may have no MNIST): telemetry off
// with the loss read back every step (readback), and rectigrad with its full telemetry.

interface BenchRow {
  cell: string;
  engine: string;
  variant: Variant;
  msPerStep?: number;
  examplesPerSecond?: number;
  gflops?: number;
  note: string;
}
const benchRows: BenchRow[] = [];

function benchCell(workload: 'paper' | 'wide' | 'tiny', batch: number): TrainCell {
  const wl = TRAIN_WORKLOADS[workload];
  const rng = new Rng(1000 + batch);
  const pixels = Uint8Array.from({ length: batch * 784 }, () => (rng.next() < 0.19 ? 1 + rng.int(255) : 0)); // MNIST: about 19% nonzero
  const labels = Array.from({ length: batch }, () => rng.int(10));
  return { kind: 'train', workload, model: wl.model, batch, lr: wl.lr, pixels: toBase64(pixels), labels, features: 784, classes: 10, scale: 1 / 255, shift: 0 };
}

const benchCells: TrainCell[] = software
  ? [benchCell('paper', 64)]
  : [benchCell('tiny', 32), benchCell('paper', 64), benchCell('paper', 256), benchCell('paper', 1024), benchCell('wide', 1024)];
const engines: { kind: EngineKind; label: string; variants: Variant[] }[] = [
  { kind: 'rectigrad-webgpu', label: 'rectigrad WebGPU', variants: ['readback', 'telemetry'] },
  { kind: 'jax-webgpu', label: 'jax-js WebGPU', variants: ['readback'] },
];
log(`bench: ${engines.map((e) => e.label).join(' and ')} on ${benchCells.map((c) => `${c.workload} b${c.batch}`).join(', ')}`);
for (const cell of benchCells) {
  const name = `${cell.workload} b${cell.batch}`;
  for (const e of engines) {
    const session = `${e.kind} ${name}`;
    try {
      const open = (await handle({ op: 'open', session, engine: e.kind, cell })) as OpenResult;
      // Steps per timed run: about a second of work (at least 5), from one step's time.
      const one = (await handle({ op: 'measure', session, variant: e.variants[0], steps: 3 })) as MeasureResult;
      const steps = Math.max(5, Math.min(500, Math.round((software ? 3000 : 1000) / Math.max(0.05, one.ms / one.steps))));
      for (const variant of e.variants) {
        const reps: number[] = [];
        const host: number[] = [];
        for (let r = 0; r < (software ? 1 : 3); r++) {
          const m = (await handle({ op: 'measure', session, variant, steps })) as MeasureResult;
          reps.push(m.ms / m.steps);
          if (m.hostMs !== undefined) host.push((1000 * m.hostMs) / m.steps);
        }
        const ms = reps.sort((a, b) => a - b)[Math.floor(reps.length / 2)];
        const eps = (1000 * cell.batch) / ms;
        // GPU time per op group (timestamp queries), where the engine can tell.
        const prof = software ? null : ((await handle({ op: 'profile', session, variant, steps: 3 }).catch(() => null)) as Record<string, number> | null);
        const groups = prof
          ? Object.entries(prof)
              .filter(([, v]) => typeof v === 'number')
              .map(([k, v]) => `${k} ${(1000 * v).toFixed(0)}`)
              .join(', ')
          : '';
        benchRows.push({
          cell: name,
          engine: e.label,
          variant,
          msPerStep: ms,
          examplesPerSecond: eps,
          gflops: ((flopsPerStep(cell) / cell.batch) * eps) / 1e9,
          note:
            `median of ${reps.length} × ${steps} steps; first step ${open.firstStepMs.toFixed(0)} ms` +
            (host.length ? `; host ${Math.min(...host).toFixed(0)} µs/step encoding and submitting` : '') +
            (groups ? `; GPU µs/step: ${groups}` : ''),
        });
      }
    } catch (e2) {
      benchRows.push({ cell: name, engine: e.label, variant: e.variants[0], note: `failed: ${(e2 as Error).message.split('\n')[0]}` });
    } finally {
      await handle({ op: 'close', session }).catch(() => undefined);
    }
  }
}
/** rectigrad ÷ jax-js (readback) and telemetry on ÷ off, per cell. */
const benchRatios = benchCells.map((c) => {
  const name = `${c.workload} b${c.batch}`;
  const get = (engine: string, variant: Variant) => benchRows.find((r) => r.cell === name && r.engine === engine && r.variant === variant)?.examplesPerSecond;
  const rect = get('rectigrad WebGPU', 'readback');
  const tele = get('rectigrad WebGPU', 'telemetry');
  const jax = get('jax-js WebGPU', 'readback');
  return { cell: name, overJax: rect && jax ? rect / jax : undefined, telemetryCost: rect && tele ? 1 - tele / rect : undefined };
});

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
  `- adapter: ${adapter}${gpuName ? ` (nvidia-smi: ${gpuName})` : ''}${software ? " — **software adapter, allowed with --allow-software: these numbers are not a GPU's**" : ''}`,
  `- Node ${process.version}; glibc ${process.env.GPU_CHECK_GLIBC ?? 'unknown'}; register tiles ${tileText}, kernels per product shape from the heuristic, then measured; largest binding ${mib(limits.bindingBytes)}`,
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
  '| training (Trainer, momentum, telemetry every step) | batch | examples/s | GFLOP/s | note |',
  '|---|---|---|---|---|',
  ...trainRows.map(
    (r) =>
      `| ${r.engine}, ${r.network} | ${r.batch} | ${r.examplesPerSecond ? Math.round(r.examplesPerSecond).toLocaleString('en') : '—'} | ${r.gflops ? r.gflops.toFixed(0) : '—'} | ${r.note} |`,
  ),
  '',
  "The bench on this adapter (SGD; readback: telemetry off, the loss read every step; telemetry: every layer's stats read every step):",
  '',
  '| cell | engine | variant | ms/step | examples/s | GFLOP/s | note |',
  '|---|---|---|---|---|---|---|',
  ...benchRows.map(
    (r) =>
      `| ${r.cell} | ${r.engine} | ${r.variant} | ${r.msPerStep?.toFixed(3) ?? '—'} | ${r.examplesPerSecond ? Math.round(r.examplesPerSecond).toLocaleString('en') : '—'} | ${r.gflops?.toFixed(0) ?? '—'} | ${r.note} |`,
  ),
  '',
  '| cell | rectigrad ÷ jax-js (readback) | telemetry cost (1 − telemetry ÷ readback) |',
  '|---|---|---|',
  ...benchRatios.map(
    (r) =>
      `| ${r.cell} | ${r.overJax ? `${r.overJax.toFixed(2)}×` : '—'} | ${r.telemetryCost !== undefined ? `${(100 * r.telemetryCost).toFixed(1)}%` : '—'} |`,
  ),
  '',
];
writeFileSync(join(out, 'gpu.md'), md.join('\n'));
writeFileSync(
  join(out, 'gpu-check.json'),
  JSON.stringify(
    { date, adapter: ctx.adapter, gpuName, tiles, checks, autotune: tune?.entries, matmul: matmulRows, training: trainRows, bench: benchRows, benchRatios, ok },
    null,
    1,
  ) + '\n',
);
console.log(md.join('\n'));
process.exit(ok ? 0 : 1);
