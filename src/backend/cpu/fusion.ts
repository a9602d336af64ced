// Telemetry fused into passes the CPU backend makes anyway. The plan computes telemetry in
// reduction steps of their own (the GPU's way); on the CPU each is one more trip through
// memory, so the backend folds them into the passes that already touch the same data:
//   layer_stats (zeros, batch-dead and dead units, active flags) into the forward
//     epilogue that writes the layer's output (per-column zero counts as it is written);
//   the gradient norms (a sumsq over the gradients) into the SGD or momentum update that
//     reads the same gradients (not with clipping: it needs the norms before the update);
//   each delta norm (a sumsq over a layer's dZ) beside the bias gradient that reads dZ
//     just after the activation backward wrote it: the same sum, taken while dZ is in
//     cache rather than after the rest of the backward pass has evicted it.
// What cannot be folded (gradient norms beside Adam or clipping) and the update itself
// run in WebAssembly SIMD. The results are the plain twins' bit for bit
// (counts, updates), the sums of squares within about 1e-6 of theirs, relative (f32
// within blocks of 128 floats, f64 across them: see SQ_BLOCK in wasm/assembly/matmul.ts).
import { isClear, type BufRange, type Constants, type PlanItem, type PlanStep, type StepValues, type View } from '../../ops/op.ts';
import { OPTIMIZER_KINDS } from '../../ops/optimizer.ts';
import { heapOf, type WasmHeap } from './wasm/runtime.ts';

const SGD = OPTIMIZER_KINDS.indexOf('sgd');
const MOMENTUM = OPTIMIZER_KINDS.indexOf('momentum');

const is = (item: PlanItem, shader: string, entry?: string): item is PlanStep =>
  !isClear(item) && item.op.shader === shader && (entry === undefined || item.op.entry === entry);

/** Bindings that only read their region, by op: a region bound otherwise may be written. */
function readsOnly(step: PlanStep, name: string): boolean {
  switch (step.op.shader) {
    case 'matmul':
      return name === 'a' || name === 'b';
    case 'activation_backward':
      return name === 'a' || name === 'z';
    case 'layer_stats':
      return name === 'a';
    case 'sumsq':
      return name === 'x' || name === 'segs';
    default:
      return false;
  }
}

/** Whether some item in items[from, to) may write to `arena` (clears it, or binds it other than read-only). */
function mayWrite(items: PlanItem[], from: number, to: number, arena: string): boolean {
  for (let i = from; i < to; i++) {
    const it = items[i];
    if (isClear(it)) {
      if (it.clear.arena === arena) return true;
      continue;
    }
    for (const [name, r] of Object.entries(it.bindings)) if (r.arena === arena && !readsOnly(it, name)) return true;
  }
  return false;
}

const overlaps = (a: BufRange, b: BufRange) => a.arena === b.arena && a.offset < b.offset + b.length && b.offset < a.offset + a.length;

/** Whether some item in items[from, to) may write to region r (clears or binds, other than read-only, a region overlapping it). */
function mayWriteRange(items: PlanItem[], from: number, to: number, r: BufRange): boolean {
  for (let i = from; i < to; i++) {
    const it = items[i];
    if (isClear(it)) {
      if (overlaps(it.clear, r)) return true;
      continue;
    }
    for (const [name, b] of Object.entries(it.bindings)) if (overlaps(b, r) && !readsOnly(it, name)) return true;
  }
  return false;
}

const f32In = (v: View, heap: WasmHeap) => v.f instanceof Float32Array && heapOf(v.f) === heap;

/** sumsq:main in WebAssembly when x lies in the heap; false otherwise. */
export function fastSumsq(heap: WasmHeap, { SEGMENTS }: Constants, { x, segs, stats }: Record<string, View>): boolean {
  if (!f32In(x, heap)) return false;
  const t = segs.u;
  for (let s = 0; s < SEGMENTS; s++) {
    const offset = t[3 * s];
    const length = t[3 * s + 1];
    if (offset + length > x.f.length) throw new Error(`sumsq: segment ${s} [${offset}, +${length}] exceeds its buffer (${x.f.length})`);
    stats.f[t[3 * s + 2]] = heap.sumsq(x.f.byteOffset + 4 * offset, length);
  }
  return true;
}

const NO_PIECES: readonly Piece[] = [];

/** The gradients' sums of squares the update computes: [from, from + length) of its gradients → stats slot. */
interface Piece {
  from: number;
  length: number;
  slot: number;
}

/**
 * optimizer:main for SGD and momentum in WebAssembly (Adam stays with the twin: false),
 * with the sums of squares of `pieces` of the gradients taken as they are read.
 */
export function fastUpdate(
  heap: WasmHeap,
  c: Constants,
  { params, grads, m, stats }: Record<string, View>,
  step: StepValues,
  pieces: readonly Piece[] = NO_PIECES,
): boolean {
  const { COUNT, KIND, MOMENTUM: MU, WEIGHT_DECAY, CLIP_NORM, CLIP_SLOT0, CLIP_COUNT } = c;
  if (KIND !== SGD && KIND !== MOMENTUM) return false;
  if (!f32In(params, heap) || !f32In(grads, heap) || (KIND === MOMENTUM && !f32In(m, heap))) return false;
  // The twin's clipping factor, from the norms written earlier in the step.
  let clip = 1;
  if (CLIP_NORM > 0) {
    let ss = 0;
    for (let k = 0; k < CLIP_COUNT; k++) ss += stats.f[CLIP_SLOT0 + k];
    clip = Math.min(1, CLIP_NORM / (Math.sqrt(ss) + 1e-6));
  }
  const mm = KIND === MOMENTUM ? m.f.byteOffset : 0;
  const sums = heap.updatePieces(params.f.byteOffset, grads.f.byteOffset, mm, COUNT, step.lr, MU, WEIGHT_DECAY, clip, pieces);
  pieces.forEach((piece, k) => (stats.f[piece.slot] = sums[k]));
  return true;
}

/**
 * A gradient-norm step's segments (table t) as pieces of the updates' gradients, by
 * update, sorted; undefined when a segment lies in no single update or two overlap.
 */
function piecesOf(step: PlanStep, updates: PlanStep[], t: Uint32Array): Map<PlanStep, Piece[]> | undefined {
  const x = step.bindings.x;
  const st = step.bindings.stats;
  const pieces = new Map<PlanStep, Piece[]>(updates.map((u) => [u, []]));
  for (let s = 0; s < step.constants.SEGMENTS; s++) {
    const from = x.offset + t[3 * s];
    const length = t[3 * s + 1];
    const slot = st.offset + t[3 * s + 2];
    const u = updates.find((u) => {
      const g = u.bindings.grads;
      return (
        from >= g.offset &&
        from + length <= g.offset + u.constants.COUNT &&
        slot >= u.bindings.stats.offset &&
        slot < u.bindings.stats.offset + u.bindings.stats.length
      );
    });
    if (!u) return undefined;
    pieces.get(u)!.push({ from: from - u.bindings.grads.offset, length, slot: slot - u.bindings.stats.offset });
  }
  for (const list of pieces.values()) {
    list.sort((a, b) => a.from - b.from);
    // Overlapping segments would be summed over only once: run them unfused.
    if (list.some((p, k) => k > 0 && p.from < list[k - 1].from + list[k - 1].length)) return undefined;
  }
  return pieces;
}

interface Folded {
  /** The layer_stats step whose work the forward step does. */
  stats: PlanStep;
}

/**
 * Which telemetry steps of one item list the backend folds into other passes (found once
 * per list), and the state that carries a folded result from one step to another.
 */
export class TelemetryFusion {
  /** Forward step → the layer_stats step its epilogue does. */
  private readonly forward = new Map<PlanStep, Folded>();
  private readonly folded = new Set<PlanStep>();
  /** Gradient-norm sumsq step → the updates that follow it and can take its sums. */
  private readonly gradNorms = new Map<PlanStep, PlanStep[]>();
  /** This run's pieces, per update step, of a gradient-norm step left to the updates. */
  private readonly pending = new Map<PlanStep, Piece[]>();
  /** Bias-gradient step → the delta-norm step over the same dZ, taken beside it. */
  private readonly deltaAfter = new Map<PlanStep, PlanStep>();
  /** This run's sums of squares of dZ, per delta-norm step, taken beside its bias gradient. */
  private readonly deltaSums = new Map<PlanStep, number>();
  /** A gradient-norm step's pieces, per update, and the segment table they were found from. */
  private readonly piecesFound = new Map<PlanStep, { segs: Uint32Array; pieces: Map<PlanStep, Piece[]> | undefined }>();
  /** i32 per-column zero counts in the heap (byte offset), for the widest folded layer. */
  private countsAt = 0;

  /**
   * `scratch(bytes)`: the byte offset of a region of the heap of at least that many
   * bytes, shared by every list the backend runs (called here, before any view is made).
   */
  constructor(
    items: PlanItem[],
    private readonly heap: WasmHeap,
    scratch: (bytes: number) => number,
  ) {
    let cols = 0;
    items.forEach((it, i) => {
      if (is(it, 'layer_stats', 'main')) {
        const a = it.bindings.a;
        for (let j = i - 1; j >= 0; j--) {
          const f = items[j];
          if (!is(f, 'matmul', 'main_bias_act')) continue;
          const out = f.bindings.out;
          if (out.arena !== a.arena || out.offset !== a.offset) continue;
          const ok = f.constants.M === it.constants.ROWS && f.constants.N === it.constants.COLS && !this.forward.has(f) && !mayWrite(items, j + 1, i, a.arena);
          if (ok) {
            this.forward.set(f, { stats: it });
            this.folded.add(it);
            cols = Math.max(cols, it.constants.COLS);
          }
          break;
        }
      }
      if (is(it, 'sumsq', 'main')) {
        const x = it.bindings.x;
        const updates = items.slice(i + 1).filter((u): u is PlanStep => is(u, 'optimizer', 'main') && u.bindings.grads.arena === x.arena);
        const first = updates.length ? items.indexOf(updates[0]) : -1;
        const ok =
          first > i &&
          updates.every(
            (u) =>
              u.constants.CLIP_NORM === 0 && (u.constants.KIND === SGD || u.constants.KIND === MOMENTUM) && u.bindings.stats.arena === it.bindings.stats.arena,
          ) &&
          !mayWrite(items, i + 1, first, x.arena);
        if (ok) this.gradNorms.set(it, updates);
        // A delta norm: one segment over a bias gradient's dZ, which nothing writes in between.
        if (it.constants.SEGMENTS === 1) {
          for (let j = i - 1; j >= 0; j--) {
            const d = items[j];
            if (!is(d, 'bias_grad', 'main')) continue;
            const dz = d.bindings.dz;
            if (dz.arena !== x.arena || dz.offset !== x.offset || dz.length !== x.length) continue;
            if (!this.deltaAfter.has(d) && !mayWriteRange(items, j + 1, i, x)) this.deltaAfter.set(d, it);
            break;
          }
        }
      }
    });
    if (cols > 0) this.countsAt = scratch(cols * 4);
  }

  /** Labels of the steps folded: layer stats into forward steps, gradient norms into updates, delta norms beside bias gradients. */
  get folds(): { stats: string[]; gradNorms: string[]; deltaNorms: string[] } {
    return {
      stats: [...this.folded].map((s) => s.label),
      gradNorms: [...this.gradNorms.keys()].map((s) => s.label),
      deltaNorms: [...this.deltaAfter.values()].map((s) => s.label),
    };
  }

  /** After a bias-gradient step: the sum of squares of its dZ, when a delta norm over it is folded here. */
  afterBiasGrad(step: PlanStep, views: Record<string, View>): void {
    const norm = this.deltaAfter.get(step);
    if (!norm) return;
    const dz = views.dz.f;
    if (f32In(views.dz, this.heap)) this.deltaSums.set(norm, this.heap.sumsq(dz.byteOffset, dz.length));
  }

  /** A delta-norm step: true when its sum was taken beside the bias gradient (now written), false when it must run. */
  deltaNorm(step: PlanStep, { segs, stats, x }: Record<string, View>): boolean {
    const sum = this.deltaSums.get(step);
    if (sum === undefined) return false;
    this.deltaSums.delete(step);
    const t = segs.u;
    // The table is data: the sum stands for the step only when its one segment is the whole dZ.
    if (t[0] !== 0 || t[1] !== x.f.length) return false;
    stats.f[t[2]] = sum;
    return true;
  }

  /** A layer_stats step done by its forward step: skip it. */
  skips(step: PlanStep): boolean {
    return this.folded.has(step);
  }

  /** For a forward step that does a layer's stats: zeroed per-column counts for its epilogue. */
  countsFor(step: PlanStep): Int32Array | undefined {
    const f = this.forward.get(step);
    if (!f) return undefined;
    // Through the heap's views: they are on the buffer the heap knows (a shared memory's
    // `buffer` is a new object at each access, which the wasm epilogue would not recognise).
    const u = this.heap.views(this.countsAt, f.stats.constants.COLS).u;
    const counts = new Int32Array(u.buffer, u.byteOffset, u.length);
    counts.fill(0);
    return counts;
  }

  /** After the forward step: its layer's telemetry from the counts, as layer_stats computes it. */
  finishForward(step: PlanStep, counts: Int32Array, view: (r: BufRange) => View): void {
    const s = this.forward.get(step)!.stats;
    const { ROWS, COLS, SLOT_ZEROS, SLOT_BATCH_DEAD, SLOT_DEAD } = s.constants;
    const active = view(s.bindings.flags).u;
    let zeros = 0;
    let batchDead = 0;
    let dead = 0;
    for (let j = 0; j < COLS; j++) {
      const z = counts[j];
      const flag = active[j] | (z < ROWS ? 1 : 0);
      active[j] = flag;
      zeros += z;
      if (z === ROWS) batchDead++;
      if (flag === 0) dead++;
    }
    const st = view(s.bindings.stats).u;
    st[SLOT_ZEROS] += zeros;
    st[SLOT_BATCH_DEAD] += batchDead;
    st[SLOT_DEAD] += dead;
  }

  /**
   * A gradient-norm step: true when its segments are left to the updates that follow
   * (each segment within one update's gradients), false when it must run now.
   */
  defers(step: PlanStep, views: Record<string, View>, view: (r: BufRange) => View): boolean {
    const updates = this.gradNorms.get(step);
    if (!updates) return false;
    // The pieces depend only on the segment table (data, but written once per plan): found
    // again only when it changed.
    const t = views.segs.u.subarray(0, 3 * step.constants.SEGMENTS);
    let found = this.piecesFound.get(step);
    if (!found || found.segs.some((v, i) => v !== t[i])) {
      found = { segs: t.slice(), pieces: piecesOf(step, updates, t) };
      this.piecesFound.set(step, found);
    }
    const pieces = found.pieces;
    if (!pieces) return false;
    for (const u of pieces.keys()) {
      // The update must see the heap: otherwise the step runs as it is.
      const inHeap = ['grads', 'params', ...(u.constants.KIND === MOMENTUM ? ['m'] : [])].every((name) => f32In(view(u.bindings[name]), this.heap));
      if (!inHeap) return false;
    }
    for (const [u, list] of pieces) this.pending.set(u, list);
    return true;
  }

  /** An update step: runs it with any gradient-norm pieces left to it; false when the caller should run it. */
  update(step: PlanStep, views: Record<string, View>, values: StepValues): boolean {
    const pieces = this.pending.get(step);
    this.pending.delete(step);
    if (fastUpdate(this.heap, step.constants, views, values, pieces)) return true;
    if (pieces?.length) throw new Error(`${step.label}: the gradient norms were left to this update, which cannot take them`);
    return false;
  }
}
