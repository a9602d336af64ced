// The CPU backend's WebAssembly side: the SIMD matmul module (assembly/matmul.ts, built
// into matmul-wasm.ts) and the heap the float32 arenas live in.
//
// A WasmHeap is one WebAssembly.Memory per backend: a small reserved header, one packing
// scratch area per thread, then the arenas, each at a 64-byte-aligned offset, handed out
// by a bump allocator that grows the memory (growing detaches a non-shared memory's old
// buffer, so views must be re-created after every grow: see `generation`). A matmul
// whose three views lie in a heap's memory runs in wasm; anything else (float64 views,
// no WebAssembly SIMD) stays with the TypeScript twin.
import { MATMUL_WASM, MATMUL_WASM_RELAXED, MATMUL_WASM_SHARED, MATMUL_WASM_SHARED_RELAXED } from './matmul-wasm.ts';
import { SplitPause } from './split-pause.ts';
import {
  FLAGGED_CHUNKS_MAX,
  JOB_COMPACT,
  JOB_RELU_BACKWARD,
  JOB_SCATTER,
  JOB_SPMM,
  JOB_SPMM_MASKED,
  JOB_SPMMT,
  JOB_TRANSPOSE,
  JOB_UPDATE,
  pool,
  threadsSupported,
  type BoundMemory,
  type GemmArgs,
  type Helper,
} from './threads.ts';

/**
 * Which build of the kernels runs: 'relaxed' fuses their multiply-adds (relaxed SIMD's
 * f32x4.relaxed_madd: one rounding where the CPU has FMA, so results differ from the
 * TypeScript twin's in the last bits), 'plain' multiplies then adds (bit-identical to the twin).
 */
export type SimdVariant = 'plain' | 'relaxed';
/** What is asked for: 'auto' is relaxed where the engine validates it, else plain. */
export type SimdMode = 'auto' | SimdVariant;
const SIMD_MODES: readonly SimdMode[] = ['auto', 'plain', 'relaxed'];

/** The mode, checked (`what` names where it came from, for the message). */
export function checkSimdMode(mode: string, what: string): SimdMode {
  if ((SIMD_MODES as readonly string[]).includes(mode)) return mode as SimdMode;
  throw new Error(`${what} must be one of ${SIMD_MODES.join(', ')}, not "${mode}"`);
}

interface Modules {
  variant: SimdVariant;
  plain: WebAssembly.Module;
  /** Absent where shared memory (threads) is unsupported. */
  shared?: WebAssembly.Module;
}

interface KernelExports {
  gemm(...args: GemmArgs): void;
  biasAct(m: number, n: number, z: number, bias: number, out: number, relu: number, zeros: number): void;
  sumsq(x: number, n: number): number;
  update(p: number, g: number, m: number, n: number, lr: number, mu: number, wd: number, clip: number, sq: number): number;
  updateChunk(p: number, g: number, m: number, table: number, i: number, args: number, out: number, done: number): void;
  countNonzeros(a: number, n: number): number;
  reluBackward(n: number, l1: number, z: number, a: number, d: number, mask: number, units: number): void;
  colSums(rows: number, cols: number, x: number, out: number): void;
  scratchBytes(): number;
  compactRows(transA: number, m: number, k: number, a: number, lda: number, cnt: number, idx: number, val: number): number;
  transposeInto(rows: number, cols: number, src: number, ld: number, dst: number, ldDst: number): void;
  maskGroups(m: number, n: number, mask: number, ld: number, gcnt: number, gidx: number): number;
  spmmScatter(
    i0: number,
    i1: number,
    n: number,
    cnt: number,
    idx: number,
    val: number,
    cap: number,
    bcnt: number,
    bidx: number,
    bval: number,
    bcap: number,
    c: number,
    ldc: number,
  ): void;
  spmmMasked(
    i0: number,
    i1: number,
    j0: number,
    j1: number,
    cnt: number,
    idx: number,
    val: number,
    cap: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    mask: number,
    ldm: number,
    gcnt: number,
    gidx: number,
    gcap: number,
  ): void;
  spmm(
    i0: number,
    i1: number,
    j0: number,
    j1: number,
    cnt: number,
    idx: number,
    val: number,
    cap: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
  ): void;
  spmmT(
    i0: number,
    i1: number,
    j0: number,
    j1: number,
    cnt: number,
    idx: number,
    val: number,
    cap: number,
    bt: number,
    ldbt: number,
    k: number,
    c: number,
    ldc: number,
    scratch: number,
  ): void;
}

const BINARIES: Record<SimdVariant, { plain: string; shared: string }> = {
  plain: { plain: MATMUL_WASM, shared: MATMUL_WASM_SHARED },
  relaxed: { plain: MATMUL_WASM_RELAXED, shared: MATMUL_WASM_SHARED_RELAXED },
};
const modules: Partial<Record<SimdVariant, Modules>> = {};
/** Variants this engine does not validate (no WebAssembly SIMD, or no relaxed SIMD). */
const unavailable = new Set<SimdVariant>();
const pending: Partial<Record<SimdVariant, Promise<Modules | undefined>>> = {};

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The variants to try for a mode, best first. */
const tryOrder = (mode: SimdMode): SimdVariant[] => (mode === 'auto' ? ['relaxed', 'plain'] : [mode]);

function compileSync(variant: SimdVariant): Modules | undefined {
  if (modules[variant] || unavailable.has(variant)) return modules[variant];
  try {
    const bytes = decode(BINARIES[variant].plain);
    if (!WebAssembly.validate(bytes)) {
      unavailable.add(variant); // no WebAssembly SIMD (or relaxed SIMD) here
      return undefined;
    }
    const plain = new WebAssembly.Module(bytes);
    let shared: WebAssembly.Module | undefined;
    try {
      shared = new WebAssembly.Module(decode(BINARIES[variant].shared));
    } catch {
      shared = undefined;
    }
    modules[variant] = { variant, plain, shared };
  } catch {
    // No WebAssembly at all, or a refused synchronous compile: an async initWasm() may
    // still succeed in the latter case, so nothing is marked.
    return undefined;
  }
  return modules[variant];
}

/**
 * The compiled modules for a mode, compiling them synchronously on first use (fine in Node
 * and in workers; a browser main thread may refuse, then call initWasm() first). Undefined
 * where WebAssembly SIMD (for 'relaxed': relaxed SIMD) is unavailable.
 */
export function wasmModules(mode: SimdMode = 'auto'): Modules | undefined {
  for (const v of tryOrder(mode)) {
    const m = modules[v] ?? compileSync(v);
    if (m) return m;
  }
  return undefined;
}

/** Compiles the modules asynchronously (for browser main threads); true if usable. */
export async function initWasm(mode: SimdMode = 'auto'): Promise<boolean> {
  for (const v of tryOrder(mode)) {
    if (modules[v]) return true;
    if (unavailable.has(v)) continue;
    pending[v] ??= (async () => {
      try {
        const bytes = decode(BINARIES[v].plain);
        if (!WebAssembly.validate(bytes)) throw new Error('not validated');
        const plain = await WebAssembly.compile(bytes);
        const shared = await WebAssembly.compile(decode(BINARIES[v].shared)).catch(() => undefined);
        modules[v] ??= { variant: v, plain, shared };
      } catch {
        unavailable.add(v);
      }
      return modules[v];
    })();
    if ((await pending[v]) !== undefined) return true;
  }
  return false;
}

const PAGE = 65536;
const ALIGN = 64;
/** Bytes kept free at address 0 (no arena or scratch starts at a null pointer). */
const HEADER = 1024;
/** Largest shared memory asked for, in pages (4 GiB), then smaller on refusal. */
const SHARED_MAX_PAGES = [65536, 16384, 4096];
/** Default smallest M·N·K that is split across threads (~4 MFLOP, ≳ 100 µs on one core). */
export const DEFAULT_SPLIT_ABOVE = 1 << 21;
/**
 * Chunks of C per thread when split. More chunks balance the load when a core is busy
 * with something else (a helper there just takes fewer), but each chunk packs its own
 * panels of the other operand: 1–4 measured alike on two idle cores, 3 is kept.
 */
const CHUNKS_PER_THREAD = 3;
/** Columns of C per panel of spmm and spmmT (the kernel's P): a panel of Bᵀ takes 4 · P · k bytes of scratch. */
const SPMM_PANEL = 24;
/**
 * Parameters per chunk of a large update (more when there would be over UPDATE_CHUNKS_MAX
 * chunks): fixed, so that the chunks' sums of squares, added in chunk order, do not
 * depend on how many threads ran them.
 */
const UPDATE_CHUNK = 1 << 16;
const UPDATE_CHUNKS_MAX = 4096;
/** Smallest update (parameters) split across threads: it streams several arrays that size. */
const SPLIT_UPDATE = 1 << 18;
/** Smallest transpose (floats moved) split across threads. */
const SPLIT_MOVES = 1 << 18;
/**
 * Smallest op(A) (elements) whose compaction is split across threads: a batch-256 layer's
 * (0.3 ms on one core, 2 ms transposed), not a batch-64 one's, where waking a helper costs
 * about what it saves (measured alike on one and two threads).
 */
const SPLIT_COMPACT = 1 << 17;
/**
 * Smallest relu backward (elements) split across threads: a batch-256 layer of 1000 units
 * (~0.9 ms on one core), long enough to be judged as products are. A batch-64 layer's
 * (~0.2 ms) showed no gain on a shared 2-core machine and lost when the cores were busy.
 */
const SPLIT_RELU_BACKWARD = 1 << 17;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Heaps by the buffer their views are made on (re-registered after every grow). */
const byBuffer = new WeakMap<ArrayBufferLike, WasmHeap>();
let nextId = 1;

/** Parameters [from, from + length) of an update whose Σ g² is wanted on its own. */
export interface UpdatePiece {
  from: number;
  length: number;
}

const NO_PIECES: readonly UpdatePiece[] = [];

/** A chunked update's table: for which count and pieces, its chunks, and each piece's chunks [first, end). */
interface HeapUpdateChunks {
  n: number;
  pieces: readonly UpdatePiece[];
  count: number;
  of: [number, number][];
}

export interface HeapOptions {
  /** Threads to use (the caller and threads − 1 helpers); 1: never a worker. */
  threads: number;
  /** Smallest M·N·K worth splitting across threads. */
  splitAbove?: number;
  /** Which build of the kernels (default 'auto'). */
  simd?: SimdMode;
}

export class WasmHeap {
  readonly id = nextId++;
  /** Bumped on every grow: views made before are stale (detached, for a non-shared memory). */
  generation = 0;
  readonly threads: number;
  readonly splitAbove: number;
  /** Products run (dense and sparse), how many were split across threads, how many ran sparse; updates split across threads. */
  private readonly counts = { gemms: 0, split: 0, spmms: 0, splitUpdates: 0 };
  /** Compactions (compactRows) split across threads. */
  compactionsSplit = 0;
  /** Relu backwards split across threads. */
  backwardsSplit = 0;
  /** When splitting pauses because the helpers lost time (split-pause.ts). */
  private readonly pauser = new SplitPause();
  private top: number;
  /** Regions given back (freed arenas), reused by later reservations before the memory grows. */
  private holes: { at: number; bytes: number }[] = [];
  private readonly scratch: number[] = [];
  /** Bytes of each thread's scratch (gemm's packing; spmmT's panels of Bᵀ). */
  private readonly scratchBytes: number;
  private released = false;
  private readonly gemmFn: (...args: GemmArgs) => void;
  /** A chunked update's f64 arguments, then per chunk its range and flag (3 i32), Σ g² (f64) and done flag (i32). */
  private readonly updateAt: { args: number; table: number; out: number; done: number };
  /** The chunks written at updateAt.table: for which parameter count and pieces, each piece's chunks [first, end). */
  private updateChunks: HeapUpdateChunks | undefined;

  private constructor(
    readonly memory: WebAssembly.Memory,
    private readonly kernel: KernelExports,
    private readonly module: WebAssembly.Module,
    /** The build of the kernels this heap runs. */
    readonly variant: SimdVariant,
    readonly shared: boolean,
    threads: number,
    splitAbove: number,
  ) {
    this.threads = threads;
    this.splitAbove = splitAbove;
    this.top = HEADER;
    this.gemmFn = kernel.gemm;
    const bytes = alignUp(kernel.scratchBytes(), ALIGN);
    this.scratchBytes = bytes;
    for (let t = 0; t < threads; t++) this.scratch.push(this.reserve([bytes])[0]);
    const [args, table, out, done] = this.reserve([32, UPDATE_CHUNKS_MAX * 12, UPDATE_CHUNKS_MAX * 8, UPDATE_CHUNKS_MAX * 4]);
    this.updateAt = { args, table, out, done };
    byBuffer.set(memory.buffer, this);
  }

  /**
   * A heap with the kernel instantiated over it, or undefined where WebAssembly SIMD is
   * unavailable. With threads > 1 it takes a shared memory where workers exist, and
   * falls back to one thread otherwise.
   */
  static create(opts: HeapOptions): WasmHeap | undefined {
    const mods = wasmModules(opts.simd ?? 'auto');
    if (!mods) return undefined;
    let threads = Math.max(1, Math.floor(opts.threads));
    const splitAbove = opts.splitAbove ?? DEFAULT_SPLIT_ABOVE;
    if (threads > 1 && mods.shared && threadsSupported()) {
      for (const maximum of SHARED_MAX_PAGES) {
        try {
          const memory = new WebAssembly.Memory({ initial: 1, maximum, shared: true });
          const inst = new WebAssembly.Instance(mods.shared, { env: { memory } });
          return new WasmHeap(memory, inst.exports as unknown as KernelExports, mods.shared, mods.variant, true, threads, splitAbove);
        } catch {
          // a smaller maximum, or no shared memory at all
        }
      }
    }
    threads = 1;
    try {
      const memory = new WebAssembly.Memory({ initial: 1 });
      const inst = new WebAssembly.Instance(mods.plain, { env: { memory } });
      return new WasmHeap(memory, inst.exports as unknown as KernelExports, mods.plain, mods.variant, false, threads, splitAbove);
    } catch {
      return undefined;
    }
  }

  /**
   * Reserves zeroed regions of these byte sizes (each 64-byte aligned), growing once. A
   * region given back (giveBack) that is large enough is reused first, the smallest such.
   */
  reserve(bytes: number[]): number[] {
    if (this.released) throw new Error('the WebAssembly heap was released');
    const at: number[] = [];
    let top = this.top;
    for (const n of bytes) {
      const need = alignUp(Math.max(n, 1), ALIGN);
      let best = -1;
      this.holes.forEach((h, i) => h.bytes >= need && (best < 0 || h.bytes < this.holes[best].bytes) && (best = i));
      if (best >= 0) {
        const h = this.holes[best];
        at.push(h.at);
        new Uint8Array(this.memory.buffer, h.at, need).fill(0);
        if (h.bytes > need) this.holes[best] = { at: h.at + need, bytes: h.bytes - need };
        else this.holes.splice(best, 1);
        continue;
      }
      top = alignUp(top, ALIGN);
      at.push(top);
      top += Math.max(n, 1);
    }
    const have = this.memory.buffer.byteLength;
    if (top > have) {
      try {
        this.memory.grow(Math.ceil((top - have) / PAGE));
      } catch (e) {
        throw new Error(`cannot grow the CPU backend's WebAssembly memory to ${top} bytes: ${(e as Error).message}`);
      }
      this.generation++;
      byBuffer.set(this.memory.buffer, this);
    }
    this.top = top;
    return at;
  }

  /**
   * Takes back a region reserve() handed out (an arena no longer used), for later
   * reservations: the memory never shrinks, but freeing and re-making arenas (a model
   * pruned during training) does not grow it each time.
   */
  giveBack(at: number, bytes: number): void {
    const size = alignUp(Math.max(bytes, 1), ALIGN);
    this.holes.push({ at, bytes: size });
    // Neighbours merge, so a run of freed arenas can hold one larger one.
    this.holes.sort((a, b) => a.at - b.at);
    this.holes = this.holes.reduce<{ at: number; bytes: number }[]>((out, h) => {
      const last = out[out.length - 1];
      if (last && last.at + last.bytes === h.at) last.bytes += h.bytes;
      else out.push({ ...h });
      return out;
    }, []);
  }

  /** Float32 and Uint32 views of `n` elements at byte offset `at` (valid until the next grow). */
  views(at: number, n: number): { f: Float32Array; u: Uint32Array } {
    const buf = this.memory.buffer;
    // Register the very buffer object the views are made on: a shared memory's `buffer`
    // getter can hand out a new object after a grow, which would hide the views' heap.
    byBuffer.set(buf, this);
    return { f: new Float32Array(buf, at, n), u: new Uint32Array(buf, at, n) };
  }

  /**
   * Products run (dense and sparse), how many were split across threads, how often
   * splitting was paused, how many ran sparse; and parameter updates split across threads.
   */
  get stats(): { gemms: number; split: number; pauses: number; spmms: number; splitUpdates: number } {
    return { ...this.counts, pauses: this.pauser.pauses };
  }

  /** Bytes of linear memory in use. */
  get size(): number {
    return this.memory.buffer.byteLength;
  }

  /** Starts the helper threads and waits (up to timeoutMs) until they are ready: how many are. */
  async warmUp(timeoutMs?: number): Promise<number> {
    if (!this.shared || this.threads < 2 || this.released) return 0;
    return pool.warmUp(this.threads - 1, this.module, timeoutMs);
  }

  /**
   * The helpers for a product large enough to split (`big`), none while splitting is
   * paused: every large product, dense or sparse, counts the pause down (split-pause.ts).
   */
  private splitHelpers(big: boolean): Helper[] {
    return big && this.pauser.allow() ? this.helpers() : [];
  }

  /** Helpers actually running now (0 until the workers have started). */
  private helpers(): Helper[] {
    if (!this.shared || this.threads < 2) return [];
    const mem: BoundMemory = { memory: this.memory, module: this.module, id: this.id, generation: this.generation };
    return pool.take(this.threads - 1, this.module, mem);
  }

  /**
   * C[M×N] = op(A)·op(B) on byte offsets into this memory (A stored M×K, or K×M when
   * transA; B stored K×N, or N×K when transB; C row-major M×N). The split across threads
   * does not change the result: every element is summed in the same order.
   */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, a: number, b: number, c: number): void {
    const tA = transA ? 1 : 0;
    const tB = transB ? 1 : 0;
    const lda = transA ? M : K;
    const ldb = transB ? K : N;
    this.counts.gemms++;
    const work = M * N * K;
    const helpers = this.splitHelpers(work >= this.splitAbove);
    if (helpers.length === 0) {
      this.kernel.gemm(tA, tB, M, N, K, a, lda, b, ldb, c, N, 0, this.scratch[0]);
      return;
    }
    // Chunks of the larger side of C, multiples of the 4 × 8 register tile, a few per thread.
    const threads = helpers.length + 1;
    const alongN = N >= M;
    const side = alongN ? N : M;
    const unit = alongN ? 8 : 4;
    const size = Math.max(unit, alignUp(Math.ceil(side / (CHUNKS_PER_THREAD * threads)), unit));
    const count = Math.ceil(side / size);
    if (count < 2) {
      this.kernel.gemm(tA, tB, M, N, K, a, lda, b, ldb, c, N, 0, this.scratch[0]);
      return;
    }
    this.counts.split++;
    const { gain, ms } = pool.run(helpers, this.gemmFn, [tA, tB, M, N, K, a, lda, b, ldb, c, N], alongN ? 0 : 1, size, count, this.scratch);
    this.judge(gain, ms);
  }

  /**
   * After a split product: `gain` is the time one thread would have taken (the caller's
   * time per chunk × chunks) over the time the split took (split-pause.ts decides).
   */
  private judge(gain: number, ms: number): void {
    this.pauser.judge(gain, ms);
  }

  /**
   * z += bias (per column), out = relu(z) or z, on byte offsets into this memory (M × N,
   * row-major); with zeros (non-zero offset), each column's exact zeros in out are added
   * to the i32 at zeros + 4·column.
   */
  biasAct(M: number, N: number, z: number, bias: number, out: number, relu: boolean, zeros = 0): void {
    this.kernel.biasAct(M, N, z, bias, out, relu ? 1 : 0, zeros);
  }

  /** Σ x² over n floats at byte offset x (f32 within blocks, f64 across them). */
  sumsq(x: number, n: number): number {
    return this.kernel.sumsq(x, n);
  }

  /**
   * SGD (m = 0) or momentum (moment at byte offset m) over n parameters, as the optimiser
   * twin computes them; returns Σ g² of the gradients read when sq, else 0.
   */
  update(p: number, g: number, m: number, n: number, lr: number, mu: number, wd: number, clip: number, sq: boolean): number {
    if (n <= UPDATE_CHUNK) return this.kernel.update(p, g, m, n, lr, mu, wd, clip, sq ? 1 : 0);
    return sq ? this.updatePieces(p, g, m, n, lr, mu, wd, clip, [{ from: 0, length: n }])[0] : (this.updatePieces(p, g, m, n, lr, mu, wd, clip, NO_PIECES), 0);
  }

  /**
   * update() over n parameters that returns Σ g² of each of `pieces` (sorted, apart, within
   * [0, n)) in one pass: one job for the helpers, where an update per piece took one each
   * (and a wait for the last chunk of each). Pass the same pieces array again to reuse its
   * chunks.
   */
  updatePieces(p: number, g: number, m: number, n: number, lr: number, mu: number, wd: number, clip: number, pieces: readonly UpdatePiece[]): number[] {
    const kern = this.kernel;
    let c = this.updateChunks;
    if (!c || c.n !== n || c.pieces !== pieces) {
      c = this.chunkUpdate(n, pieces);
      if (!c) {
        // Too many pieces for the table: one update per piece (and per gap between them).
        let at = 0;
        const sums = pieces.map((piece) => {
          if (piece.from > at) this.update(p + 4 * at, g + 4 * at, m && m + 4 * at, piece.from - at, lr, mu, wd, clip, false);
          at = piece.from + piece.length;
          return this.update(p + 4 * piece.from, g + 4 * piece.from, m && m + 4 * piece.from, piece.length, lr, mu, wd, clip, true);
        });
        if (n > at) this.update(p + 4 * at, g + 4 * at, m && m + 4 * at, n - at, lr, mu, wd, clip, false);
        return sums;
      }
      this.updateChunks = c;
    }
    const { count } = c;
    const { args, table, out, done } = this.updateAt;
    const buf = this.memory.buffer;
    new Float64Array(buf, args, 4).set([lr, mu, wd, clip]);
    const flags = new Int32Array(buf, done, count);
    flags.fill(0);
    const chunk = (i: number) => kern.updateChunk(p, g, m, table, i, args, out, done);
    const helpers = this.splitHelpers(n >= SPLIT_UPDATE);
    if (helpers.length === 0) {
      for (let i = 0; i < count; i++) chunk(i);
    } else {
      this.counts.splitUpdates++;
      // Should a helper fail, the caller runs the chunks not marked done (each exactly once).
      const rest = () => {
        for (let i = 0; i < count; i++) if (flags[i] === 0) chunk(i);
      };
      this.runJudged(helpers, JOB_UPDATE, [p, g, m, table, args, out, done], UPDATE_CHUNK, count, chunk, rest);
    }
    // Each piece's chunks in order: the same sums whoever ran them.
    const sums = new Float64Array(buf, out, count);
    return c.of.map(([first, end]) => {
      let s = 0;
      for (let i = first; i < end; i++) s += sums[i];
      return s;
    });
  }

  /**
   * The chunks of an update of n parameters with `pieces` summed, written to the table:
   * the pieces and the gaps between them, each cut into chunks of a fixed size (so that a
   * piece's sum does not depend on how many threads ran it); undefined when they would not
   * fit in the table.
   */
  private chunkUpdate(n: number, pieces: readonly UpdatePiece[]): HeapUpdateChunks | undefined {
    const size = alignUp(Math.max(UPDATE_CHUNK, Math.ceil(n / UPDATE_CHUNKS_MAX)), 4);
    const rows: number[] = [];
    const cut = (from: number, to: number, sq: number) => {
      for (let at = from; at < to; at += size) rows.push(at, Math.min(to, at + size), sq);
    };
    const of: [number, number][] = [];
    let at = 0;
    for (const piece of pieces) {
      if (piece.from < at || piece.length < 0 || piece.from + piece.length > n)
        throw new Error(`update: piece [${piece.from}, +${piece.length}] is out of order or outside ${n} parameters`);
      cut(at, piece.from, 0);
      const first = rows.length / 3;
      cut(piece.from, piece.from + piece.length, 1);
      of.push([first, rows.length / 3]);
      at = piece.from + piece.length;
    }
    cut(at, n, 0);
    const count = rows.length / 3;
    if (count > UPDATE_CHUNKS_MAX) return undefined;
    new Int32Array(this.memory.buffer, this.updateAt.table, rows.length).set(rows);
    return { n, pieces, count, of };
  }

  /** The relu activation backward over n elements (byte offsets; mask 0 for none), as its twin computes it. */
  reluBackward(n: number, l1: number, z: number, a: number, d: number, mask: number, units: number): void {
    const kern = this.kernel;
    // Each element is computed alone, so chunks go to the helpers; masked chunks are whole
    // rows of `units` (each starts at the mask's first unit, as the whole pass does there).
    const helpers = this.splitHelpers(n >= SPLIT_RELU_BACKWARD);
    const unit = mask ? Math.max(1, units) : 64;
    const size = alignUp(Math.ceil(n / (CHUNKS_PER_THREAD * (helpers.length + 1))), unit);
    const count = Math.ceil(n / size);
    if (helpers.length === 0 || count < 2 || count > FLAGGED_CHUNKS_MAX || (mask && n % unit !== 0)) {
      kern.reluBackward(n, l1, z, a, d, mask, units);
      return;
    }
    const bits = new Int32Array(new Float64Array([l1]).buffer);
    const chunk = (i: number) => kern.reluBackward(Math.min(n - i * size, size), l1, z + i * size * 4, a + i * size * 4, d + i * size * 4, mask, units);
    // In place: should a helper fail, the caller runs only the chunks not marked done.
    this.backwardsSplit++;
    pool.clearDone(count);
    this.runJudged(
      helpers,
      JOB_RELU_BACKWARD,
      [n, bits[0], bits[1], z, a, d, mask, units],
      size,
      count,
      (i) => {
        chunk(i);
        pool.markDone(i);
      },
      () => {
        for (let i = 0; i < count; i++) if (!pool.isDone(i)) chunk(i);
      },
    );
  }

  /** Column sums (f32, rows in order) of a rows × cols row-major matrix, byte offsets. */
  colSums(rows: number, cols: number, x: number, out: number): void {
    this.kernel.colSums(rows, cols, x, out);
  }

  /**
   * The nonzeros of op(A) (m × k) as per-row lists at cnt (m i32), idx and val (m·k
   * entries each), on byte offsets: the total count.
   */
  compactRows(transA: boolean, m: number, k: number, a: number, cnt: number, idx: number, val: number): number {
    const kern = this.kernel;
    const tA = transA ? 1 : 0;
    const lda = transA ? m : k;
    // op(A) stored transposed is compacted from a row-major copy of a block of its rows
    // made in the thread's scratch (a tiled transpose, then the row-wise scan: about 1.7×
    // faster than gathering down the columns; the same lists). Blocks fit the scratch.
    const block = transA ? Math.floor(this.scratchBytes / (4 * k)) : m;
    const viaCopy = transA && block >= 1;
    const rowsAt = (lo: number, rows: number, scratch: number) => {
      if (!viaCopy) return kern.compactRows(tA, rows, k, transA ? a + lo * 4 : a + lo * lda * 4, lda, cnt + lo * 4, idx + lo * k * 4, val + lo * k * 4);
      let n = 0;
      for (let r = 0; r < rows; r += block) {
        const b = Math.min(block, rows - r);
        kern.transposeInto(k, b, a + (lo + r) * 4, lda, scratch, k);
        n += kern.compactRows(0, b, k, scratch, k, cnt + (lo + r) * 4, idx + (lo + r) * k * 4, val + (lo + r) * k * 4);
      }
      return n;
    };
    // Rows are compacted independently (each into its own slots), so chunks of rows can
    // go to the helpers; a pause (busy cores) keeps it on this thread without counting.
    const helpers = m * k >= SPLIT_COMPACT && !this.pauser.paused ? this.helpers() : [];
    const size = Math.min(Math.ceil(m / (CHUNKS_PER_THREAD * (helpers.length + 1))), viaCopy ? block : m);
    const count = Math.ceil(m / size);
    if (helpers.length === 0 || count < 2) return rowsAt(0, m, this.scratch[0]);
    this.compactionsSplit++;
    let mine = 0;
    let whole = -1;
    pool.runJob(
      helpers,
      JOB_COMPACT,
      [tA, m, k, a, lda, cnt, idx, val, 0, viaCopy ? 1 : 0],
      size,
      count,
      (i) => {
        const lo = i * size;
        mine += rowsAt(lo, Math.min(m - lo, size), this.scratch[0]);
      },
      () => (whole = rowsAt(0, m, this.scratch[0])),
      this.scratch,
    );
    return whole >= 0 ? whole : mine + pool.compactTotal();
  }

  /** Nonzeros among n floats at byte offset a (NaN counts, −0 does not). */
  countNonzeros(a: number, n: number): number {
    return this.kernel.countNonzeros(a, n);
  }

  /** dst (cols × rows) = transpose of src (rows × cols), row-major, byte offsets. */
  transpose(rows: number, cols: number, src: number, dst: number): void {
    const k = this.kernel;
    const helpers = this.splitHelpers(rows * cols >= SPLIT_MOVES);
    // Chunks of 64 source rows (the kernel's tile), a few per thread.
    const size = alignUp(Math.ceil(rows / (CHUNKS_PER_THREAD * (helpers.length + 1))), 64);
    const count = Math.ceil(rows / size);
    if (helpers.length === 0 || count < 2) {
      k.transposeInto(rows, cols, src, cols, dst, rows);
      return;
    }
    this.runJudged(
      helpers,
      JOB_TRANSPOSE,
      [rows, cols, src, cols, dst, rows],
      size,
      count,
      (i) => k.transposeInto(Math.min(rows - i * size, size), cols, src + i * size * cols * 4, cols, dst + i * size * 4, rows),
      () => k.transposeInto(rows, cols, src, cols, dst, rows),
    );
  }

  /**
   * C[m×n] = (lists of compactRows with k columns)·B, B row-major k × n, C row-major m × n,
   * summing only the listed nonzeros (byte offsets). Overwrites C.
   */
  spmm(m: number, n: number, k: number, cnt: number, idx: number, val: number, b: number, c: number): void {
    this.counts.gemms++;
    this.counts.spmms++;
    const kern = this.kernel;
    // Split C's columns across threads when the listed work is large (nnz·n is unknown
    // here without a pass: m·n·k bounds it, and lists this long are rarely near empty).
    const helpers = this.splitHelpers(m * n * k >= this.splitAbove && n >= 64);
    const size = alignUp(Math.ceil(n / (CHUNKS_PER_THREAD * (helpers.length + 1))), SPMM_PANEL);
    const count = Math.ceil(n / size);
    if (helpers.length === 0 || count < 2) {
      kern.spmm(0, m, 0, n, cnt, idx, val, k, b, n, c, n);
      return;
    }
    this.counts.split++;
    this.runJudged(
      helpers,
      JOB_SPMM,
      [m, n, cnt, idx, val, k, b, n, c, n],
      size,
      count,
      (i) => kern.spmm(0, m, i * size, Math.min(n, (i + 1) * size), cnt, idx, val, k, b, n, c, n),
      () => kern.spmm(0, m, 0, n, cnt, idx, val, k, b, n, c, n),
    );
  }

  /**
   * spmm with B stored transposed (bt: n × k row-major): each thread transposes the panels
   * of B its columns of C need into its own scratch as it goes (results as spmm's on a
   * transposed copy). False, computing nothing, where k is too long for the scratch.
   */
  spmmT(m: number, n: number, k: number, cnt: number, idx: number, val: number, bt: number, c: number): boolean {
    // The panel of Bᵀ, then a cursor per row of C.
    if (k * SPMM_PANEL * 4 + m * 4 > this.scratchBytes) return false;
    this.counts.gemms++;
    this.counts.spmms++;
    const kern = this.kernel;
    const s = this.scratch;
    const helpers = this.splitHelpers(m * n * k >= this.splitAbove && n >= 64);
    const size = alignUp(Math.ceil(n / (CHUNKS_PER_THREAD * (helpers.length + 1))), SPMM_PANEL);
    const count = Math.ceil(n / size);
    const whole = () => kern.spmmT(0, m, 0, n, cnt, idx, val, k, bt, k, k, c, n, s[0]);
    if (helpers.length === 0 || count < 2) {
      whole();
      return true;
    }
    this.counts.split++;
    this.runJudged(
      helpers,
      JOB_SPMMT,
      [m, n, cnt, idx, val, k, bt, k, c, n, k],
      size,
      count,
      (i) => kern.spmmT(0, m, i * size, Math.min(n, (i + 1) * size), cnt, idx, val, k, bt, k, k, c, n, s[0]),
      whole,
      s,
    );
    return true;
  }

  /**
   * Per row of the m × n row-major mask at byte offset `mask`, its groups of 4 columns
   * holding a nonzero, as lists at gcnt (m i32) and gidx (m·⌈n/4⌉ u32): the mask's nonzeros.
   */
  maskGroups(m: number, n: number, mask: number, gcnt: number, gidx: number): number {
    return this.kernel.maskGroups(m, n, mask, n, gcnt, gidx);
  }

  /**
   * spmm (B row-major k × n) computed only where the m × n mask is nonzero (its groups
   * listed by maskGroups), with the same bits there as spmm; +0 elsewhere in C.
   */
  spmmMasked(m: number, n: number, k: number, cnt: number, idx: number, val: number, b: number, c: number, mask: number, gcnt: number, gidx: number): void {
    this.counts.gemms++;
    this.counts.spmms++;
    const kern = this.kernel;
    const gcap = Math.ceil(n / 4);
    const part = (j0: number, j1: number) => kern.spmmMasked(0, m, j0, j1, cnt, idx, val, k, b, n, c, n, mask, n, gcnt, gidx, gcap);
    // Split as spmm is (m·n·k bounds the work), in chunks of C's columns.
    const helpers = this.splitHelpers(m * n * k >= this.splitAbove && n >= 64);
    const size = alignUp(Math.ceil(n / (CHUNKS_PER_THREAD * (helpers.length + 1))), 32);
    const count = Math.ceil(n / size);
    if (helpers.length === 0 || count < 2) {
      part(0, n);
      return;
    }
    this.counts.split++;
    this.runJudged(
      helpers,
      JOB_SPMM_MASKED,
      [m, n, k, cnt, idx, val, b, c, mask, gcnt, gidx],
      size,
      count,
      (i) => part(i * size, Math.min(n, (i + 1) * size)),
      () => part(0, n),
    );
  }

  /**
   * C (m × n) = (lists of compactRows with k columns)·B where B (k × n) is given by its own
   * row lists (compactRows of B, n columns): each term added only at B's nonzeros.
   */
  spmmScatter(m: number, n: number, k: number, cnt: number, idx: number, val: number, bcnt: number, bidx: number, bval: number, c: number): void {
    this.counts.gemms++;
    this.counts.spmms++;
    const kern = this.kernel;
    const part = (i0: number, i1: number) => kern.spmmScatter(i0, i1, n, cnt, idx, val, k, bcnt, bidx, bval, n, c, n);
    // Rows of C are independent (each summed by one thread in list order), so chunks of
    // rows go to the helpers; split as spmm is (m·n·k bounds the work).
    const helpers = this.splitHelpers(m * n * k >= this.splitAbove && m >= 8);
    const size = Math.ceil(m / (CHUNKS_PER_THREAD * (helpers.length + 1)));
    const count = Math.ceil(m / size);
    if (helpers.length === 0 || count < 2) {
      part(0, m);
      return;
    }
    this.counts.split++;
    this.runJudged(
      helpers,
      JOB_SCATTER,
      [m, n, k, cnt, idx, val, bcnt, bidx, bval, c],
      size,
      count,
      (i) => part(i * size, Math.min(m, (i + 1) * size)),
      () => part(0, m),
    );
  }

  /**
   * pool.runJob, timing the chunks this thread runs, then judging the split as gemm's are
   * (sparse products wait on their helpers as dense ones do, and pause with them).
   */
  private runJudged(
    helpers: Helper[],
    kind: number,
    args: number[],
    size: number,
    count: number,
    chunk: (i: number) => void,
    whole: () => void,
    scratch?: number[],
  ): void {
    let mine = 0;
    let mineMs = 0;
    const t0 = performance.now();
    const timed = (i: number) => {
      const t = performance.now();
      chunk(i);
      mineMs += performance.now() - t;
      mine++;
    };
    pool.runJob(helpers, kind, args, size, count, timed, whole, scratch);
    const ms = performance.now() - t0;
    this.judge(mine > 0 && ms > 0 ? ((mineMs / mine) * count) / ms : Infinity, ms);
  }

  /**
   * Runs f (timing runs) without counting its products, with the helpers used as on idle
   * cores: a pause (or a split judged slow) during a timing run would time one path on one
   * thread and the other on all of them.
   */
  untracked<T>(f: () => T): T {
    const saved = { ...this.counts };
    try {
      return this.pauser.suspend(f);
    } finally {
      Object.assign(this.counts, saved);
    }
  }

  /** Lets the memory go: helpers drop it, and no view is made on it any more. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.shared) pool.release(this.id);
  }
}

/** The heap whose memory holds this array's buffer. */
export function heapOf(x: ArrayBufferView): WasmHeap | undefined {
  return byBuffer.get(x.buffer);
}

/**
 * C = op(A)·op(B) in WebAssembly when a, b and c are Float32Arrays in one heap's memory;
 * false (nothing done) otherwise, for the caller to use the TypeScript twin.
 */
export function wasmMatmul(
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  a: ArrayBufferView,
  b: ArrayBufferView,
  c: ArrayBufferView,
): boolean {
  if (!(a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array)) return false;
  const heap = heapOf(a);
  if (!heap || heapOf(b) !== heap || heapOf(c) !== heap) return false;
  if (a.length < M * K || b.length < K * N || c.length < M * N) throw new Error(`wasm matmul: views too short for ${M}×${K}·${K}×${N}`);
  heap.gemm(transA, transB, M, N, K, a.byteOffset, b.byteOffset, c.byteOffset);
  return true;
}

/**
 * The fused layer's epilogue in WebAssembly for the linear (act 0) and relu (act 1)
 * activations, when z, bias and out are Float32Arrays in one heap's memory: z += bias,
 * out = act(z), bit for bit as the TypeScript twin. False (nothing done) otherwise.
 */
export function wasmBiasAct(
  M: number,
  N: number,
  act: number,
  z: ArrayBufferView,
  bias: ArrayBufferView,
  out: ArrayBufferView,
  /** Per-column zero counts of out to add to (N i32 in the same memory), if wanted. */
  zeros?: Int32Array,
): boolean {
  if (act !== 0 && act !== 1) return false;
  if (!(z instanceof Float32Array && bias instanceof Float32Array && out instanceof Float32Array)) return false;
  const heap = heapOf(z);
  if (!heap || heapOf(bias) !== heap || heapOf(out) !== heap) return false;
  if (zeros && (heapOf(zeros) !== heap || zeros.length < N)) return false;
  if (z.length < M * N || out.length < M * N || bias.length < N) throw new Error(`wasm bias+activation: views too short for ${M}×${N}`);
  heap.biasAct(M, N, z.byteOffset, bias.byteOffset, out.byteOffset, act === 1, zeros ? zeros.byteOffset : 0);
  return true;
}

/** Stops the helper threads (they are unref'd and never keep a process alive; this is for tidy tests). */
export function stopHelpers(): void {
  pool.shutdown();
}
