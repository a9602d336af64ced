// rectigrad in the benchmark, through its public API as a user calls it: a backend, a
// Trainer, `for await (const s of trainer.run(n))`. The cell's batches are the whole
// dataset, unshuffled, so step k trains on batch k mod batches (one batch: every step the
// same examples), as the other engines do.
import type { Backend } from '../../src/backend/backend.ts';
import { CpuBackend } from '../../src/backend/cpu/cpu-backend.ts';
import { EXPLORE_STEPS } from '../../src/backend/cpu/sparse-chooser.ts';
import { acquireGpu, type GpuContext } from '../../src/backend/webgpu/device.ts';
import { WebGpuBackend } from '../../src/backend/webgpu/webgpu-backend.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import { DEFAULT_OPTIMIZER } from '../../src/ops/optimizer.ts';
import { candidateScratch, matmulWith } from '../../src/ops/matmul-candidates.ts';
import { registerCandidate } from '../../src/ops/tuning.ts';
import type { BufRange, PlanStep, StepValues } from '../../src/ops/op.ts';
import { Trainer, type TrainerOptions } from '../../src/train/trainer.ts';
import { cellParams, fromBase64, type AdapterInfo, type Cell, type CpuPath, type MatmulCell, type TrainCell, type Variant } from '../spec.ts';
import { cpuThreads, firstRowSum, matmulOperands, now, runtimeVersion, type Session } from './common.ts';

let gpu: Promise<GpuContext> | undefined;

async function backendFor(kind: 'cpu' | 'webgpu', path?: CpuPath): Promise<{ backend: Backend; adapter: AdapterInfo; timestamps: boolean }> {
  if (kind === 'cpu') {
    // No path: the default (RECTIGRAD_CPU_SPARSE, else 'auto').
    const backend = new CpuBackend('float32', { sparse: path });
    return {
      backend,
      adapter: { kind: 'cpu', vendor: '', architecture: '', description: backend.adapter, isFallback: false, threads: cpuThreads() },
      timestamps: false,
    };
  }
  gpu ??= acquireGpu();
  const ctx = await gpu;
  const backend = new WebGpuBackend(ctx);
  const a = ctx.adapter;
  return {
    backend,
    adapter: { kind: 'gpu', vendor: a.vendor, architecture: a.architecture, description: a.description || a.device, isFallback: a.isFallback },
    timestamps: ctx.timestamps,
  };
}

export async function rectigradSession(kind: 'cpu' | 'webgpu', cell: Cell): Promise<Session> {
  return cell.kind === 'train' ? trainSession(kind, cell) : matmulSession(kind, cell);
}

async function trainSession(kind: 'cpu' | 'webgpu', cell: TrainCell): Promise<Session> {
  const labels = Uint8Array.from(cell.labels);
  const data: Dataset = {
    name: `bench batch ${cell.batch}`,
    examples: labels.length,
    features: cell.features,
    classes: cell.classes,
    images: fromBase64(cell.pixels),
    labels,
    scale: cell.scale,
    shift: cell.shift,
  };
  const init = cellParams(cell);
  // The sparse workload trains with the L1 term and momentum; the others plain SGD.
  const optimizer =
    cell.momentum === undefined ? { ...DEFAULT_OPTIMIZER, kind: 'sgd' as const } : { ...DEFAULT_OPTIMIZER, kind: 'momentum' as const, momentum: cell.momentum };
  const options = (telemetry: boolean): TrainerOptions => ({
    batch: cell.batch,
    l1: cell.l1 ?? 0,
    telemetry,
    optimizer,
    lr: cell.lr,
    shuffleSeed: 1,
    shuffle: false,
    // One window for the whole run: no window reset between steps.
    deadWindow: Number.MAX_SAFE_INTEGER,
    readEvery: 1,
  });
  // The sparse workload on the CPU: the sparse path unless a request names the dense one.
  const defaultPath: CpuPath | undefined = kind === 'cpu' && cell.startZeros ? 'auto' : undefined;
  const plainBackend = await backendFor(kind, defaultPath);
  const trainers = new Map<string, Trainer>();
  const key = (telemetry: boolean, path: CpuPath | undefined) => `${telemetry}|${path ?? ''}`;

  // Telemetry on and off are different plans, and each CPU path has its own backend, so
  // each has its own trainer, made when first asked for.
  const trainerFor = async (variant: Variant, cpuPath?: CpuPath): Promise<Trainer> => {
    const path = kind === 'cpu' ? (cpuPath ?? defaultPath) : undefined;
    const k = key(variant === 'telemetry', path);
    let t = trainers.get(k);
    if (!t) {
      const backend = timeHost((await backendFor(kind, path)).backend);
      t = await Trainer.create(backend, cell.model, options(variant === 'telemetry'), data);
      trainers.set(k, t);
    }
    return t;
  };

  // Before its first timed run a trainer runs untimed steps, like the other engines'
  // warm-up: its kernels compiled and warm, and on the CPU the sparse path's chooser past
  // its exploring (until each product has runs of its own on both paths it runs the other
  // one every other step, which would slow the first repetition's steps).
  const warmSteps = kind === 'cpu' ? 1 + EXPLORE_STEPS : 1;
  const warmed = new Set<Trainer>();
  const warm = async (t: Trainer) => {
    if (warmed.has(t)) return;
    warmed.add(t);
    reset(t);
    for await (const s of t.run(warmSteps)) void s;
  };

  // Host overhead on WebGPU: the time spent in backend.run (encoding a step and submitting
  // it), measured around the call the trainer makes. (On the CPU backend run() is the work.)
  let hostMs = 0;
  const timeHost = (b: Backend) => {
    if (kind !== 'webgpu') return b;
    const run = b.run.bind(b);
    b.run = (items, values) => {
      const t0 = now();
      run(items, values);
      hostMs += now() - t0;
    };
    return b;
  };
  timeHost(plainBackend.backend);

  // Every run starts alike: the cell's weights, momentum at zero, the first batch.
  const reset = (t: Trainer) => {
    const m = t.plan.regions.moments.m;
    t.restore({ model: t.model, step: 0, config: {}, params: init, m: m && new Float32Array(m.length) });
  };

  const timedRun = async (t: Trainer, variant: Variant, steps: number, after = false) => {
    reset(t);
    // Telemetry off: the loss every step, or only the last step's.
    t.options.readEvery = variant === 'no-readback' ? steps : 1;
    await t.backend.finish();
    let last = NaN;
    hostMs = 0;
    const cpu = t.backend instanceof CpuBackend ? t.backend : undefined;
    const before = cpu?.wasmStats;
    const t0 = now();
    for await (const s of t.run(steps)) last = s.loss;
    const ms = now() - t0;
    const host = hostMs;
    const stats = cpu?.wasmStats;
    const cpuProducts = before &&
      stats && {
        gemms: stats.gemms - before.gemms,
        split: stats.split - before.split,
        pauses: stats.pauses - before.pauses,
        spmms: stats.spmms - before.spmms,
      };
    let lossAfter: number | undefined;
    if (after) for await (const s of t.run(1)) lossAfter = s.loss;
    return { ms, steps, lossLast: last, lossAfter, ...(kind === 'webgpu' ? { hostMs: host } : {}), ...(cpuProducts ? { cpuProducts } : {}) };
  };

  return {
    info: {
      adapter: plainBackend.adapter,
      versions: runtimeVersion(),
      timestamps: plainBackend.timestamps,
    },
    async first() {
      const plain = await Trainer.create(plainBackend.backend, cell.model, options(false), data);
      trainers.set(key(false, defaultPath), plain);
      reset(plain); // the cell's weights (the sparse workload's: a trained checkpoint)
      let loss = NaN;
      for await (const s of plain.run(1)) loss = s.loss;
      // The threads the backend really computes on (fewer than the cores where threads are refused).
      if (plainBackend.backend instanceof CpuBackend) {
        plainBackend.adapter.description = plainBackend.backend.adapter;
        plainBackend.adapter.threads = plainBackend.backend.wasmStats?.threads ?? 1;
      }
      return { loss };
    },
    async measure(variant, steps, after, cpuPath) {
      const t = await trainerFor(variant, cpuPath);
      await warm(t);
      return timedRun(t, variant, steps, after);
    },
    async profile(variant, steps) {
      const t = await trainerFor(variant);
      await warm(t);
      if (!(t.backend instanceof WebGpuBackend) || !t.backend.setProfiling(true)) return undefined;
      try {
        await timedRun(t, variant, steps);
        const p = await t.backend.gpuProfile();
        if (!p.submits) return undefined;
        return Object.fromEntries(Object.entries(p.ms).map(([g, ms]) => [g, ms / p.submits]));
      } finally {
        t.backend.setProfiling(false);
      }
    },
    dispose() {
      for (const t of trainers.values()) t.backend.destroy();
    },
  };
}

/** One product C = A·B (the kernel training would use for the shape), run and waited for. */
async function matmulSession(kind: 'cpu' | 'webgpu', cell: MatmulCell): Promise<Session> {
  const n = cell.size;
  const { backend, adapter, timestamps } = await backendFor(kind);
  const pad = (k: number) => Math.ceil(k / 64) * 64;
  const a = { arena: 'in', offset: 0, length: n * n };
  const b = { arena: 'in', offset: pad(n * n), length: n * n };
  const c = { arena: 'out', offset: 0, length: n * n };
  const values: StepValues = { lr: 0, t: 1, batchStart: 0 };
  let product: PlanStep[] = [];
  let scratch: BufRange = { arena: 'scratch', offset: 0, length: 1 };
  return {
    info: { adapter, versions: runtimeVersion(), timestamps },
    async first() {
      const ops = matmulOperands(cell);
      // The configuration training would use for this shape on this adapter (tuned by
      // measurement on hardware adapters), not a fixed one.
      const shape = { M: n, N: n, K: n, transA: false, transB: false };
      await backend.tune?.([{ op: 'matmul', shape }]);
      const chosen = backend.tuning.matmulChoice?.(shape) ?? registerCandidate(backend.tuning.matmul);
      scratch = { arena: 'scratch', offset: 0, length: Math.max(1, candidateScratch(chosen, shape)) };
      product = matmulWith(chosen, `bench ${n}³`, shape, { a, b, c, scratch });
      backend.allocate({ in: b.offset + n * n, out: n * n, scratch: scratch.length });
      backend.writeF(a, ops.a);
      backend.writeF(b, ops.b);
      await backend.prepare(product);
      backend.run(product, values);
      const row = await backend.readF({ ...c, length: n });
      return { check: firstRowSum(row, n) };
    },
    async measure(_variant, steps) {
      const t0 = now();
      for (let i = 0; i < steps; i++) {
        backend.run(product, values);
        await backend.finish();
      }
      return { ms: now() - t0, steps };
    },
    dispose() {
      backend.destroy();
    },
  };
}
