// The CPU backend: each plan step runs its op's CPU twin over typed-array views of the
// arenas, or, for the ops that dominate a step, a fast path with the same contract
// (FAST below). In float64 mode it serves the gradient checks (central differences).
//
// In float32 mode the arenas live in one WebAssembly.Memory (a WasmHeap), so the matmul
// twins run the WebAssembly SIMD kernel on them in place, split across worker threads
// where Node offers them; the other twins see ordinary Float32Array views. Growing the
// memory for later arenas detaches (or outgrows) earlier views, so views are re-made
// after every grow and never cached across one.
import type { BufRange, FloatArray, StepValues, View } from '../../ops/op.ts';
import type { Backend, CreationCounters } from '../backend.ts';
import { isClear, type PlanItem, type PlanStep } from '../../ops/op.ts';
import { CPU_TUNING } from '../../ops/tuning.ts';
import { fastMatmul, fastMatmulBiasAct, type CpuKernel } from './matmul-fast.ts';
import { fastActivationBackward, fastActivationBackwardMasked, fastBiasGrad } from './activation-fast.ts';
import { isMatmulStep, SPARSE_MODES, SparseMatmul, type SparseMode, type SparsePathStat } from './sparse-matmul.ts';
import { fastSumsq, TelemetryFusion } from './fusion.ts';
import { reluMasks } from './relu-mask.ts';
import { checkSimdMode, initWasm, wasmModules, WasmHeap, type SimdMode } from './wasm/runtime.ts';
import { availableCores, threadsSupported, threadsUnavailable } from './wasm/threads.ts';

export interface CpuBackendOptions {
  /**
   * Run float32 matmuls in WebAssembly SIMD with the arenas in wasm memory (default true;
   * without WebAssembly SIMD the backend stays TypeScript). false: TypeScript throughout.
   */
  wasm?: boolean;
  /**
   * Threads for large matmuls: the caller plus threads − 1 helper workers (worker_threads
   * in Node; Web Workers in a browser when the backend runs in a worker of a cross-origin
   * isolated page; one thread elsewhere, see threadNote). Default: the cores available, at
   * most 4.
   * RECTIGRAD_CPU_THREADS and RECTIGRAD_CPU_WASM=0 set the defaults from the environment.
   */
  threads?: number;
  /** Smallest M·N·K split across threads (default 2^21). */
  splitAbove?: number;
  /** Run every op's plain twin, no fast paths: the reference the others are tested against. */
  reference?: boolean;
  /**
   * Skip the exact zeros of op(A) in float32 matmuls (relu outputs, their deltas, blank
   * pixels): 'auto' (default) takes the sparse path when the step's density is below a
   * crossover measured per shape at start-up and refined from the products' own times,
   * 'on' always, 'off' never (the density
   * is still counted for sparseStats). WebAssembly mode only. RECTIGRAD_CPU_SPARSE sets the
   * default from the environment.
   */
  sparse?: SparseMode;
  /** Milliseconds the start-up measurement of the crossovers may take in all (default 500). */
  sparseBudgetMs?: number;
  /**
   * Which build of the WebAssembly kernels: 'auto' (default) the relaxed-SIMD one, whose
   * multiply-adds are fused (FMA) where the engine validates relaxed SIMD (browsers; Node
   * with --experimental-wasm-relaxed-simd), else 'plain' (multiply then add, bit-identical
   * to the TypeScript twins); 'relaxed' fails where unavailable. RECTIGRAD_CPU_SIMD sets
   * the default from the environment.
   */
  simd?: SimdMode;
}

const MAX_DEFAULT_THREADS = 4;

const DEFAULT_SPARSE_BUDGET_MS = 500;

function checkSparseMode(mode: unknown, from: string): SparseMode {
  if (!SPARSE_MODES.includes(mode as SparseMode)) throw new Error(`${from} must be one of ${SPARSE_MODES.join(', ')}, not ${JSON.stringify(mode)}`);
  return mode as SparseMode;
}

/** Environment overrides for comparisons: RECTIGRAD_CPU_WASM=0, RECTIGRAD_CPU_THREADS=n, RECTIGRAD_CPU_SPARSE=auto|on|off, RECTIGRAD_CPU_SIMD=auto|plain|relaxed. */
function envOptions(): CpuBackendOptions {
  const env = typeof process !== 'undefined' ? process.env : undefined;
  const out: CpuBackendOptions = {};
  if (env?.RECTIGRAD_CPU_SPARSE) out.sparse = checkSparseMode(env.RECTIGRAD_CPU_SPARSE, 'RECTIGRAD_CPU_SPARSE');
  if (env?.RECTIGRAD_CPU_WASM === '0') out.wasm = false;
  if (env?.RECTIGRAD_CPU_SIMD) out.simd = checkSimdMode(env.RECTIGRAD_CPU_SIMD, 'RECTIGRAD_CPU_SIMD');
  const threads = Number(env?.RECTIGRAD_CPU_THREADS);
  if (Number.isInteger(threads) && threads >= 1) out.threads = threads;
  return out;
}

interface Arena {
  /** Elements (4 bytes each in float32 mode). */
  length: number;
  /** Byte offset in the wasm heap; -1 for an ordinary array. */
  at: number;
  /** The views, valid while `generation` matches the heap's. */
  view: View;
  generation: number;
}

/** Fast paths by `shader:entry`; every other op runs its plain twin. */
const FAST: Record<string, CpuKernel> = {
  'matmul:main': fastMatmul,
  'matmul:main_bias_act': fastMatmulBiasAct,
  'activation_backward:main': fastActivationBackward,
  'activation_backward:main_masked': fastActivationBackwardMasked,
  'bias_grad:main': fastBiasGrad,
};

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly counters: CreationCounters = { buffers: 0, pipelines: 0, bindGroups: 0 };
  /** Tile sizes only shape GPU pipelines; the twins ignore them. */
  readonly tuning = CPU_TUNING;
  private arenas = new Map<string, Arena>();
  private heap: WasmHeap | undefined;
  /** Whether float32 arenas go to wasm memory (false for good if the memory cannot be made). */
  private useWasm: boolean;
  private readonly threads: number;
  /** Threads asked for (the option or the default), before what the environment allows. */
  private readonly wanted: number;
  private readonly options: CpuBackendOptions;
  /** The sparse-path mode in force (the option, else RECTIGRAD_CPU_SPARSE, else 'auto'). */
  readonly sparseMode: SparseMode;
  private sparse: SparseMatmul | undefined;
  /** Per item list run: the telemetry folded into other passes (WebAssembly mode, not reference). */
  private fusions = new WeakMap<PlanItem[], TelemetryFusion>();
  /** Their scratch in the heap (zero counts), one region for all lists, grown when a list needs more. */
  private fusionScratch = { at: 0, bytes: 0 };
  /** Per item list run: the dX products that only matter where a relu output (the mask) is nonzero. */
  private masks = new WeakMap<PlanItem[], Map<PlanStep, BufRange>>();
  /** Milliseconds by item label, while timing is on (setTiming). */
  private timing: Map<string, number> | undefined;

  /**
   * float64: floats live in Float64Arrays with integers in separate Uint32Arrays (every
   * region is read and written through one type only, so nothing relies on aliasing).
   */
  constructor(
    readonly precision: 'float32' | 'float64' = 'float32',
    options: CpuBackendOptions = {},
  ) {
    // An option given as undefined leaves the environment's default in place.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...envOptions(), ...given };
    this.sparseMode = checkSparseMode(this.options.sparse ?? 'auto', 'CpuBackend option sparse');
    const simd = checkSimdMode(this.options.simd ?? 'auto', 'CpuBackend option simd');
    this.useWasm = precision === 'float32' && this.options.wasm !== false && wasmModules(simd) !== undefined;
    if (simd === 'relaxed' && !this.useWasm && precision === 'float32' && this.options.wasm !== false) {
      throw new Error(
        'CpuBackend option simd (or RECTIGRAD_CPU_SIMD) is "relaxed", but this engine does not validate WebAssembly relaxed SIMD: use "auto" or "plain" (Node: run with --experimental-wasm-relaxed-simd)',
      );
    }
    const threads = this.options.threads ?? Math.min(availableCores(), MAX_DEFAULT_THREADS);
    this.wanted = Math.max(1, Math.floor(threads));
    this.threads = this.useWasm && threadsSupported() ? this.wanted : 1;
  }

  /**
   * One line saying why the WebAssembly matmul runs on one thread when more were wanted
   * (e.g. a page that is not cross-origin isolated), or undefined.
   */
  get threadNote(): string | undefined {
    if (!this.useWasm || this.wanted < 2) return undefined;
    const why = threadsUnavailable();
    if (why) return `one thread: ${why}`;
    if (this.heap && this.heap.threads < 2) return 'one thread: shared WebAssembly memory is unavailable here';
    return undefined;
  }

  /**
   * A backend for environments that cannot compile WebAssembly synchronously (a browser's
   * main thread): compiles the kernel asynchronously first.
   */
  static async create(precision: 'float32' | 'float64' = 'float32', options: CpuBackendOptions = {}): Promise<CpuBackend> {
    if (precision === 'float32' && options.wasm !== false) await initWasm(options.simd ?? envOptions().simd ?? 'auto');
    return new CpuBackend(precision, options);
  }

  /** Where the arithmetic runs. */
  get adapter(): string {
    const cores = availableCores();
    if (this.useWasm) {
      const threads = this.heap ? this.heap.threads : this.threads;
      const simd = this.heap?.variant ?? wasmModules(this.options.simd ?? 'auto')?.variant;
      return `CPU (WebAssembly SIMD${simd === 'relaxed' ? ' (relaxed FMA)' : ''}, float32, ${threads} thread${threads > 1 ? 's' : ''} of ${cores} cores)`;
    }
    return `CPU (TypeScript, ${this.precision}, ${cores} cores, one used)`;
  }

  allocate(sizes: Record<string, number>): void {
    const entries = Object.entries(sizes);
    for (const [name, n] of entries) {
      if (this.arenas.has(name)) throw new Error(`arena ${name} is already allocated`);
      if (!Number.isInteger(n) || n < 0) throw new Error(`arena ${name}: size ${n} is not a whole number of elements`);
    }
    if (this.useWasm && !this.heap) {
      this.heap = WasmHeap.create({ threads: this.threads, splitAbove: this.options.splitAbove, simd: this.options.simd });
      if (!this.heap) this.useWasm = false;
      else if (!this.options.reference) {
        this.sparse = new SparseMatmul(this.heap, this.sparseMode, this.options.sparseBudgetMs ?? DEFAULT_SPARSE_BUDGET_MS);
      }
    }
    const heap = this.heap;
    if (heap) {
      // One grow for all of them; arenas made earlier keep their offsets and contents.
      let at: number[] | undefined;
      try {
        at = heap.reserve(entries.map(([, n]) => n * 4));
      } catch {
        // The memory cannot grow that far (4 GiB at most): these arenas become ordinary
        // arrays, and products touching them run in TypeScript.
        at = undefined;
      }
      if (at) {
        entries.forEach(([name, n], i) => {
          this.arenas.set(name, { length: n, at: at[i], view: heap.views(at[i], n), generation: heap.generation });
          this.counters.buffers++;
        });
        return;
      }
    }
    for (const [name, n] of entries) {
      let view: View;
      if (this.precision === 'float32') {
        const buf = new ArrayBuffer(n * 4);
        view = { f: new Float32Array(buf), u: new Uint32Array(buf) };
      } else {
        view = { f: new Float64Array(n), u: new Uint32Array(n) };
      }
      this.arenas.set(name, { length: n, at: -1, view, generation: 0 });
      this.counters.buffers++;
    }
  }

  /** Drops arenas no longer needed (their regions must not be used again); their memory is reused by later arenas. */
  free(names: string[]): void {
    for (const name of names) {
      const a = this.arenas.get(name);
      if (!a) continue;
      this.arenas.delete(name);
      if (a.at >= 0) this.heap?.giveBack(a.at, a.length * 4);
    }
  }

  /** An arena's views, re-made if the heap grew since they were. */
  private arena(name: string): View {
    const a = this.arenas.get(name);
    if (!a) throw new Error(`no arena named ${name}`);
    const heap = this.heap;
    if (heap && a.at >= 0 && a.generation !== heap.generation) {
      a.view = heap.views(a.at, a.length);
      a.generation = heap.generation;
    }
    return a.view;
  }

  /** The views of a region (shared memory, not a copy). */
  view(r: BufRange): View {
    const a = this.arena(r.arena);
    if (r.offset + r.length > a.f.length) {
      throw new Error(`region ${r.arena}[${r.offset}, +${r.length}] exceeds the arena (${a.f.length})`);
    }
    return { f: a.f.subarray(r.offset, r.offset + r.length), u: a.u.subarray(r.offset, r.offset + r.length) };
  }

  writeF(r: BufRange, data: ArrayLike<number>): void {
    this.view(r).f.set(data as ArrayLike<number>);
  }
  writeU(r: BufRange, data: Uint32Array): void {
    this.view(r).u.set(data);
  }
  async readF(r: BufRange): Promise<FloatArray> {
    return this.view(r).f.slice();
  }
  async readU(r: BufRange): Promise<Uint32Array> {
    return this.view(r).u.slice();
  }
  /**
   * Starts the matmul helper threads when some product here is large enough to be split,
   * so that the first steps already use them.
   */
  async prepare(items: PlanItem[]): Promise<void> {
    const heap = this.heap;
    if (heap && heap.threads >= 2) {
      const big = items.some((i) => !isClear(i) && i.op.group === 'matmul' && i.constants.M * i.constants.N * i.constants.K >= heap.splitAbove);
      if (big) await heap.warmUp();
    }
    // The crossovers are measured after the helpers are up, so that dense products are timed as they will run.
    this.sparse?.prepare(items);
  }

  /**
   * Per matmul step (by label) in WebAssembly mode: the path its last step took, the
   * density of its sparse operand (last and mean), the crossover it was judged by, and how
   * many steps ran on the sparse path. Undefined in TypeScript and reference modes.
   */
  get sparseStats(): Record<string, SparsePathStat> | undefined {
    const s = this.sparse;
    return s && Object.fromEntries([...s.stats].map(([k, v]) => [k, { ...v }]));
  }

  /**
   * The WebAssembly matmul's threads, products run, how many were split across threads
   * and how often splitting was paused because the cores were busy, and the parameter
   * updates split across threads; undefined in TypeScript mode.
   */
  get wasmStats(): { threads: number; gemms: number; split: number; pauses: number; spmms: number; splitUpdates: number } | undefined {
    const h = this.heap;
    return h && { threads: h.threads, ...h.stats };
  }

  /** The telemetry folded into other passes for this item list (found on its first run; may reserve scratch). */
  private fusionFor(items: PlanItem[]): TelemetryFusion | undefined {
    const heap = this.heap;
    if (!heap || this.options.reference) return undefined;
    let f = this.fusions.get(items);
    if (!f) {
      f = new TelemetryFusion(items, heap, (bytes) => {
        if (bytes > this.fusionScratch.bytes) this.fusionScratch = { at: heap.reserve([bytes])[0], bytes };
        return this.fusionScratch.at;
      });
      this.fusions.set(items, f);
    }
    return f;
  }

  /**
   * Per-item timing (for finding where a step's time goes): when on, the milliseconds each
   * item takes are summed by its label (clears under "clear"). Off by default; turning it
   * on starts from zero.
   */
  setTiming(on: boolean): void {
    this.timing = on ? new Map() : undefined;
  }

  /** Milliseconds summed by item label since timing was turned on (undefined when off). */
  get timings(): Map<string, number> | undefined {
    return this.timing && new Map(this.timing);
  }

  run(items: PlanItem[], values: StepValues): void {
    // Before any view: the first run of a list may reserve scratch (grow the memory).
    const fusion = this.fusionFor(items);
    let masks = this.masks.get(items);
    if (!masks && this.sparse) {
      masks = reluMasks(items);
      this.masks.set(items, masks);
    }
    const timing = this.timing;
    for (const item of items) {
      if (!timing) {
        this.runItem(item, values, fusion, masks);
        continue;
      }
      const t0 = performance.now();
      this.runItem(item, values, fusion, masks);
      const label = isClear(item) ? 'clear' : item.label;
      timing.set(label, (timing.get(label) ?? 0) + performance.now() - t0);
    }
  }

  private runItem(item: PlanItem, values: StepValues, fusion: TelemetryFusion | undefined, masks: Map<PlanStep, BufRange> | undefined): void {
    if (isClear(item)) {
      const v = this.view(item.clear);
      v.f.fill(0);
      v.u.fill(0);
      return;
    }
    if (fusion?.skips(item)) return;
    const view = (r: BufRange) => this.view(r);
    const sparse = this.sparse && isMatmulStep(item) ? this.sparse : undefined;
    // Before the views: the first product of a shape may reserve scratch (grow the memory).
    sparse?.prepare([item]);
    const views: Record<string, View> = {};
    for (const [name, r] of Object.entries(item.bindings)) views[name] = this.view(r);
    const key = `${item.op.shader}:${item.op.entry}`;
    if (fusion && this.heap) {
      const counts = fusion.countsFor(item);
      if (counts) {
        const dense = () => fastMatmulBiasAct(item.constants, views, values, counts);
        if (!sparse?.run(item, views, counts, undefined, dense)) dense();
        fusion.finishForward(item, counts, view);
        return;
      }
      if (key === 'sumsq:main' && (fusion.defers(item, views, view) || fusion.deltaNorm(item, views) || fastSumsq(this.heap, item.constants, views))) return;
      if (key === 'optimizer:main' && fusion.update(item, views, values)) return;
    }
    const mask = masks?.get(item);
    const fast = this.options.reference ? undefined : FAST[key];
    const dense = () => (fast ?? item.op.cpu)(item.constants, views, values);
    if (sparse?.run(item, views, undefined, mask && this.view(mask), dense)) return;
    dense();
    if (key === 'bias_grad:main') fusion?.afterBiasGrad(item, views);
  }

  async snapshot(r: BufRange): Promise<View> {
    const v = this.view(r);
    return { f: v.f.slice(), u: v.u.slice() };
  }
  async finish(): Promise<void> {}
  destroy(): void {
    this.arenas.clear();
    this.heap?.release();
    this.heap = undefined;
  }
}
