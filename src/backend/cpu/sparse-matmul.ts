// Sparse-aware float32 matmul for rectifier networks: the exact zeros of relu outputs (and
// of MNIST's background pixels) are skipped. For C = op(A)·op(B) the nonzeros of op(A) are
// compacted into per-row lists, and row i of C is the sum over row i's list of value ·
// (row `column` of op(B)): the cost follows nnz(op(A)) instead of its size. In the three
// products of a dense layer op(A) is the sparse side each time:
//   forward Z = X·Wᵀ   op(A) = X, the layer's input (a relu output or the pixels);
//   dX = dZ·W          op(A) = dZ, zero wherever the layer's relu output is zero;
//   dW = dZᵀ·X         op(A) = dZᵀ (same zeros), summed over the batch.
// The result equals the dense product up to the order of summation (terms that are exactly
// zero are left out). Which path a product takes is decided every step from the density
// of op(A) against a crossover density: sparse below it, dense above it. The crossover is
// measured per shape at start-up and refined from the products' own times as they run
// (PathChooser). In mode 'off' every product runs dense, but its density is still counted
// (a WebAssembly pass over op(A), 16 floats at a time) so that runs report what they saw.
import { isClear, type PlanItem, type PlanStep, type View } from '../../ops/op.ts';
import { Rng } from '../../util/rng.ts';
import { biasActFast } from './matmul-fast.ts';
import { PathChooser, type ShapeInfo, startupTimings } from './sparse-chooser.ts';
import { heapOf, type WasmHeap } from './wasm/runtime.ts';

export type SparseMode = 'auto' | 'on' | 'off';
export const SPARSE_MODES: readonly SparseMode[] = ['auto', 'on', 'off'];

/** What one product did in its last step. */
export interface SparsePathStat {
  /** The path taken. */
  path: 'sparse' | 'dense';
  /** Nonzero fraction of the sparse operand op(A) (the layer's input, or dZ). */
  density: number;
  /**
   * Sparse below this density (1 when the mode is 'on', 0 when 'off'): in 'auto' the
   * current estimate, after this step's time was taken into account.
   */
  crossover: number;
  /** True when the last step took the path the estimates did not favour, to time it (a probe). */
  probe?: boolean;
  /** Mean of `density` over all the steps run. */
  meanDensity: number;
  /** M×N×K and the transposes, e.g. "64×1000×784 NT". */
  shape: string;
  /**
   * When the last step computed C only where a mask is nonzero (a dX under a relu: only
   * where the layer below is active), the mask's nonzero fraction.
   */
  maskDensity?: number;
  /**
   * When the last step also skipped the zeros of op(B) (a dW whose layer input is sparse:
   * each term added only at its nonzeros), op(B)'s nonzero fraction.
   */
  inputDensity?: number;
  /** Steps run, how many of them took the sparse path, and how many were probes. */
  steps: number;
  sparseSteps: number;
  probes: number;
}

/**
 * A masked product (C only where the mask is nonzero) works on the mask's live groups of
 * 4 columns, four at a time per pass over a row's list: it is taken when at most this
 * fraction of the groups is live, and op(A)'s rows are long enough (MASKED_MIN_K) for the
 * per-row bookkeeping not to dominate (measured on 64 × 1000 · 1000 × 1000 products).
 */
const MASKED_MAX_GROUPS = 0.75;
const MASKED_MIN_K = 32;
/**
 * A TN product (dW = dZᵀ·X) whose B is at most this dense adds each term only at B's
 * nonzeros (a scalar scatter, ~nnz(dZ)·nnz(X)/batch multiply-adds) instead of along whole
 * rows of B in f32x4 lanes (nnz(dZ)·N/4). Measured on the paper's dW shapes: 1.5× faster
 * at 8 % nonzero, even near 12 %, slower from 18 %.
 */
const SCATTER_MAX = 0.12;
/**
 * A TN product whose B was over SCATTER_SKIP_ABOVE × SCATTER_MAX dense skips compacting B
 * (the count that decides) for its next SCATTER_SKIP_STEPS steps: a layer's input density
 * moves slowly, and B's compaction costs ~5 % of such a product.
 */
const SCATTER_SKIP_ABOVE = 1.25;
const SCATTER_SKIP_STEPS = 8;
/** Densities the sparse path is timed at (its cost is close to linear in the density). */
const PROBE_DENSITIES = [0.05, 0.4];
/** Timing rounds per shape: at least MIN_ROUNDS, more while under SHAPE_MS, at most MAX_ROUNDS. */
const MIN_ROUNDS = 3;
const MAX_ROUNDS = 15;
const SHAPE_MS = 20;
const ALIGN = 64;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

interface Shape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

const shapeOf = (c: Record<string, number>): Shape => ({ M: c.M, N: c.N, K: c.K, transA: c.TRANS_A !== 0, transB: c.TRANS_B !== 0 });
const shapeName = (s: Shape) => `${s.M}×${s.N}×${s.K} ${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;

/**
 * Byte offsets (from 0) of the lists and the transposed B of one product; for an NN
 * product (dX = dZ·W) the lists of a mask of C (the layer below's relu output); for a TN
 * product (dW = dZᵀ·X) the row lists of B (the layer's input).
 */
function listLayout({ M, N, K, transA, transB }: Shape) {
  const cnt = 0;
  const idx = alignUp(M * 4, ALIGN);
  const val = idx + alignUp(M * K * 4, ALIGN);
  const bt = val + alignUp(M * K * 4, ALIGN);
  const mcnt = bt + (transB ? alignUp(K * N * 4, ALIGN) : 0);
  const masks = !transA && !transB;
  const midx = mcnt + (masks ? alignUp(M * 4, ALIGN) : 0);
  const bcnt = midx + (masks ? alignUp(M * Math.ceil(N / 4) * 4, ALIGN) : 0);
  const scatter = transA && !transB;
  const bidx = bcnt + (scatter ? alignUp(K * 4, ALIGN) : 0);
  const bval = bidx + (scatter ? alignUp(K * N * 4, ALIGN) : 0);
  const end = bval + (scatter ? alignUp(K * N * 4, ALIGN) : 0);
  return { cnt, idx, val, bt, mcnt, midx, masks, bcnt, bidx, bval, scatter, end };
}

export function isMatmulStep(step: PlanItem): step is PlanStep {
  return !isClear(step) && step.op.shader === 'matmul' && (step.op.entry === 'main' || step.op.entry === 'main_bias_act');
}

export class SparseMatmul {
  readonly stats = new Map<string, SparsePathStat>();
  /** The scratch region in the heap (lists, transposed B, timing operands). */
  private region = { at: 0, bytes: 0 };
  private budgetLeft: number;
  /** Set by sparseProduct: op(B)'s nonzero fraction when its zeros were skipped too. */
  private inputDensity: number | undefined;
  private readonly chooser = new PathChooser();
  /** Per TN product (label): steps left that skip B's compaction (B too dense to scatter). */
  private readonly scatterSkip = new Map<string, number>();

  constructor(
    private readonly heap: WasmHeap,
    readonly mode: SparseMode,
    /** Milliseconds this backend may spend timing shapes (all of them together). */
    budgetMs: number,
  ) {
    this.budgetLeft = budgetMs;
  }

  private key(s: Shape): string {
    return `${shapeName(s)}/${this.heap.threads}`;
  }

  private info(s: Shape): ShapeInfo {
    return { key: this.key(s), kind: shapeName(s).slice(-2), work: s.M * s.N * s.K, threads: this.heap.threads };
  }

  /** The current crossover density of a product (its shape's estimate refined by its own runs). */
  crossover(label: string, s: Shape, density = 0.5): number {
    if (this.mode === 'on') return 1;
    if (this.mode === 'off') return 0;
    return this.chooser.estimate(label, this.info(s), density).crossover;
  }

  /**
   * Gets the steps' products ready: scratch reserved for the largest, and in 'auto' mode
   * each shape's crossover measured (within the budget). May grow the memory: call
   * before making views.
   */
  prepare(steps: PlanItem[]): void {
    if (this.mode === 'off') return;
    const shapes = steps.filter(isMatmulStep).map((s) => shapeOf(s.constants));
    const todo = this.mode === 'auto' ? shapes.filter((s) => !startupTimings.has(this.key(s))) : [];
    // One shape of each kind first (forward, dX, dW): a shape left untimed when the budget
    // runs out starts from a timed shape of its kind.
    const kinds = new Set<string>();
    const firsts = todo.filter((s) => !kinds.has(shapeName(s).slice(-2)) && !!kinds.add(shapeName(s).slice(-2)));
    todo.sort((x, y) => +!firsts.includes(x) - +!firsts.includes(y));
    const need = Math.max(0, ...shapes.map((s) => listLayout(s).end), ...todo.map((s) => this.timingLayout(s).end));
    if (!this.ensure(need)) return;
    const seen = new Set<string>();
    for (const s of todo) {
      const k = this.key(s);
      if (seen.has(k) || startupTimings.has(k)) continue;
      seen.add(k);
      if (this.budgetLeft <= 0) break;
      const t0 = performance.now();
      startupTimings.set(k, this.measure(s));
      this.budgetLeft -= performance.now() - t0;
    }
  }

  /** Scratch of at least `bytes`; false when the memory cannot grow (the products stay dense). */
  private ensure(bytes: number): boolean {
    if (bytes <= this.region.bytes) return true;
    try {
      this.region = { at: this.heap.reserve([bytes])[0], bytes };
      return true;
    } catch {
      return false;
    }
  }

  private timingLayout(s: Shape) {
    const lists = listLayout(s);
    const aBytes = alignUp(s.M * s.K * 4, ALIGN);
    const a = [lists.end, lists.end + aBytes, lists.end + 2 * aBytes];
    const b = lists.end + 3 * aBytes;
    const c = b + alignUp(s.K * s.N * 4, ALIGN);
    return { a, b, c, end: c + alignUp(s.M * s.N * 4, ALIGN) };
  }

  /**
   * Times the dense product (at density 0.5) and the sparse one at two densities of op(A)
   * on random data: the dense time and the density where the sparse path's (linear) cost
   * meets it. The three are timed call by call, interleaved, keeping each one's
   * fastest call: other work on the cores only ever adds time.
   */
  private measure(s: Shape): { denseMs: number; crossover: number } {
    const { M, N, K, transA, transB } = s;
    const heap = this.heap;
    const at = this.region.at;
    const lay = this.timingLayout(s);
    const rng = new Rng(M * 7919 + N * 31 + K);
    new Float32Array(heap.memory.buffer).set(rng.fill(K * N), (at + lay.b) / 4);
    [0.5, ...PROBE_DENSITIES].forEach((density, i) => {
      const a = rng.fill(M * K);
      for (let j = 0; j < a.length; j++) if (rng.next() >= density) a[j] = 0;
      new Float32Array(heap.memory.buffer).set(a, (at + lay.a[i]) / 4);
    });
    const calls = [
      () => heap.gemm(transA, transB, M, N, K, at + lay.a[0], at + lay.b, at + lay.c),
      ...PROBE_DENSITIES.map((_, i) => () => this.sparseProduct(s, at + lay.a[i + 1], at + lay.b, at + lay.c, true)),
    ];
    return heap.untracked(() => {
      for (const f of calls) f(); // first calls: compile, start helpers, warm the caches
      const best = calls.map(() => Infinity);
      const t0 = performance.now();
      for (let round = 0; round < MAX_ROUNDS; round++) {
        calls.forEach((f, i) => {
          const t = performance.now();
          f();
          best[i] = Math.min(best[i], performance.now() - t);
        });
        if (round + 1 >= MIN_ROUNDS && performance.now() - t0 > SHAPE_MS) break;
      }
      const [dense, t1, t2] = best;
      const [d0, d1] = PROBE_DENSITIES;
      const slope = (t2 - t1) / (d1 - d0);
      const crossover = !(slope > 0) ? (t1 < dense ? 1 : 0) : Math.min(1, Math.max(0, d0 + (dense - t1) / slope));
      return { denseMs: dense, crossover };
    });
  }

  /**
   * op(A)·op(B) into c on byte offsets, through the lists: the nonzero count of op(A), or
   * undefined without computing anything when `decide` says the dense path is better.
   */
  private sparseProduct(s: Shape, a: number, b: number, c: number, force: boolean, decide?: (density: number) => boolean, label = ''): number {
    const { M, N, K, transA, transB } = s;
    const heap = this.heap;
    const l = listLayout(s);
    const at = this.region.at;
    const nnz = heap.compactRows(transA, M, K, a, at + l.cnt, at + l.idx, at + l.val);
    if (!force && decide && !decide(nnz / (M * K))) return nnz;
    this.inputDensity = undefined;
    const skip = this.scatterSkip.get(label) ?? 0;
    if (skip > 0) this.scatterSkip.set(label, skip - 1);
    if (l.scatter && !force && skip === 0) {
      // dW = dZᵀ·X: where X (B) is sparse too, each term is added only at X's nonzeros.
      const nnzB = heap.compactRows(false, K, N, b, at + l.bcnt, at + l.bidx, at + l.bval);
      if (nnzB > SCATTER_SKIP_ABOVE * SCATTER_MAX * K * N) this.scatterSkip.set(label, SCATTER_SKIP_STEPS);
      if (nnzB <= SCATTER_MAX * K * N) {
        heap.spmmScatter(M, N, K, at + l.cnt, at + l.idx, at + l.val, at + l.bcnt, at + l.bidx, at + l.bval, c);
        this.inputDensity = nnzB / (K * N);
        return nnz;
      }
    }
    // B stored N × K: each thread transposes the panels it needs into its scratch (in cache)
    // as it goes; where K is too long for that, a row-major K × N copy of all of B first.
    if (transB && heap.spmmT(M, N, K, at + l.cnt, at + l.idx, at + l.val, b, c)) return nnz;
    let bm = b;
    if (transB) {
      heap.transpose(N, K, b, at + l.bt);
      bm = at + l.bt;
    }
    heap.spmm(M, N, K, at + l.cnt, at + l.idx, at + l.val, bm, c);
    return nnz;
  }

  /**
   * Runs a matmul step on the sparse path when its density is below the crossover: true
   * when done, false when the caller should run the dense path. Call prepare([step])
   * first (before making the views). `zeros`: the fused step's per-column zero counts, as
   * in biasActFast. `dense`: the dense path, run (and timed) here when chosen in 'auto'
   * mode; without it the caller runs it.
   */
  run(step: PlanStep, views: Record<string, View>, zeros?: Int32Array, mask?: View, dense?: () => void): boolean {
    const s = shapeOf(step.constants);
    const heap = this.heap;
    const fused = step.op.entry === 'main_bias_act';
    const a = views.a.f;
    const b = views.b.f;
    const c = (fused ? views.z : views.c).f;
    if (!(a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array)) return false;
    if (heapOf(a) !== heap || heapOf(b) !== heap || heapOf(c) !== heap) return false;
    if (this.mode === 'off') {
      this.record(step.label, s, heap.countNonzeros(a.byteOffset, s.M * s.K) / (s.M * s.K), false, 0);
      return false;
    }
    const lay = listLayout(s);
    if (lay.end > this.region.bytes) return false; // not prepared
    if (mask && lay.masks && !fused && this.runMasked(step.label, s, a, b, c, mask.f)) return true;
    const auto = this.mode === 'auto';
    const info = this.info(s);
    let density = 0;
    let sparse = false;
    let probe = false;
    let t0 = 0;
    this.sparseProduct(
      s,
      a.byteOffset,
      b.byteOffset,
      c.byteOffset,
      false,
      (d) => {
        density = d;
        if (auto) ({ sparse, probe } = this.chooser.choose(step.label, info, d));
        else sparse = true;
        t0 = performance.now();
        return sparse;
      },
      step.label,
    );
    if (!sparse && !dense) {
      this.record(step.label, s, density, false, probe ? 1 : 0);
      return false;
    }
    if (sparse && fused) {
      const { M, N, ACT, ALPHA } = step.constants;
      biasActFast(M, N, ACT, ALPHA, c, views.bias.f, views.out.f, zeros);
    }
    if (!sparse) dense!();
    if (auto) this.chooser.observe(step.label, info, sparse, density, performance.now() - t0);
    this.record(step.label, s, density, sparse, probe ? 1 : 0, undefined, sparse ? this.inputDensity : undefined);
    return true;
  }

  /**
   * C = op(A)·B computed only where `mask` (M × N, e.g. the relu output of the layer below
   * a dX) is nonzero, 0 elsewhere: false, computing nothing, when in 'auto' mode the mask
   * is too dense (or the lists too short) for that to pay.
   */
  private runMasked(label: string, s: Shape, a: Float32Array, b: Float32Array, c: Float32Array, mask: ArrayLike<number>): boolean {
    const { M, N, K } = s;
    if (!(mask instanceof Float32Array) || heapOf(mask) !== this.heap || mask.length < M * N) return false;
    const heap = this.heap;
    const l = listLayout(s);
    const at = this.region.at;
    // 'on' takes it whenever there is a mask (as it takes the sparse path whatever the density).
    const auto = this.mode === 'auto';
    if (auto && K < MASKED_MIN_K) return false;
    const maskDensity = heap.maskGroups(M, N, mask.byteOffset, at + l.mcnt, at + l.midx) / (M * N);
    const gcnt = heap.views(at + l.mcnt, M).u;
    let live = 0;
    for (let i = 0; i < M; i++) live += gcnt[i];
    if (auto && live > MASKED_MAX_GROUPS * M * Math.ceil(N / 4)) return false;
    const nnz = heap.compactRows(false, M, K, a.byteOffset, at + l.cnt, at + l.idx, at + l.val);
    heap.spmmMasked(M, N, K, at + l.cnt, at + l.idx, at + l.val, b.byteOffset, c.byteOffset, mask.byteOffset, at + l.mcnt, at + l.midx);
    this.record(label, s, nnz / (M * K), true, 0, maskDensity);
    return true;
  }

  private record(label: string, s: Shape, density: number, sparse: boolean, probes: number, maskDensity?: number, inputDensity?: number): void {
    const crossover = this.crossover(label, s, density);
    const st = this.stats.get(label) ?? { path: 'dense', density: 0, crossover, meanDensity: 0, shape: shapeName(s), steps: 0, sparseSteps: 0, probes: 0 };
    st.path = sparse ? 'sparse' : 'dense';
    st.density = density;
    st.crossover = crossover;
    st.steps++;
    st.meanDensity += (density - st.meanDensity) / st.steps;
    if (sparse) st.sparseSteps++;
    st.probes += probes;
    st.probe = probes > 0;
    st.maskDensity = maskDensity;
    st.inputDensity = inputDensity;
    this.stats.set(label, st);
  }
}
