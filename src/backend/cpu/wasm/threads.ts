// Helper threads for the WebAssembly matmul: each helper is a worker (worker_threads in
// Node, a Web Worker in a browser) running the same module over the backend's shared
// WebAssembly.Memory. The caller stays synchronous: it wakes the helpers through small
// control blocks (Atomics.notify), claims chunks of C alongside them, then Atomics.waits
// for them.
//
// Workers are started lazily, once per process (or per thread that uses a CPU backend),
// are unref'd in Node so they never keep the process alive, and are used only once they
// report ready (until then the caller computes everything). A browser has helpers only
// where the backend itself runs in a worker (Atomics.wait is refused on a page's main
// thread) of a cross-origin isolated page (no SharedArrayBuffer otherwise): see
// threadsUnavailable().

/** Arguments of the exported `gemm`, in order. */
export type GemmArgs = [
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
  accumulate: number,
  scratch: number,
];

// A product is cut into chunks of C's columns (or rows) that the caller and the helpers
// claim one at a time from a shared counter, so a helper that starts late or runs on a
// busy core simply takes fewer chunks. The job block (one per pool, Int32 slots):
const J_NEXT = 0; // next chunk to claim (Atomics.add)
const J_COUNT = 1; // number of chunks
const J_AXIS = 2; // 0: chunks of columns, 1: chunks of rows
const J_SIZE = 3; // columns (rows) per chunk
const J_ARGS = 4; // transA, transB, m, n, k, a, lda, b, ldb, c, ldc of the whole product
const J_KIND = J_ARGS + 11; // JOB_GEMM, or JOB_SPMM / JOB_TRANSPOSE with their own arguments at J_ARGS
const J_SLOTS = J_ARGS + 12;
/** Per chunk of a JOB_RELU_BACKWARD (in place: a chunk must not run twice), 1 once done. */
const J_DONE = J_SLOTS;
/** The most chunks a job with done flags may have. */
export const FLAGGED_CHUNKS_MAX = 256;
export const JOB_GEMM = 0;
/** spmm over chunks of C's columns; args m, n, cnt, idx, val, cap, b, ldb, c, ldc. */
export const JOB_SPMM = 1;
/** transposeInto over chunks of the source's rows; args rows, cols, src, ld, dst, ldDst. */
export const JOB_TRANSPOSE = 2;
/** spmmT over chunks of C's columns, in each thread's scratch; args m, n, cnt, idx, val, cap, bt, ldbt, c, ldc, k. */
export const JOB_SPMMT = 3;
/** spmmMasked over chunks of C's columns (multiples of 4); args m, n, k, cnt, idx, val, b, c, mask, gcnt, gidx. */
export const JOB_SPMM_MASKED = 4;
/** updateChunk over chunks of the parameters; args p, g, m, table (from, to, sq per chunk), args, out (f64 per chunk), done (i32 per chunk). */
export const JOB_UPDATE = 5;
/**
 * compactRows over chunks of op(A)'s rows; args transA, m, k, a, lda, cnt, idx, val, then the
 * nonzero total (Atomics.add), then viaCopy: 1 when a transposed op(A)'s chunk is first
 * copied row-major into the thread's scratch (chunks then fit it).
 */
export const JOB_COMPACT = 6;
/** spmmScatter over chunks of C's rows; args m, n, k, cnt, idx, val, bcnt, bidx, bval, c (caps k and n, ldc n). */
export const JOB_SCATTER = 7;
/**
 * reluBackward over chunks of elements (whole rows of `units` when masked); args n, l1 (f64
 * as two i32: low, high), z, a, d, mask, units.
 */
export const JOB_RELU_BACKWARD = 8;
/** The job slot where JOB_COMPACT's chunks add up their nonzeros. */
const J_COMPACT_TOTAL = J_ARGS + 8;

// A helper's control block (Int32 slots).
const SEQ = 0; // command number, written by the caller
const DONE = 1; // last command finished, written by the helper
const READY = 2; // 1 once the helper is waiting for commands
const CMD = 3; // CMD_GEMM, CMD_BIND or CMD_QUIT
const FAILED = 4; // 1 when the last command threw
const SCRATCH = 5; // the helper's scratch area (byte offset)
const SLOTS = 6;
const CMD_GEMM = 0;
const CMD_BIND = 1;
const CMD_QUIT = 2;

/** The longest a caller waits for a helper before giving up on it. */
const WAIT_LIMIT_MS = 60_000;
/**
 * How long a thread spins on the other's flag before sleeping on it, in Node: a helper
 * waiting for the next job, the caller waiting for a helper's last chunk. A futex sleep and
 * wake-up costs tens of microseconds, more in a virtual machine, and a training step runs a
 * dozen split jobs a fraction of a millisecond apart (a profile of the sparse path at batch
 * 64 had the caller waiting ~1.4 ms a step). Not in a browser: there the spinning kept both
 * cores of a two-core machine busy through training and starved the page's main thread
 * (tasks of 50–90 ms in the demo).
 */
const SPIN_MS = 0.3;

/** gemm's arguments for chunk i of the job (as claimChunks below and the worker compute them). */
function chunkArgs(job: Int32Array, i: number, scratch: number): GemmArgs {
  const lo = i * job[J_SIZE];
  const [tA, tB, m, n, k, a, lda, b, ldb, c, ldc] = job.subarray(J_ARGS, J_SLOTS);
  if (job[J_AXIS] === 0) return [tA, tB, m, Math.min(n - lo, job[J_SIZE]), k, a, lda, b + (tB ? lo * ldb : lo) * 4, ldb, c + lo * 4, ldc, 0, scratch];
  return [tA, tB, Math.min(m - lo, job[J_SIZE]), n, k, a + (tA ? lo : lo * lda) * 4, lda, b, ldb, c + lo * ldc * 4, ldc, 0, scratch];
}

// The helpers' chunk loop, plain JavaScript shared by both worker sources below; it
// mirrors claimChunks/chunkArgs.
const CHUNKS_SOURCE = `
// Until the caller posts a command after \`seen\`: spinning for SPIN ms first, since a
// step's jobs come a fraction of a millisecond apart and a sleeping thread takes tens of
// microseconds (more in a virtual machine) to wake; then sleeping.
function awaitCommand(seen) {
  const until = performance.now() + SPIN;
  while (Atomics.load(ctrl, ${SEQ}) === seen) if (performance.now() >= until) Atomics.wait(ctrl, ${SEQ}, seen);
}
const f64of = new Float64Array(1);
const f64bits = new Int32Array(f64of.buffer);
function chunks(scratch) {
  for (;;) {
    const i = Atomics.add(job, ${J_NEXT}, 1);
    if (i >= job[${J_COUNT}]) return;
    const size = job[${J_SIZE}];
    const lo = i * size;
    const kind = job[${J_KIND}];
    if (kind === ${JOB_SPMM}) {
      const [m, n, cnt, idx, val, cap, b, ldb, c, ldc] = job.subarray(${J_ARGS}, ${J_ARGS} + 10);
      exports.spmm(0, m, lo, Math.min(n, lo + size), cnt, idx, val, cap, b, ldb, c, ldc);
      continue;
    }
    if (kind === ${JOB_SPMMT}) {
      const [m, n, cnt, idx, val, cap, bt, ldbt, c, ldc, k] = job.subarray(${J_ARGS}, ${J_ARGS} + 11);
      exports.spmmT(0, m, lo, Math.min(n, lo + size), cnt, idx, val, cap, bt, ldbt, k, c, ldc, scratch);
      continue;
    }
    if (kind === ${JOB_SPMM_MASKED}) {
      const [m, n, k, cnt, idx, val, b, c, mask, gcnt, gidx] = job.subarray(${J_ARGS}, ${J_ARGS} + 11);
      exports.spmmMasked(0, m, lo, Math.min(n, lo + size), cnt, idx, val, k, b, n, c, n, mask, n, gcnt, gidx, (n + 3) >> 2);
      continue;
    }
    if (kind === ${JOB_UPDATE}) {
      const [p, g, m, table, args, out, done] = job.subarray(${J_ARGS}, ${J_ARGS} + 7);
      exports.updateChunk(p, g, m, table, i, args, out, done);
      continue;
    }
    if (kind === ${JOB_COMPACT}) {
      const [tA, m, k, a, lda, cnt, idx, val, , viaCopy] = job.subarray(${J_ARGS}, ${J_ARGS} + 10);
      const rows = Math.min(m - lo, size);
      if (viaCopy) exports.transposeInto(k, rows, a + lo * 4, lda, scratch, k);
      Atomics.add(job, ${J_COMPACT_TOTAL}, viaCopy
        ? exports.compactRows(0, rows, k, scratch, k, cnt + lo * 4, idx + lo * k * 4, val + lo * k * 4)
        : exports.compactRows(tA, rows, k, tA ? a + lo * 4 : a + lo * lda * 4, lda, cnt + lo * 4, idx + lo * k * 4, val + lo * k * 4));
      continue;
    }
    if (kind === ${JOB_SCATTER}) {
      const [m, n, k, cnt, idx, val, bcnt, bidx, bval, c] = job.subarray(${J_ARGS}, ${J_ARGS} + 10);
      exports.spmmScatter(lo, Math.min(m, lo + size), n, cnt, idx, val, k, bcnt, bidx, bval, n, c, n);
      continue;
    }
    if (kind === ${JOB_RELU_BACKWARD}) {
      const [n, lo32, hi32, z, a, d, mask, units] = job.subarray(${J_ARGS}, ${J_ARGS} + 8);
      f64bits[0] = lo32;
      f64bits[1] = hi32;
      const o = lo * 4;
      exports.reluBackward(Math.min(n - lo, size), f64of[0], z + o, a + o, d + o, mask, units);
      Atomics.store(job, ${J_DONE} + i, 1);
      continue;
    }
    if (kind === ${JOB_TRANSPOSE}) {
      const [rows, cols, src, ld, dst, ldd] = job.subarray(${J_ARGS}, ${J_ARGS} + 6);
      exports.transposeInto(Math.min(rows - lo, size), cols, src + lo * ld * 4, ld, dst + lo * 4, ldd);
      continue;
    }
    const [tA, tB, m, n, k, a, lda, b, ldb, c, ldc] = job.subarray(${J_ARGS}, ${J_SLOTS});
    if (job[${J_AXIS}] === 0) exports.gemm(tA, tB, m, Math.min(n - lo, size), k, a, lda, b + (tB ? lo * ldb : lo) * 4, ldb, c + lo * 4, ldc, 0, scratch);
    else exports.gemm(tA, tB, Math.min(m - lo, size), n, k, a + (tA ? lo : lo * lda) * 4, lda, b, ldb, c + lo * ldc * 4, ldc, 0, scratch);
  }
}
function finish(seq, failed) {
  ctrl[${FAILED}] = failed;
  Atomics.store(ctrl, ${DONE}, seq);
  Atomics.notify(ctrl, ${DONE});
}
`;

// Node: evaluated as the worker's main script (works the same under node, tsx and vitest,
// with no file to locate). The memory to bind to is read synchronously off a port.
const NODE_WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { ctrl, job, port, module } = workerData;
const SPIN = ${SPIN_MS};
let exports = null;
let seen = 0;
${CHUNKS_SOURCE}
Atomics.store(ctrl, ${READY}, 1);
for (;;) {
  awaitCommand(seen);
  const seq = Atomics.load(ctrl, ${SEQ});
  if (seq === seen) continue;
  seen = seq;
  const cmd = ctrl[${CMD}];
  if (cmd === ${CMD_QUIT}) break;
  let failed = 0;
  try {
    if (cmd === ${CMD_BIND}) {
      const m = receiveMessageOnPort(port);
      exports = m && m.message ? new WebAssembly.Instance(m.message.module, { env: { memory: m.message.memory } }).exports : null;
    } else {
      chunks(ctrl[${SCRATCH}]);
    }
  } catch {
    failed = 1;
  }
  finish(seq, failed);
}
port.close();
`;

// Browser: a classic worker from a Blob URL. A browser has no synchronous receive, so on a
// bind command the loop lets go of the thread; the memory, posted before the command, is
// then delivered as a message, and its handler answers the bind and resumes the loop.
const BROWSER_WORKER_SOURCE = `
let ctrl = null, job = null, module = null, exports = null, seen = 0;
const SPIN = 0;
${CHUNKS_SOURCE}
function loop() {
  Atomics.store(ctrl, ${READY}, 1);
  for (;;) {
    awaitCommand(seen);
    const seq = Atomics.load(ctrl, ${SEQ});
    if (seq === seen) continue;
    seen = seq;
    const cmd = ctrl[${CMD}];
    if (cmd === ${CMD_QUIT}) return close();
    if (cmd === ${CMD_BIND}) return;
    let failed = 0;
    try {
      chunks(ctrl[${SCRATCH}]);
    } catch {
      failed = 1;
    }
    finish(seq, failed);
  }
}
onmessage = (e) => {
  const m = e.data;
  if (m.init) {
    ({ ctrl, job, module } = m.init);
    return loop();
  }
  let failed = 0;
  try {
    exports = m.memory ? new WebAssembly.Instance(m.module, { env: { memory: m.memory } }).exports : null;
  } catch {
    failed = 1;
  }
  finish(seen, failed);
  loop();
};
`;

interface WorkerThreads {
  Worker: new (code: string, opts: object) => NodeWorker;
  MessageChannel: new () => { port1: NodePort; port2: NodePort };
}
interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error' | 'exit', f: (...args: unknown[]) => void): void;
}
interface NodePort {
  postMessage(m: unknown): void;
  unref?(): void;
  close(): void;
}

/** node:worker_threads where the runtime has it (synchronously, without an import). */
function workerThreads(): WorkerThreads | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    return proc?.getBuiltinModule?.('node:worker_threads') as WorkerThreads | undefined;
  } catch {
    return undefined;
  }
}

/** What a browser offers for helpers, as far as it can be known without starting one. */
interface BrowserScope {
  Worker?: new (url: string, opts?: object) => WebWorker;
  WorkerGlobalScope?: abstract new () => unknown;
  crossOriginIsolated?: boolean;
}
interface WebWorker {
  postMessage(m: unknown): void;
  terminate(): void;
  addEventListener(event: 'error' | 'messageerror', f: () => void): void;
}

/** One thing that starts helper workers and hands them a memory. */
interface Host {
  start(module: WebAssembly.Module, ctrl: Int32Array, job: Int32Array): HostWorker;
  /** How long the caller spins for a helper before sleeping (SPIN_MS in Node, 0 in a browser). */
  spinMs: number;
}
interface HostWorker {
  /** Queues the memory, and the module to run over it, for the helper's next bind command (null: none). */
  sendMemory(mem: { memory: WebAssembly.Memory; module: WebAssembly.Module } | null): void;
  terminate(): void;
  onFail(f: () => void): void;
}

function nodeHost(wt: WorkerThreads): Host {
  return {
    spinMs: SPIN_MS,
    start(module, ctrl, job) {
      const { port1, port2 } = new wt.MessageChannel();
      const worker = new wt.Worker(NODE_WORKER_SOURCE, { eval: true, workerData: { ctrl, job, port: port2, module }, transferList: [port2] });
      worker.unref();
      port1.unref?.();
      return {
        sendMemory: (m) => port1.postMessage(m),
        terminate: () => void worker.terminate(),
        onFail(f) {
          worker.on('error', f);
          worker.on('exit', f);
        },
      };
    },
  };
}

let blobUrl: string | undefined;

function browserHost(scope: BrowserScope): Host {
  const W = scope.Worker!;
  return {
    spinMs: 0,
    start(module, ctrl, job) {
      blobUrl ??= URL.createObjectURL(new Blob([BROWSER_WORKER_SOURCE], { type: 'text/javascript' }));
      const worker = new W(blobUrl, { name: 'rectigrad matmul helper' });
      worker.postMessage({ init: { ctrl, job, module } });
      return {
        sendMemory: (m) => worker.postMessage(m ?? { memory: null }),
        terminate: () => worker.terminate(),
        onFail(f) {
          worker.addEventListener('error', f);
          worker.addEventListener('messageerror', f);
        },
      };
    },
  };
}

/**
 * Why helper threads cannot exist here (one line, saying how to get them), or undefined
 * when they can.
 */
export function threadsUnavailable(): string | undefined {
  if (workerThreads()) return typeof SharedArrayBuffer === 'undefined' ? 'this runtime has no SharedArrayBuffer' : undefined;
  const scope = globalThis as BrowserScope;
  if (scope.crossOriginIsolated === false || typeof SharedArrayBuffer === 'undefined') {
    return 'the page is not cross-origin isolated: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp';
  }
  if (!(scope.WorkerGlobalScope && globalThis instanceof scope.WorkerGlobalScope)) {
    return "a page's main thread cannot wait for helper threads: run the backend in a worker (WorkerTrainer does)";
  }
  if (typeof scope.Worker !== 'function' || typeof URL?.createObjectURL !== 'function') return 'this browser cannot start workers from a worker';
  return undefined;
}

/** How helpers are started here, or undefined where they cannot be. */
function host(): Host | undefined {
  if (threadsUnavailable() !== undefined) return undefined;
  const wt = workerThreads();
  return wt ? nodeHost(wt) : browserHost(globalThis as BrowserScope);
}

/** Whether helper threads can exist here at all. */
export function threadsSupported(): boolean {
  return typeof Atomics !== 'undefined' && threadsUnavailable() === undefined;
}

/** Cores this process may use (1 where unknown). */
export function availableCores(): number {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
    if (os?.availableParallelism) return Math.max(1, os.availableParallelism());
  } catch {
    // fall through
  }
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** What a helper needs to know about the memory it works in. */
export interface BoundMemory {
  memory: WebAssembly.Memory;
  /** The module the helper instantiates over it (the backend's variant: plain or relaxed SIMD). */
  module: WebAssembly.Module;
  /** Which memory (one per backend). */
  id: number;
  /** Bumped whenever the memory grows (the helper then re-instantiates over it). */
  generation: number;
}

export class Helper {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
  private readonly worker: HostWorker;
  private seq = 0;
  private broken = false;
  private boundId = -1;
  private boundGeneration = -1;

  private readonly spinMs: number;

  constructor(host: Host, module: WebAssembly.Module, job: Int32Array) {
    this.worker = host.start(module, this.ctrl, job);
    this.spinMs = host.spinMs;
    this.worker.onFail(() => (this.broken = true));
  }

  /** Ready for a job: started, not failed, not busy. */
  get usable(): boolean {
    return !this.broken && Atomics.load(this.ctrl, READY) === 1 && Atomics.load(this.ctrl, DONE) === this.seq;
  }

  private post(cmd: number): void {
    this.ctrl[CMD] = cmd;
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
  }

  /** Waits for the job posted last; false if the helper failed or never answered. */
  wait(): boolean {
    const t0 = Date.now();
    const spinUntil = performance.now() + this.spinMs;
    for (;;) {
      const done = Atomics.load(this.ctrl, DONE);
      if (done === this.seq) break;
      if (performance.now() < spinUntil) continue;
      const left = WAIT_LIMIT_MS - (Date.now() - t0);
      if (left <= 0 || Atomics.wait(this.ctrl, DONE, done, left) === 'timed-out') {
        // Stuck: it must not wake up later inside some other product.
        this.broken = true;
        this.worker.terminate();
        return false;
      }
    }
    if (this.ctrl[FAILED] !== 0) {
      this.broken = true;
      return false;
    }
    return true;
  }

  /** Makes the helper work in this memory (a no-op when it already does). */
  bind(mem: BoundMemory | undefined): boolean {
    const id = mem?.id ?? -1;
    const generation = mem?.generation ?? -1;
    if (this.boundId === id && this.boundGeneration === generation) return true;
    this.worker.sendMemory(mem ? { memory: mem.memory, module: mem.module } : null);
    this.post(CMD_BIND);
    if (!this.wait()) return false;
    this.boundId = id;
    this.boundGeneration = generation;
    return true;
  }

  /** Which memory the helper works in (-1: none). */
  get memoryId(): number {
    return this.boundId;
  }

  /** Starts claiming chunks of the pool's job; call wait() before touching C. */
  start(scratch: number): void {
    this.ctrl[SCRATCH] = scratch;
    this.post(CMD_GEMM);
  }

  stop(): void {
    this.broken = true;
    if (Atomics.load(this.ctrl, READY) === 1 && Atomics.load(this.ctrl, DONE) === this.seq) this.post(CMD_QUIT);
    else this.worker.terminate();
  }
}

/** The process's helpers (per JS thread), started on first use. */
class Pool {
  private helpers: Helper[] = [];
  private disabled = false;
  private job: Int32Array | undefined;

  /** Starts helpers until there are `n`; false where they cannot exist. */
  private start(n: number, module: WebAssembly.Module): boolean {
    if (this.disabled) return false;
    while (this.helpers.length < n) {
      const h = host();
      try {
        if (!h) throw new Error('no helper threads here');
        this.job ??= new Int32Array(new SharedArrayBuffer((J_DONE + FLAGGED_CHUNKS_MAX) * 4));
        this.helpers.push(new Helper(h, module, this.job));
      } catch {
        this.disabled = true;
        return false;
      }
    }
    return true;
  }

  /**
   * Up to `n` helpers that are ready now, bound to `mem`. Helpers still starting are
   * skipped (the caller computes their share); none where threads are unsupported.
   */
  take(n: number, module: WebAssembly.Module, mem: BoundMemory): Helper[] {
    if (n <= 0 || !this.start(n, module)) return [];
    return this.helpers.slice(0, n).filter((h) => h.usable && h.bind(mem));
  }

  /** Starts up to `n` helpers and resolves once they are ready (or after timeoutMs): how many are. */
  async warmUp(n: number, module: WebAssembly.Module, timeoutMs = 5000): Promise<number> {
    if (n <= 0 || !this.start(n, module)) return 0;
    const t0 = Date.now();
    for (;;) {
      const ready = this.helpers.slice(0, n).filter((h) => h.usable).length;
      if (ready === n || Date.now() - t0 > timeoutMs) return ready;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * C = op(A)·op(B) (args: the whole product's transA … ldc) cut into `count` chunks of
   * `size` columns (axis 0) or rows (axis 1), shared between the caller, which runs
   * `gemm` with scratch[0], and these helpers (taken from take(), scratch[1 + h]). If a
   * helper fails, the caller recomputes the whole product: the result is the same either
   * way, since each element of C is summed in the same order whoever computes it.
   * Returns how long the caller alone would have taken (judged from its own chunks) over
   * how long it took: below 1 when the helpers slowed it down (busy cores).
   */
  run(
    helpers: Helper[],
    gemm: (...args: GemmArgs) => void,
    args: number[],
    axis: 0 | 1,
    size: number,
    count: number,
    scratch: number[],
  ): { gain: number; ms: number } {
    const job = this.job!;
    job.set(args, J_ARGS);
    job[J_KIND] = JOB_GEMM;
    job[J_AXIS] = axis;
    job[J_SIZE] = size;
    job[J_COUNT] = count;
    Atomics.store(job, J_NEXT, 0);
    const t0 = performance.now();
    helpers.forEach((h, i) => h.start(scratch[1 + i]));
    let mine = 0;
    for (;;) {
      const i = Atomics.add(job, J_NEXT, 1);
      if (i >= count) break;
      gemm(...chunkArgs(job, i, scratch[0]));
      mine++;
    }
    const t1 = performance.now();
    let ok = true;
    for (const h of helpers) ok = h.wait() && ok;
    if (!ok) {
      const [tA, tB, m, n, k, a, lda, b, ldb, c, ldc] = args;
      gemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, 0, scratch[0]);
    }
    const ms = performance.now() - t0;
    return { gain: mine > 0 && ms > 0 ? (((t1 - t0) / mine) * count) / ms : Infinity, ms };
  }

  /**
   * A JOB_SPMM, JOB_SPMMT, JOB_SPMM_MASKED, JOB_SCATTER, JOB_UPDATE, JOB_COMPACT, JOB_RELU_BACKWARD or JOB_TRANSPOSE job (args as the worker reads them) cut into
   * `count` chunks of `size`, shared between the caller, which runs `chunk(i)` for the
   * chunks it claims, and these helpers (helper h works in scratch[1 + h] where given). If
   * a helper fails the caller runs `whole()`. Chunks do not change the result: every
   * element is computed the same way whoever computes it.
   */
  runJob(
    helpers: Helper[],
    kind: number,
    args: number[],
    size: number,
    count: number,
    chunk: (i: number) => void,
    whole: () => void,
    scratch?: number[],
  ): void {
    const job = this.job!;
    job.set(args, J_ARGS);
    job[J_KIND] = kind;
    job[J_SIZE] = size;
    job[J_COUNT] = count;
    Atomics.store(job, J_NEXT, 0);
    helpers.forEach((h, i) => h.start(scratch ? scratch[1 + i] : 0));
    for (;;) {
      const i = Atomics.add(job, J_NEXT, 1);
      if (i >= count) break;
      chunk(i);
    }
    let ok = true;
    for (const h of helpers) ok = h.wait() && ok;
    if (!ok) whole();
  }

  /** Clears the done flags of a job's first `count` chunks (before runJob). */
  clearDone(count: number): void {
    this.job ??= new Int32Array(new SharedArrayBuffer((J_DONE + FLAGGED_CHUNKS_MAX) * 4));
    this.job.fill(0, J_DONE, J_DONE + count);
  }

  /** Marks chunk i of the job done (the caller's chunks). */
  markDone(i: number): void {
    Atomics.store(this.job!, J_DONE + i, 1);
  }

  /** Whether chunk i of the job was done (read after runJob returns, or in its `whole`). */
  isDone(i: number): boolean {
    return Atomics.load(this.job!, J_DONE + i) === 1;
  }

  /** What the helpers' JOB_COMPACT chunks added up (read after runJob returns). */
  compactTotal(): number {
    return Atomics.load(this.job!, J_COMPACT_TOTAL);
  }

  /** Drops a memory from every helper bound to it, so it can be collected. */
  release(id: number): void {
    for (const h of this.helpers) if (h.memoryId === id && h.usable) h.bind(undefined);
  }

  /** Stops every helper (they are unref'd anyway; this is for tidy tests). */
  shutdown(): void {
    for (const h of this.helpers) h.stop();
    this.helpers = [];
  }
}

export const pool = new Pool();
