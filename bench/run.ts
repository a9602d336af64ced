// The benchmark's orchestrator. Method:
//  1. every engine builds every cell (workload × batch, smallest first) from the same
//     initial weights and batch, timing its first step (pipeline compilation included),
//     then one warm-up step that estimates its pace; a larger cell whose pace, predicted
//     from the smaller one by its FLOPs, would not fit the engine's time budget is skipped
//     (the first cell of each workload always runs);
//  2. what is left of each engine's budget is shared among its rows (cell × variant): slow
//     engines get fewer timed steps (marked `reduced`), and the least important variants
//     are skipped (marked in `status`) when even one step each would not fit;
//  3. repetitions run interleaved — within a repetition every engine runs a cell before
//     the next cell starts, in an order that turns around each repetition — so drift of a
//     shared machine hits all engines alike, with the cores left idle a moment between two
//     engines (ENGINE_GAP_MS); each repetition starts from the initial weights;
//  4. rectigrad-webgpu then times a few steps per op group with timestamp queries.
// The result per row is the median over repetitions of the mean step time.
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadIdxSplit, mnistDir } from '../src/data/idx-files.ts';
import type { AgentRequest } from './agent.ts';
import { sparseStartWeights, startZeros } from './sparse-start.ts';
import { BenchPageServer, NodeHost, startChromiumEngine, type ChromiumOptions, type Host } from './hosts.ts';
import { PythonHost } from './python-host.ts';
import {
  cellBatch,
  cellName,
  cellUnsupported,
  ENGINE_GAP_MS,
  cpuPathsFor,
  isPytorch,
  PYTORCH,
  rowLabel,
  flopsPerStep,
  median,
  parseEngineId,
  toBase64,
  TRAIN_WORKLOADS,
  MATMUL_SIZES,
  variantsFor,
  type BenchReport,
  type Cell,
  type CpuPath,
  type Ratio,
  type EngineId,
  type EngineInfo,
  type GpuTime,
  type MeasureResult,
  type OpenResult,
  type Row,
  type Variant,
  type WorkloadName,
} from './spec.ts';

export interface BenchOptions {
  engines: EngineId[];
  workloads: WorkloadName[];
  /** Batches of the training workloads (default: each workload's own). */
  batches?: number[];
  /** Sizes of the matmul workload. */
  sizes?: number[];
  /** Timed steps per repetition, and repetitions. */
  steps: number;
  reps: number;
  /** Seconds each engine may take in all (first steps included); slow engines get fewer steps. */
  budgetSeconds: number;
  /** The sparse workload's start checkpoint (default: trained with START_RECIPE once, then cached). */
  from?: string;
  /** rectigrad-cpu's paths, side by side, on every training cell (default: both on the sparse workload only). */
  cpuPaths?: CpuPath[];
  /** Time op groups with timestamp queries (rectigrad-webgpu). */
  profile: boolean;
  chromium: ChromiumOptions;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  verbose?: boolean;
  /** The command line, recorded in the report. */
  command: string;
}

const OPEN_TIMEOUT_MS = 300_000;

interface Slot {
  engine: EngineId;
  cell: Cell;
  variant: Variant;
  /** rectigrad-cpu on the sparse workload: the path these steps take. */
  path?: CpuPath;
  steps: number;
  status: string;
  reps: MeasureResult[];
  gpuMs?: GpuTime;
}

interface EngineState {
  id: EngineId;
  host?: Host;
  error?: string;
  /** Why an optional engine (PyTorch) did not run: its rows say so as skipped, not failed. */
  unavailable?: string;
  /** Milliseconds of engine work so far (requests' wall time). */
  spent: number;
  info?: EngineInfo;
  open: Map<Cell, OpenResult & { estimateMs: number }>;
  failed: Map<Cell, string>;
  /** Cells not opened: they would not fit the engine's time budget. */
  skipped: Map<Cell, string>;
}

/** The training batches and matmul sizes the options ask for, as cells with their data. */
export async function makeCells(o: Pick<BenchOptions, 'workloads' | 'batches' | 'sizes' | 'from' | 'log'>): Promise<Cell[]> {
  const cells: Cell[] = [];
  const train = o.workloads.filter((w) => w !== 'matmul') as (keyof typeof TRAIN_WORKLOADS)[];
  if (train.length) {
    const mnist = loadIdxSplit(mnistDir(), 'train', 'MNIST');
    const input = (n: number) => Float32Array.from(mnist.images.subarray(0, n * mnist.features), (v) => v * mnist.scale + mnist.shift);
    for (const w of train) {
      const wl = TRAIN_WORKLOADS[w];
      const sizes = [...new Set(o.batches ?? wl.batches)].sort((a, b) => a - b);
      // The sparse workload: the start checkpoint, its zeros said once on the largest cell's batches.
      const n = wl.trained?.stepBatches ?? 1;
      for (const batch of sizes)
        if (batch * n > mnist.examples)
          throw new Error(
            `batch ${batch}${n > 1 ? ` × ${n} batches` : ''} is more than MNIST's ${mnist.examples} training examples: ask for a smaller --batch`,
          );
      const start =
        wl.trained &&
        (await sparseStartWeights(wl.model, () => ({ train: mnist, test: loadIdxSplit(mnistDir(), 'test', 'MNIST') }), input(sizes[sizes.length - 1] * n), {
          from: o.from,
          log: o.log,
        }));
      for (const batch of sizes) {
        const examples = batch * n;
        const pixels = mnist.images.subarray(0, examples * mnist.features);
        cells.push({
          kind: 'train',
          workload: w,
          model: wl.model,
          batch,
          lr: wl.lr,
          pixels: toBase64(pixels),
          labels: Array.from(mnist.labels.subarray(0, examples)),
          features: mnist.features,
          classes: wl.model.classes,
          scale: mnist.scale,
          shift: mnist.shift,
          ...(wl.trained && start
            ? {
                batches: n,
                l1: wl.trained.l1,
                momentum: wl.trained.momentum,
                params: toBase64(new Uint8Array(start.params.buffer, start.params.byteOffset, start.params.byteLength)),
                startZeros: { ...(await startZeros(wl.model, start.params, input(examples))), from: start.from },
              }
            : {}),
        });
      }
    }
  }
  if (o.workloads.includes('matmul'))
    for (const size of [...new Set(o.sizes ?? MATMUL_SIZES)].sort((a, b) => a - b)) cells.push({ kind: 'matmul', workload: 'matmul', size, seed: 7 });
  return cells;
}

function libraryVersions(): Record<string, string> {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const out: Record<string, string> = {};
  for (const p of ['rectigrad', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu', '@jax-js/jax', 'webgpu']) {
    // Read the files themselves: some packages' export maps hide package.json.
    const file = p === 'rectigrad' ? join(root, 'package.json') : join(root, 'node_modules', p, 'package.json');
    try {
      out[p] = JSON.parse(readFileSync(file, 'utf8')).version;
    } catch {
      /* not installed */
    }
  }
  return out;
}

const kindOf = (id: EngineId) => (isPytorch(id) ? 'pytorch-cpu' : parseEngineId(id).kind);

/**
 * The engines the run starts: those asked for and, where the sparse workload runs beside
 * rectigrad-cpu@node, PyTorch as the reference (its rows say why where it cannot run).
 */
export function enginesFor(o: Pick<BenchOptions, 'engines' | 'workloads'>): EngineId[] {
  const add = o.workloads.includes('sparse') && o.engines.includes('rectigrad-cpu@node') && !o.engines.includes(PYTORCH);
  return add ? [...o.engines, PYTORCH] : o.engines;
}

function versionsFor(engine: EngineId, libs: Record<string, string>, info?: EngineInfo, browser?: string): Record<string, string> {
  if (isPytorch(engine)) return { ...(info?.versions ?? {}) };
  const { kind, platform } = parseEngineId(engine);
  const v: Record<string, string> = { ...(info?.versions ?? {}) };
  // The user agent hides the browser's minor version: take it from the browser itself.
  if (platform === 'chromium' && browser) v.browser = browser;
  if (kind.startsWith('rectigrad')) v.rectigrad = libs.rectigrad;
  if (kind.startsWith('tfjs')) {
    v['@tensorflow/tfjs'] = libs['@tensorflow/tfjs'];
    if (kind === 'tfjs-wasm') v['@tensorflow/tfjs-backend-wasm'] = libs['@tensorflow/tfjs-backend-wasm'];
    if (kind === 'tfjs-webgpu') v['@tensorflow/tfjs-backend-webgpu'] = libs['@tensorflow/tfjs-backend-webgpu'];
  }
  if (kind.startsWith('jax')) v['@jax-js/jax'] = libs['@jax-js/jax'];
  if (platform === 'node' && kind.endsWith('webgpu') && libs.webgpu) v['webgpu (Dawn)'] = libs.webgpu;
  return v;
}

const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

/** Runs the method above: each numbered phase is one method, over the state of one run. */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const run = new BenchRun(o, await makeCells(o));
  try {
    for (const e of run.engines) if (await run.startHost(e)) await run.openCells(e);
    const slots = run.engines.flatMap((e) => run.shareBudget(e));
    for (let rep = 0; rep < o.reps; rep++) await run.repetition(rep, slots);
    if (o.profile) await run.profile(slots);
    return run.report(slots);
  } finally {
    await run.close();
  }
}

/** How long to idle before `engine` measures, given the last call to any engine (none: 0). */
export function quietWaitMs(last: { engine: string; at: number } | undefined, engine: string, now: number): number {
  if (!last || last.engine === engine) return 0;
  return Math.max(0, ENGINE_GAP_MS - (now - last.at));
}

class BenchRun {
  readonly started = performance.now();
  readonly loadStart = loadavg();
  readonly engines: EngineState[];
  readonly libs = libraryVersions();
  private server: BenchPageServer | undefined;
  private serverError: string | undefined;
  private browserVersion: string | undefined;
  private sessionIds = new Map<string, string>();
  /** The engine that last ran anything, and when its call returned (see ENGINE_GAP_MS). */
  private lastCall: { engine: string; at: number } | undefined;

  constructor(
    readonly o: BenchOptions,
    readonly cells: Cell[],
  ) {
    this.engines = enginesFor(o).map((id) => ({ id, spent: 0, open: new Map(), failed: new Map(), skipped: new Map() }));
  }

  /** One session per engine and cell, named once. */
  sid(e: EngineState, c: Cell): string {
    const k = `${e.id}|${this.cells.indexOf(c)}`;
    if (!this.sessionIds.has(k)) this.sessionIds.set(k, `s${this.sessionIds.size + 1}`);
    return this.sessionIds.get(k)!;
  }

  /** A request to an engine, its wall time charged to the engine's budget. */
  async call<T>(e: EngineState, req: AgentRequest, timeoutMs: number): Promise<T> {
    const t0 = performance.now();
    try {
      return (await e.host!.request(req, timeoutMs)) as T;
    } finally {
      e.spent += performance.now() - t0;
      this.lastCall = { engine: e.id, at: performance.now() };
    }
  }

  /** 1a. The engine's host: a Node process, or a page in headless Chromium. False if it cannot run. */
  async startHost(e: EngineState): Promise<boolean> {
    const o = this.o;
    if (isPytorch(e.id)) {
      // The threads rectigrad-cpu computes on, where it ran before; else its default.
      const cpu = this.engines.find((x) => x.id === 'rectigrad-cpu@node')?.info?.adapter.threads;
      const started = await PythonHost.start(cpu ?? Math.min(availableParallelism(), 4), o.verbose);
      if (typeof started === 'string') {
        e.unavailable = started;
        o.log(`${e.id}: skipped: ${started}`);
        return false;
      }
      e.host = started;
      return true;
    }
    try {
      if (parseEngineId(e.id).platform === 'node') e.host = await NodeHost.start(e.id, o.verbose);
      else {
        if (!this.server && !this.serverError) {
          try {
            this.server = await BenchPageServer.start(o.log);
            o.log(`bench page on ${this.server.url}`);
          } catch (err) {
            this.serverError = `the bench page could not be built or served: ${(err as Error).message.split('\n')[0]}`;
          }
        }
        if (this.serverError) throw new Error(this.serverError);
        const h = await startChromiumEngine(e.id, this.server!, { ...o.chromium, verbose: o.verbose });
        if (!this.browserVersion) o.log(`chromium: ${h.version}${o.chromium.extraArgs?.length ? ` (extra flags: ${o.chromium.extraArgs.join(' ')})` : ''}`);
        this.browserVersion = h.version;
        e.host = h;
      }
      return true;
    } catch (err) {
      e.error = (err as Error).message.split('\n')[0];
      o.log(`${e.id}: cannot run: ${e.error}`);
      return false;
    }
  }

  /** 1b. First step and pace of every cell, skipping cells predicted not to fit the budget. */
  async openCells(e: EngineState): Promise<void> {
    const o = this.o;
    // The pace of the last cell opened per workload predicts the next (larger) one's.
    const last = new Map<string, { cell: Cell; est: number }>();
    for (const cell of this.cells) {
      if (isPytorch(e.id) && cell.kind !== 'train') {
        e.skipped.set(cell, 'skipped: PyTorch runs the training workloads only');
        continue;
      }
      const unsupported = cellUnsupported(kindOf(e.id), cell);
      if (unsupported) {
        e.skipped.set(cell, unsupported);
        o.log(`${e.id} ${cellName(cell)}: ${unsupported}`);
        continue;
      }
      const prev = last.get(cell.workload);
      if (prev) {
        const pace = (prev.est * flopsPerStep(cell)) / flopsPerStep(prev.cell);
        // First step, warm-up, each repetition's step and the final untimed one.
        const need = (o.reps + 3) * pace;
        if (e.spent + need > o.budgetSeconds * 1000) {
          e.skipped.set(cell, `skipped: ~${fmtMs(pace)}/step (predicted from ${cellName(prev.cell)}) is over the ${o.budgetSeconds} s budget`);
          o.log(`${e.id} ${cellName(cell)}: ${e.skipped.get(cell)}`);
          continue;
        }
      }
      try {
        const kind = kindOf(e.id);
        const r = await this.call<OpenResult>(e, { op: 'open', session: this.sid(e, cell), engine: kind, cell }, OPEN_TIMEOUT_MS);
        e.info ??= r.info;
        const warm = await this.call<MeasureResult>(
          e,
          { op: 'measure', session: this.sid(e, cell), variant: variantsFor(kind, cell)[0], steps: 1 },
          OPEN_TIMEOUT_MS,
        );
        e.open.set(cell, { ...r, estimateMs: warm.ms });
        last.set(cell.workload, { cell, est: warm.ms });
        const what = cell.kind === 'train' ? `loss ${r.loss?.toFixed(4)}` : `check ${r.check?.toPrecision(6)}`;
        o.log(`${e.id} ${cellName(cell)}: first step ${fmtMs(r.firstStepMs)}, then ${fmtMs(warm.ms)}/step; ${what}`);
        if (!e.info.adapter || e.open.size === 1) {
          const a = r.info.adapter;
          o.log(
            `${e.id}: adapter ${a.kind === 'gpu' ? `${a.vendor} / ${a.architecture} / ${a.description}${a.isFallback ? ' (software fallback)' : ''}` : a.description}`,
          );
        }
      } catch (err) {
        const msg = (err as Error).message.split('\n')[0];
        e.failed.set(cell, msg);
        o.log(`${e.id} ${cellName(cell)}: failed: ${msg}`);
      }
    }
  }

  /** 2. What is left of the engine's budget, shared among its rows (cell × variant). */
  shareBudget(e: EngineState): Slot[] {
    const o = this.o;
    const kind = kindOf(e.id);
    const mine: (Slot & { est: number; priority: number })[] = [];
    for (const cell of this.cells) {
      const paths = cpuPathsFor(e.id, cell, o.cpuPaths);
      variantsFor(kind, cell).forEach((variant, v) => {
        paths.forEach((path, p) => {
          const status = e.unavailable
            ? `skipped: ${e.unavailable}`
            : e.error
              ? `error: ${e.error}`
              : e.failed.has(cell)
                ? `error: ${e.failed.get(cell)}`
                : (e.skipped.get(cell) ?? 'ok');
          const open = e.open.get(cell);
          // Budget cuts drop the last variants first, each variant's dense path before its sparse one.
          const priority = v * paths.length + p;
          mine.push({ engine: e.id, cell, variant, path, steps: o.steps, status, reps: [], est: Math.max(0.01, open?.estimateMs ?? 0), priority });
        });
      });
    }
    const left = Math.max(0, o.budgetSeconds * 1000 - e.spent);
    for (;;) {
      const active = mine.filter((s) => s.status === 'ok');
      // Each row also takes one untimed step at the end (the loss after its steps).
      const want = active.reduce((t, s) => t + (o.reps * o.steps + 1) * s.est, 0);
      const f = want > 0 ? Math.min(1, left / want) : 1;
      for (const s of active) s.steps = Math.max(1, Math.min(o.steps, Math.floor(o.steps * f)));
      const cost = active.reduce((t, s) => t + (o.reps * s.steps + 1) * s.est, 0);
      const droppable = active.filter((s) => s.priority > 0).sort((a, b) => b.priority - a.priority || b.est - a.est);
      if (cost <= left * 1.05 || !droppable.length) break;
      droppable[0].status = `skipped: ~${fmtMs(droppable[0].est)}/step is over the ${o.budgetSeconds} s budget`;
    }
    return mine;
  }

  /** 3. One repetition: every engine runs a cell before the next cell starts, in a turning order. */
  async repetition(rep: number, slots: Slot[]): Promise<void> {
    const o = this.o;
    for (const cell of this.cells) {
      for (const e of engineOrder(this.engines, rep)) {
        const mine = slots.filter((x) => x.engine === e.id && x.cell === cell && x.status === 'ok');
        // Paths of one variant run back to back, their order turning each repetition too.
        for (const s of rep % 2 === 0 ? mine : pairsSwapped(mine)) {
          try {
            await this.quietAfterOtherEngine(e);
            const timeout = Math.max(60_000, 20 * s.steps * (e.open.get(cell)?.estimateMs ?? 1000));
            // The last repetition also reads the loss its steps leave (one more, untimed step).
            const after = rep === o.reps - 1 && cell.kind === 'train';
            s.reps.push(
              await this.call<MeasureResult>(
                e,
                { op: 'measure', session: this.sid(e, cell), variant: s.variant, steps: s.steps, after, ...(s.path && { cpuPath: s.path }) },
                timeout,
              ),
            );
          } catch (err) {
            s.status = `error: ${(err as Error).message.split('\n')[0]}`;
          }
        }
      }
    }
    o.log(`repetition ${rep + 1}/${o.reps} done (${((performance.now() - this.started) / 1000).toFixed(0)} s)`);
  }

  /** Idle until ENGINE_GAP_MS have passed since another engine's last call returned. */
  private async quietAfterOtherEngine(e: EngineState): Promise<void> {
    const wait = quietWaitMs(this.lastCall, e.id, performance.now());
    if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
  }

  /** 4. GPU time per op group (rectigrad-webgpu, timestamp queries). */
  async profile(slots: Slot[]): Promise<void> {
    for (const s of slots) {
      const e = this.engines.find((x) => x.id === s.engine)!;
      if (s.status !== 'ok' || s.cell.kind !== 'train' || kindOf(e.id) !== 'rectigrad-webgpu' || !e.info?.timestamps || s.variant === 'no-readback') continue;
      try {
        const p = await this.call<Record<string, number> | null>(
          e,
          { op: 'profile', session: this.sid(e, s.cell), variant: s.variant, steps: Math.min(3, s.steps) },
          300_000,
        );
        if (p) s.gpuMs = p;
      } catch (err) {
        this.o.log(`${e.id} ${cellName(s.cell)}: profiling failed: ${(err as Error).message}`);
      }
    }
  }

  /** 5. A row per slot: medians over repetitions, and what each engine ran on. */
  row(s: Slot): Row {
    const o = this.o;
    const e = this.engines.find((x) => x.id === s.engine)!;
    const open = e.open.get(s.cell);
    const per = s.reps.map((r) => r.ms / r.steps);
    const ms = per.length && s.status === 'ok' ? median(per) : null;
    const batch = cellBatch(s.cell);
    return {
      engine: s.engine,
      workload: s.cell.workload,
      batch,
      variant: s.variant,
      status: s.status,
      examplesPerSecond: ms ? (batch * 1000) / ms : null,
      msPerStep: ms,
      gflops: ms ? flopsPerStep(s.cell) / (ms * 1e6) : null,
      firstStepMs: open?.firstStepMs ?? null,
      lossBefore: open?.loss ?? null,
      lossAfter: s.reps.length && s.status === 'ok' ? (s.reps[s.reps.length - 1].lossAfter ?? null) : null,
      check: open?.check ?? null,
      telemetry: s.variant === 'telemetry',
      readback: s.cell.kind === 'matmul' ? null : s.variant === 'no-readback' ? 'last-step' : 'every-step',
      steps: s.status === 'ok' ? s.steps : 0,
      reps: s.status === 'ok' ? s.reps.length : 0,
      repMsPerStep: per,
      reduced: s.status === 'ok' && (s.steps < o.steps || s.steps < 10 || s.reps.length < 2),
      adapter: open?.info.adapter ?? e.info?.adapter ?? null,
      versions: versionsFor(e.id, this.libs, open?.info ?? e.info, this.browserVersion),
      ...(s.gpuMs ? { gpuMs: s.gpuMs } : {}),
      ...(s.status === 'ok' && s.reps.length && s.reps.every((r) => r.hostMs !== undefined)
        ? { hostUsPerStep: median(s.reps.map((r) => (1000 * r.hostMs!) / r.steps)) }
        : {}),
      ...(s.status === 'ok' && s.reps.length && s.reps.every((r) => r.cpuProducts)
        ? {
            cpuProducts: {
              gemms: s.reps.reduce((t, r) => t + r.cpuProducts!.gemms, 0),
              split: s.reps.reduce((t, r) => t + r.cpuProducts!.split, 0),
              pauses: s.reps.reduce((t, r) => t + r.cpuProducts!.pauses, 0),
              spmms: s.reps.reduce((t, r) => t + r.cpuProducts!.spmms, 0),
              repSplit: s.reps.map((r) => r.cpuProducts!.split),
            },
          }
        : {}),
      ...(s.path ? { cpuPath: s.path } : {}),
      ...(s.cell.kind === 'train' && s.cell.startZeros ? { startZeros: s.cell.startZeros } : {}),
      ...(open?.info.notes?.length ? { notes: open.info.notes } : {}),
    };
  }

  report(slots: Slot[]): BenchReport {
    const o = this.o;
    const ratios = sideBySide(slots);
    return {
      command: o.command,
      date: new Date().toISOString(),
      machine: {
        cpuModel: cpus()[0]?.model ?? 'unknown',
        cores: availableParallelism(),
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        os: `${type()} ${release()}`,
        node: process.versions.node,
        browser: this.browserVersion ?? null,
        loadAverage: { start: this.loadStart.map((x) => +x.toFixed(2)), end: loadavg().map((x) => +x.toFixed(2)) },
      },
      settings: { steps: o.steps, reps: o.reps, budgetSeconds: o.budgetSeconds, wallSeconds: Math.round((performance.now() - this.started) / 1000) },
      rows: slots.map((s) => this.row(s)),
      ...(ratios.length ? { ratios } : {}),
    };
  }

  async close(): Promise<void> {
    for (const e of this.engines) {
      for (const cell of this.cells) if (e.open.has(cell)) await e.host?.request({ op: 'close', session: this.sid(e, cell) }, 30_000).catch(() => {});
      await e.host?.close().catch(() => {});
    }
    await this.server?.close();
  }
}

/** [a, b, c, d] → [b, a, d, c]: a variant's two CPU paths swap places (rows without paths keep theirs). */
/**
 * The engines' order in repetition `rep`: rotated by one each repetition, so each engine
 * runs first (and after each other one) in turn, and reversed every n repetitions. (A
 * reversal and a rotation by one together give two engines the same order every time.)
 */
export function engineOrder<T>(engines: readonly T[], rep: number): T[] {
  const n = engines.length;
  const base = Math.floor(rep / Math.max(1, n)) % 2 === 0 ? [...engines] : [...engines].reverse();
  return base.map((_, i) => base[(i + rep) % n]);
}

function pairsSwapped(slots: Slot[]): Slot[] {
  const out = [...slots];
  for (let i = 0; i + 1 < out.length; i++) {
    const [a, b] = [out[i], out[i + 1]];
    if (a.path && b.path && a.variant === b.variant) {
      [out[i], out[i + 1]] = [b, a];
      i++;
    }
  }
  return out;
}

/**
 * The ratios a run makes: rectigrad-cpu's sparse path over its dense path, and each
 * rectigrad-cpu@node row over PyTorch's on the same cell and variant. Both from medians,
 * and as the median of per-repetition ratios (the two ran back to back in each).
 */
export function sideBySide(slots: Slot[]): Ratio[] {
  const out: Ratio[] = [];
  const ok = slots.filter((s) => s.status === 'ok' && s.reps.length && s.cell.kind === 'train');
  // As the rows compute it: the batch over the median step time.
  const eps = (s: Slot) => (cellBatch(s.cell) * 1000) / median(s.reps.map((r) => r.ms / r.steps));
  const perRep = (a: Slot, b: Slot) =>
    Array.from({ length: Math.min(a.reps.length, b.reps.length) }, (_, i) => b.reps[i].ms / b.reps[i].steps / (a.reps[i].ms / a.reps[i].steps));
  const push = (what: Ratio['what'], a: Slot, b: Slot) =>
    out.push({
      what,
      workload: a.cell.workload,
      batch: cellBatch(a.cell),
      variant: a.variant,
      numerator: rowLabel({ engine: a.engine, cpuPath: a.path }),
      denominator: rowLabel({ engine: b.engine, cpuPath: b.path }),
      ratio: eps(a) / eps(b),
      pairedRatio: perRep(a, b).length ? median(perRep(a, b)) : null,
      repRatios: perRep(a, b),
    });
  for (const a of ok.filter((s) => s.path === 'auto')) {
    const b = ok.find((s) => s.engine === a.engine && s.cell === a.cell && s.variant === a.variant && s.path === 'off');
    if (b) push('sparse ÷ dense', a, b);
  }
  for (const t of ok.filter((s) => isPytorch(s.engine))) {
    for (const a of ok.filter((s) => s.engine === 'rectigrad-cpu@node' && s.cell === t.cell && s.variant === t.variant)) push('rectigrad ÷ PyTorch', a, t);
  }
  // jax-js's wasm device against rectigrad's CPU backend on the same platform.
  for (const j of ok.filter((s) => s.engine.startsWith('jax-wasm@'))) {
    const cpu = j.engine.replace('jax-wasm@', 'rectigrad-cpu@');
    for (const a of ok.filter((s) => s.engine === cpu && s.cell === j.cell && s.variant === j.variant)) push('rectigrad ÷ jax-js', a, j);
  }
  return out;
}
