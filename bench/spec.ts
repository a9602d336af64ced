// What the throughput benchmark runs and what it reports: engine ids, workloads, the
// cells (workload × batch) engines are given, and the rows of the result. Plain data,
// shared by the orchestrator (Node) and the engines (Node child processes and the
// Chromium bench page), so nothing here touches Node or the DOM.
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { PAPER_MODEL, type ModelSpec } from '../src/model/spec.ts';
import { flopsPerExample } from '../src/plan/plan.ts';

export const LIBRARIES = ['rectigrad-cpu', 'rectigrad-webgpu', 'tfjs-cpu', 'tfjs-wasm', 'tfjs-webgpu', 'jax-wasm', 'jax-webgpu'] as const;
export type EngineKind = (typeof LIBRARIES)[number];
export const PLATFORMS = ['node', 'chromium'] as const;
export type Platform = (typeof PLATFORMS)[number];
/**
 * The reference outside JavaScript: PyTorch on the CPU, in a Python process of its own
 * (bench/pytorch-agent.py), training workloads only. Not part of `all`: the sparse workload
 * adds it beside rectigrad-cpu@node, or --engines names it.
 */
export const PYTORCH = 'pytorch-cpu@python' as const;
/** e.g. `rectigrad-webgpu@chromium`. */
export type EngineId = `${EngineKind}@${Platform}` | typeof PYTORCH;

export const ALL_ENGINES: EngineId[] = PLATFORMS.flatMap((p) => LIBRARIES.map((k) => `${k}@${p}` as EngineId));

/** A JavaScript engine's library and platform (not the PyTorch reference: check isPytorch first). */
export function parseEngineId(id: string): { kind: EngineKind; platform: Platform } {
  const [kind, platform] = id.split('@');
  if (!(LIBRARIES as readonly string[]).includes(kind) || !(PLATFORMS as readonly string[]).includes(platform)) {
    throw new Error(
      `unknown engine "${id}": engines are ${LIBRARIES.join(', ')}, each with @node or @chromium (e.g. rectigrad-webgpu@chromium), and ${PYTORCH}`,
    );
  }
  return { kind: kind as EngineKind, platform: platform as Platform };
}

export const isPytorch = (id: string): id is typeof PYTORCH => id === PYTORCH;

/** Comma-separated ids; a bare kind means both platforms; `all`, `node`, `chromium` select groups. */
export function parseEngineList(s: string): EngineId[] {
  const out: EngineId[] = [];
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (part === 'all') out.push(...ALL_ENGINES);
    else if ((PLATFORMS as readonly string[]).includes(part)) out.push(...LIBRARIES.map((k) => `${k}@${part}` as EngineId));
    else if ((LIBRARIES as readonly string[]).includes(part)) out.push(...PLATFORMS.map((p) => `${part}@${p}` as EngineId));
    else if (part === PYTORCH || part === 'pytorch' || part === 'pytorch-cpu') out.push(PYTORCH);
    else {
      parseEngineId(part);
      out.push(part as EngineId);
    }
  }
  if (!out.length) throw new Error('--engines selects no engine');
  return [...new Set(out)];
}

export const isRectigrad = (k: EngineKind) => k.startsWith('rectigrad-');
export const usesGpu = (k: EngineKind) => k.endsWith('-webgpu');

// ---------------------------------------------------------------------------------------
// Workloads

export const WORKLOADS = ['paper', 'wide', 'tiny', 'matmul', 'sparse'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface TrainWorkload {
  name: Exclude<WorkloadName, 'matmul'>;
  what: string;
  model: ModelSpec;
  batches: number[];
  lr: number;
  /**
   * The sparse workload: its start weights are a checkpoint trained with the L1 penalty
   * (bench --from, else trained and cached: bench/sparse-start.ts), its steps train with
   * the L1 term and momentum on `stepBatches` distinct MNIST batches, one after another.
   * Absent: the seeded initialisation, plain SGD on one batch.
   */
  trained?: { l1: number; momentum: number; stepBatches: number };
}

/**
 * How the bench trains the sparse workload's start checkpoint when not given one (bench/sparse-start.ts):
 * momentum with the L1 activation term, 2 epochs of MNIST. Measured on 2 busy cores: 90.0 %
 * of hidden outputs zero (96 / 90 / 83 %), 2.89 % test error, about 2¼ minutes. The
 * workload's steps train on with the same L1 λ and μ, so they keep the zeros they start with.
 */
export const START_RECIPE = { optimizer: 'momentum', momentum: 0.9, lr: 0.03, l1: 0.002, batch: 64, epochs: 2, seed: 1 } as const;

/** The networks: the paper's, a wide one that only a real GPU makes sense of, and a tiny one for smoke runs. */
export const TRAIN_WORKLOADS: Record<TrainWorkload['name'], TrainWorkload> = {
  paper: { name: 'paper', what: '784-1000-1000-1000-10 relu, softmax CE, SGD, f32', model: PAPER_MODEL, batches: [64, 256], lr: 0.1 },
  sparse: {
    name: 'sparse',
    what: `the paper network from a checkpoint trained with the L1 activation penalty (≥ 85 % of hidden outputs zero), training on 8 MNIST batches in turn with L1 ${START_RECIPE.l1} and momentum ${START_RECIPE.momentum}`,
    model: PAPER_MODEL,
    batches: [64, 256],
    lr: START_RECIPE.lr,
    trained: { l1: START_RECIPE.l1, momentum: START_RECIPE.momentum, stepBatches: 8 },
  },
  wide: {
    name: 'wide',
    what: '784-4096-4096-4096-10 relu, softmax CE, SGD, f32',
    model: { ...PAPER_MODEL, hidden: [4096, 4096, 4096] },
    batches: [256, 1024],
    lr: 0.05,
  },
  tiny: { name: 'tiny', what: '784-64-64-10 relu, softmax CE, SGD, f32', model: { ...PAPER_MODEL, hidden: [64, 64] }, batches: [32], lr: 0.1 },
};

/** Square matmul sizes (C[n×n] = A·B) of the `matmul` workload. */
export const MATMUL_SIZES = [256, 512, 1024];

/** What an engine is handed: everything needed to build the same model on the same batch. */
export interface TrainCell {
  kind: 'train';
  workload: TrainWorkload['name'];
  model: ModelSpec;
  batch: number;
  lr: number;
  /**
   * The batches: `batch × batches` MNIST training images (u8, base64) and their labels;
   * step k trains on batch k mod `batches` (examples k·batch …).
   */
  pixels: string;
  labels: number[];
  /** Distinct batches the steps take in turn (default 1: every step the same batch). */
  batches?: number;
  /** L1 activation penalty λ: the loss gains (λ/B)·Σ|a| over hidden outputs (default 0). */
  l1?: number;
  /** Momentum μ (v = μv + g; w −= lr·v), else plain SGD. */
  momentum?: number;
  features: number;
  classes: number;
  /** input = pixel × scale + shift */
  scale: number;
  shift: number;
  /** Added to every bias of hidden layer h at the start. */
  biasShift?: number[];
  /** The start weights (flat, the model's layout; f32, base64), else the model's seeded initialisation. */
  params?: string;
  /** The sparse workload: fractions of exact zeros at the start weights on the cell's batches. */
  startZeros?: StartZeros;
}

/** Fractions of exact zeros a training cell starts with: the input pixels, each hidden layer's outputs, their mean. */
export interface StartZeros {
  pixels: number;
  hidden: number[];
  hiddenMean: number;
  /** The checkpoint the start weights came from. */
  from?: string;
}

/**
 * Why an engine stays off a cell (undefined: it runs it). TensorFlow.js and jax-js are not
 * given the L1 activation term and momentum here, so on the cells that train with them
 * (the sparse workload) their steps would be another computation than rectigrad's and
 * PyTorch's: they stay off those, their rows saying so.
 */
export function cellUnsupported(kind: EngineKind | 'pytorch-cpu', c: Cell): string | undefined {
  if (c.kind !== 'train' || (!c.l1 && c.momentum === undefined)) return undefined;
  if (kind.startsWith('tfjs-') || kind.startsWith('jax-')) return `skipped: not given the ${c.workload} workload's L1 term and momentum here`;
  return undefined;
}

/** The cell's initial flat parameters: its own, else the model's seeded initialisation; biases shifted where the cell says. */
export function cellParams(c: TrainCell): Float32Array {
  const p = c.params ? new Float32Array(fromBase64(c.params).buffer) : initialParams(c.model);
  const layers = paramLayout(c.model).layers;
  for (const [h, s] of (c.biasShift ?? []).entries()) p.fill(s, layers[h].bias, layers[h].bias + layers[h].outputs);
  return p;
}

export interface MatmulCell {
  kind: 'matmul';
  workload: 'matmul';
  /** C[size×size] = A·B with A, B uniform in [-1, 1) from `seed`. */
  size: number;
  seed: number;
}

export type Cell = TrainCell | MatmulCell;

export const cellBatch = (c: Cell) => (c.kind === 'train' ? c.batch : c.size);
export const cellName = (c: Cell) => `${c.workload} ${c.kind === 'train' ? `b${c.batch}` : `${c.size}³`}`;

/** FLOPs of one step (matrix products only, multiply-add = 2): training forward + backward, or one product. */
export function flopsPerStep(c: Cell): number {
  if (c.kind === 'matmul') return 2 * c.size ** 3;
  const f = flopsPerExample(paramLayout(c.model));
  return (f.forward + f.backward) * c.batch;
}

// ---------------------------------------------------------------------------------------
// Variants: how the training loop reads results back

/**
 * readback: the loss is read back every step (rectigrad: telemetry off, loss every step);
 * no-readback: only the last step's loss is read (the clock stops when it arrives);
 * telemetry: rectigrad only, its full per-layer telemetry read back every step;
 * product: the matmul workload, each product waited for.
 */
export const VARIANTS = ['readback', 'no-readback', 'telemetry', 'product'] as const;
export type Variant = (typeof VARIANTS)[number];

/** The variants an engine runs for a cell, most important first (budget cuts start at the end). */
export function variantsFor(kind: EngineKind | 'pytorch-cpu', c: Cell): Variant[] {
  if (c.kind === 'matmul') return ['product'];
  return kind !== 'pytorch-cpu' && isRectigrad(kind) ? ['readback', 'telemetry', 'no-readback'] : ['readback', 'no-readback'];
}

/**
 * rectigrad's CPU backend on the sparse workload runs each variant twice, on its sparse
 * path chosen by measurement ('auto') and on its dense path ('off'), in the same
 * repetitions; other rows have no path.
 */
export const CPU_PATHS = ['auto', 'off'] as const;
export type CpuPath = (typeof CPU_PATHS)[number];
/** A row's engine, with its CPU path where it has one. */
export const rowLabel = (r: { engine: EngineId; cpuPath?: CpuPath }) =>
  r.cpuPath ? `${r.engine}, ${r.cpuPath === 'auto' ? 'sparse path (auto)' : 'dense path (off)'}` : r.engine;

/** The paths rectigrad-cpu runs a cell on: `paths` where given, both on the sparse workload, else its default (no path). */
export const cpuPathsFor = (engine: EngineId, c: Cell, paths?: readonly CpuPath[]): readonly (CpuPath | undefined)[] =>
  engine.startsWith('rectigrad-cpu@') && c.kind === 'train' ? (paths ?? (c.startZeros ? CPU_PATHS : [undefined])) : [undefined];

// ---------------------------------------------------------------------------------------
// What engines answer, and the rows of the report

export interface AdapterInfo {
  /** gpu: a WebGPU adapter; cpu: the engine computes on the CPU. */
  kind: 'gpu' | 'cpu';
  vendor: string;
  architecture: string;
  description: string;
  /** A software adapter (SwiftShader, WARP, llvmpipe): numbers rank kernels, not GPUs. */
  isFallback: boolean;
  /** CPU engines: threads the library computes on, where it says. */
  threads?: number;
}

export interface EngineInfo {
  adapter: AdapterInfo;
  /** Library name → version, plus the runtime (node, python, or the browser's user agent). */
  versions: Record<string, string>;
  /** Timestamp queries are available (rectigrad-webgpu profiles op groups with them). */
  timestamps?: boolean;
  notes?: string[];
}

export interface OpenResult {
  info: EngineInfo;
  /** From building the model on the engine to the first loss (or product) read back. */
  firstStepMs: number;
  /** The loss at the initial weights (train cells). */
  loss?: number;
  /** Matmul cells: sum of the first row of C, equal across engines up to rounding. */
  check?: number;
}

export interface MeasureResult {
  /** Wall-clock milliseconds for all the steps, readbacks included. */
  ms: number;
  steps: number;
  /** The loss the last step computed (at the weights after steps − 1 updates). */
  lossLast?: number;
  /** When asked: the loss at the weights after all the steps (one more, untimed step computes it). */
  lossAfter?: number;
  /** rectigrad: host milliseconds spent encoding and submitting the steps (backend.run), all steps together. */
  hostMs?: number;
  /** rectigrad-cpu: its WebAssembly products during the timed steps (CpuBackend.wasmStats). */
  cpuProducts?: CpuProducts;
}

/**
 * rectigrad-cpu's WebAssembly products over timed steps: all of them, those split across
 * helper threads, the times splitting was paused (helpers judged slower than the caller
 * alone, e.g. busy cores), and those that took the sparse path.
 */
export interface CpuProducts {
  gemms: number;
  split: number;
  pauses: number;
  spmms: number;
}

/** Per step, GPU milliseconds of each op group (rectigrad-webgpu, timestamp queries). */
export type GpuTime = Partial<Record<'data' | 'matmul' | 'elementwise' | 'loss' | 'reduce' | 'optimizer', number>>;

export interface Row {
  engine: EngineId;
  workload: WorkloadName;
  /** Examples per step; for `matmul` the size n (rows of A). */
  batch: number;
  variant: Variant;
  /** 'ok', or why the row has no numbers (the engine failed, or did not fit its time budget). */
  status: string;
  examplesPerSecond: number | null;
  /** Median over repetitions of each repetition's mean. */
  msPerStep: number | null;
  /** Matrix-product FLOPs per second, 1e9. */
  gflops: number | null;
  firstStepMs: number | null;
  /** The loss at the initial weights, as this engine computed it (train workloads). */
  lossBefore: number | null;
  /** The loss after the timed steps: at the weights `steps` updates from the initial ones. */
  lossAfter: number | null;
  /** Matmul: sum of the first row of C. */
  check: number | null;
  /** rectigrad's per-layer telemetry was computed and read back every step. */
  telemetry: boolean;
  /** How often the loss was read back: 'every-step', 'last-step', or null (matmul). */
  readback: 'every-step' | 'last-step' | null;
  /** Timed steps per repetition, and repetitions. */
  steps: number;
  reps: number;
  /** ms per step of each repetition. */
  repMsPerStep: number[];
  /** Fewer steps than asked (the engine's time budget), or fewer than the method's minimum. */
  reduced: boolean;
  adapter: AdapterInfo | null;
  versions: Record<string, string>;
  /** GPU ms per step by op group (timestamp queries), where measured. */
  gpuMs?: GpuTime;
  /** rectigrad: host µs per step spent encoding and submitting it (median of repetitions). */
  hostUsPerStep?: number;
  /** rectigrad-cpu: its WebAssembly products over all the timed steps of the row, summed over repetitions; and those split, per repetition. */
  cpuProducts?: CpuProducts & { repSplit: number[] };
  /** rectigrad-cpu on the sparse workload: its sparse path chosen by measurement ('auto') or its dense path ('off'). */
  cpuPath?: CpuPath;
  /** The sparse workload: the zeros the cell starts with (the same for every engine). */
  startZeros?: StartZeros;
  notes?: string[];
}

/**
 * One engine's row against another's on the same cell and variant, from the same
 * interleaved repetitions: the ratio of their examples/s (medians), and the median of the
 * ratios of repetitions run back to back (less moved by drift of a shared machine).
 */
export interface Ratio {
  what: 'sparse ÷ dense' | 'rectigrad ÷ PyTorch' | 'rectigrad ÷ jax-js';
  workload: WorkloadName;
  batch: number;
  variant: Variant;
  /** Row labels: engine, and the CPU path where there is one. */
  numerator: string;
  denominator: string;
  ratio: number;
  pairedRatio: number | null;
  /** The per-repetition ratios (examples/s of the numerator's repetition i over the denominator's). */
  repRatios: number[];
}

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  browser: string | null;
  loadAverage: { start: number[]; end: number[] };
}

export interface BenchReport {
  command: string;
  date: string;
  machine: Machine;
  settings: { steps: number; reps: number; budgetSeconds: number; wallSeconds: number };
  rows: Row[];
  /** Side-by-side ratios the run makes (sparse ÷ dense path, rectigrad ÷ PyTorch); absent when there are none. */
  ratios?: Ratio[];
}

// ---------------------------------------------------------------------------------------
// Helpers

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * How long the cores idle between one engine's measurement and another's. An engine's
 * threads can stay busy after its call returns: OpenBLAS's worker thread (PyTorch's CPU
 * matmuls) spins before it sleeps, which kept one core busy for about 125 ms after the
 * last matmul on a 2-core machine, and a browser may still be compiling. Without the gap,
 * whichever engine measured next ran its first steps on a shared core: that cut
 * rectigrad-cpu's sparse b64 rows by a third to a half in the repetitions that followed
 * PyTorch. The gap is outside every timed call, so no engine's numbers include it.
 */
export const ENGINE_GAP_MS = 300;
