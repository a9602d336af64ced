// Telemetry and gradient reductions in two passes over partials, so that they fill a GPU
// (a 784 000-element gradient or a large batch is spread over many workgroups) and stay
// deterministic (fixed pieces and a fixed summation order, no float atomics): plan
// builders and CPU twins of shaders/sumsq_chunks.wgsl, shaders/bias_grad_tiled.wgsl and
// shaders/layer_stats_tiled.wgsl. They compute what sumsq, biasGrad and layerStats compute;
// each needs a scratch region for its partials, in an arena of its own (a pass reads one
// arena and writes another).
import { biasGrad } from './bias-grad.ts';
import { layerStats } from './layer-stats.ts';
import { ceilDiv, MAX_WORKGROUPS, type BufRange, type OpDef, type PlanStep } from './op.ts';
import { sumsq } from './sumsq.ts';

function need(label: string, name: string, r: BufRange, floats: number): void {
  if (r.length < floats) throw new Error(`${label}: ${name} holds ${r.length} words but needs ${floats}`);
}

// ---------------------------------------------------------------------------------------
// Sums of squares of segments

/**
 * Workgroups per segment in the first pass, at most (the finish pass takes one per thread):
 * 256 × 256 threads per segment keep a large GPU's memory busy on a 16M-element gradient,
 * where 64 workgroups left an H200 reading it at a fifth of its bandwidth.
 */
export const SUMSQ_GROUPS = 256;

export const sumsqPartialOp: OpDef = {
  shader: 'sumsq_chunks',
  entry: 'partial',
  group: 'reduce',
  cpu({ SEGMENTS, GROUPS }, { x, segs, part }) {
    const xf = x.f;
    const t = segs.u;
    for (let s = 0; s < SEGMENTS; s++) {
      const offset = t[3 * s];
      const length = t[3 * s + 1];
      const piece = Math.ceil(length / GROUPS);
      for (let g = 0; g < GROUPS; g++) {
        const begin = Math.min(length, g * piece);
        const end = Math.min(length, begin + piece);
        let sum = 0;
        for (let k = begin; k < end; k++) {
          const v = xf[offset + k];
          sum += v * v;
        }
        part.f[s * GROUPS + g] = sum;
      }
    }
  },
};

export const sumsqFinishOp: OpDef = {
  shader: 'sumsq_chunks',
  entry: 'finish',
  group: 'reduce',
  cpu({ SEGMENTS, GROUPS }, { partials, segs, stats }) {
    const t = segs.u;
    for (let s = 0; s < SEGMENTS; s++) {
      let sum = 0;
      for (let g = 0; g < GROUPS; g++) sum += partials.f[s * GROUPS + g];
      stats.f[t[3 * s + 2]] = sum;
    }
  },
};

/**
 * Workgroups per segment for segments of at most `maxLength` elements: about 4096
 * elements (16 per thread) per workgroup, at most SUMSQ_GROUPS, so short segments do not
 * pay for empty workgroups.
 */
export const sumsqGroups = (maxLength: number) => Math.max(1, Math.min(SUMSQ_GROUPS, Math.ceil(maxLength / 4096)));

/** Words of scratch sumsqTwoPass needs. */
export const sumsqScratch = (segments: number, groups = SUMSQ_GROUPS) => segments * groups;

/**
 * stats[slot] = Σ x[offset .. offset + length)² for each of `segments` (offset, length,
 * slot) triples in `segs` (see segmentTable in sumsq.ts), as sumsq() does, in two passes:
 * `groups` workgroups per segment into `partials` (sumsqScratch words, in an arena other
 * than x's and stats'), then one fixed-order pass per segment. Same bits on every run.
 */
export function sumsqTwoPass(
  label: string,
  segments: number,
  io: { x: BufRange; segs: BufRange; stats: BufRange; partials: BufRange },
  groups = SUMSQ_GROUPS,
): PlanStep[] {
  if (!Number.isInteger(segments) || segments < 1 || segments > MAX_WORKGROUPS)
    throw new Error(`${label}: ${segments} segments; one dispatch takes 1 to ${MAX_WORKGROUPS}`);
  if (!Number.isInteger(groups) || groups < 1 || groups > 256) throw new Error(`${label}: ${groups} groups per segment; 1 to 256`);
  const constants = { SEGMENTS: segments, GROUPS: groups };
  return [
    sumsqPartials(`${label} (partials)`, segments, { x: io.x, segs: io.segs, part: io.partials }, groups),
    { op: sumsqFinishOp, label, constants, bindings: { partials: io.partials, segs: io.segs, stats: io.stats }, dispatch: [segments, 1, 1] },
  ];
}

/**
 * The first pass of sumsqTwoPass alone: part[s·groups + g] = the sum of squares of piece g
 * of segment s, for a later sumSegments (which may finish other partials in the same dispatch).
 */
export function sumsqPartials(label: string, segments: number, io: { x: BufRange; segs: BufRange; part: BufRange }, groups = SUMSQ_GROUPS): PlanStep {
  if (!Number.isInteger(segments) || segments < 1 || segments > MAX_WORKGROUPS)
    throw new Error(`${label}: ${segments} segments; one dispatch takes 1 to ${MAX_WORKGROUPS}`);
  if (!Number.isInteger(groups) || groups < 1 || groups > 256) throw new Error(`${label}: ${groups} groups per segment; 1 to 256`);
  need(label, 'the segment table', io.segs, 3 * segments);
  need(label, 'partials', io.part, sumsqScratch(segments, groups));
  return { op: sumsqPartialOp, label, constants: { SEGMENTS: segments, GROUPS: groups }, bindings: io, dispatch: [groups, segments, 1] };
}

const sumSegmentsCpu: OpDef['cpu'] = ({ SEGMENTS, SUMS }, { partials, x, segs, stats }) => {
  const t = segs.u;
  for (let s = 0; s < SEGMENTS; s++) {
    const offset = t[3 * s];
    const end = offset + t[3 * s + 1];
    let sum = 0;
    if (s < SUMS) for (let k = offset; k < end; k++) sum += partials.f[k];
    else for (let k = offset; k < end; k++) sum += x.f[k] * x.f[k];
    stats.f[t[3 * s + 2]] = sum;
  }
};

export const sumSegmentsOp: OpDef = { shader: 'sumsq_chunks', entry: 'finish_segments', group: 'reduce', cpu: sumSegmentsCpu };
/** sumSegmentsOp with one thread per segment (no barriers: the one-pass reductions' way). */
export const sumSegmentsSerialOp: OpDef = { shader: 'sumsq_chunks', entry: 'finish_serial', group: 'reduce', cpu: sumSegmentsCpu };

/**
 * For each of `segments` (offset, length, slot) triples in `segs` (segmentTable): the first
 * `sums` stats[slot] = Σ partials[offset .. offset + length) — the last pass of sums of
 * squares whose partials other kernels wrote (sumsqPartials, matmulSumsq,
 * activationBackwardStats) — the others stats[slot] = Σ x[offset .. offset + length)²
 * (short segments read whole: the bias gradients). Every gradient and delta norm of a step
 * in one dispatch, one workgroup per segment (`serial`: one thread per segment, for the
 * one-pass reductions); fixed order: the same bits every run.
 */
export function sumSegments(
  label: string,
  segments: number,
  sums: number,
  io: { partials: BufRange; x: BufRange; segs: BufRange; stats: BufRange },
  serial = false,
): PlanStep {
  if (!Number.isInteger(segments) || segments < 1 || segments > MAX_WORKGROUPS)
    throw new Error(`${label}: ${segments} segments; one dispatch takes 1 to ${MAX_WORKGROUPS}`);
  if (!Number.isInteger(sums) || sums < 0 || sums > segments) throw new Error(`${label}: ${sums} sums of partials among ${segments} segments`);
  need(label, 'the segment table', io.segs, 3 * segments);
  const constants = { SEGMENTS: segments, SUMS: sums };
  if (serial) return { op: sumSegmentsSerialOp, label, constants, bindings: io, dispatch: [ceilDiv(segments, 64), 1, 1] };
  return { op: sumSegmentsOp, label, constants, bindings: io, dispatch: [segments, 1, 1] };
}

// ---------------------------------------------------------------------------------------
// Bias gradient (column sums), tiled over the batch

/** Rows per chunk of the batch: at batch 64, four threads per column. */
export const CHUNK_ROWS = 16;

function rowChunks(label: string, rows: number, cols: number, chunkRows: number) {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
    throw new Error(`${label}: need at least one row and one column (got ${rows} × ${cols})`);
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`${label}: rows per chunk must be a positive integer, not ${chunkRows}`);
  const chunks = ceilDiv(rows, chunkRows);
  const colGroups = ceilDiv(cols, 64);
  if (colGroups > MAX_WORKGROUPS || chunks > MAX_WORKGROUPS) throw new Error(`${label}: ${rows} × ${cols} exceeds one dispatch`);
  return { chunks, colGroups };
}

export const biasGradPartialOp: OpDef = {
  shader: 'bias_grad_tiled',
  entry: 'partial',
  group: 'reduce',
  cpu({ ROWS, COLS, CHUNK_ROWS: R, CHUNKS }, { dz, part }) {
    const x = dz.f;
    for (let c = 0; c < CHUNKS; c++) {
      const end = Math.min(ROWS, (c + 1) * R);
      for (let j = 0; j < COLS; j++) {
        let s = 0;
        for (let i = c * R; i < end; i++) s += x[i * COLS + j];
        part.f[c * COLS + j] = s;
      }
    }
  },
};

export const biasGradFinishOp: OpDef = {
  shader: 'bias_grad_tiled',
  entry: 'finish',
  group: 'reduce',
  cpu({ COLS, CHUNKS }, { partials, out }) {
    for (let j = 0; j < COLS; j++) {
      let s = 0;
      for (let c = 0; c < CHUNKS; c++) s += partials.f[c * COLS + j];
      out.f[j] = s;
    }
  },
};

/** Words of scratch biasGradTiled needs (0: one chunk, written straight into out). */
export const biasGradScratch = (rows: number, cols: number, chunkRows = CHUNK_ROWS) => {
  const chunks = Math.ceil(rows / chunkRows);
  return chunks > 1 ? chunks * cols : 0;
};

/**
 * out[j] = Σ_i dz[i, j] (dz: rows × cols), as biasGrad() does, with the rows cut into
 * chunks of `chunkRows`: column sums per chunk into `partials` (biasGradScratch words, in
 * an arena other than dz's and out's), then per column over the chunks in order.
 */
export function biasGradTiled(label: string, rows: number, cols: number, dz: BufRange, out: BufRange, partials?: BufRange, chunkRows = CHUNK_ROWS): PlanStep[] {
  const { chunks, colGroups } = rowChunks(label, rows, cols, chunkRows);
  need(label, 'dz', dz, rows * cols);
  need(label, 'out', out, cols);
  const constants = { ROWS: rows, COLS: cols, CHUNK_ROWS: chunkRows, CHUNKS: chunks };
  if (chunks === 1) return [{ op: biasGradPartialOp, label, constants, bindings: { dz, part: out }, dispatch: [colGroups, 1, 1] }];
  if (!partials) throw new Error(`${label}: the bias gradient over ${chunks} chunks needs a partials region of ${chunks * cols} words`);
  need(label, 'partials', partials, chunks * cols);
  return [
    { op: biasGradPartialOp, label: `${label} (partials)`, constants, bindings: { dz, part: partials }, dispatch: [colGroups, chunks, 1] },
    { op: biasGradFinishOp, label, constants, bindings: { partials, out }, dispatch: [colGroups, 1, 1] },
  ];
}

// ---------------------------------------------------------------------------------------
// Layer telemetry, tiled over the batch

export const layerStatsCountOp: OpDef = {
  shader: 'layer_stats_tiled',
  entry: 'count_zeros',
  group: 'reduce',
  cpu({ ROWS, COLS, CHUNK_ROWS: R, CHUNKS }, { a, counts }) {
    const x = a.f;
    for (let c = 0; c < CHUNKS; c++) {
      const end = Math.min(ROWS, (c + 1) * R);
      for (let j = 0; j < COLS; j++) {
        let z = 0;
        for (let i = c * R; i < end; i++) if (x[i * COLS + j] === 0) z++;
        counts.u[c * COLS + j] = z;
      }
    }
  },
};

export const layerStatsFinishOp: OpDef = {
  shader: 'layer_stats_tiled',
  entry: 'finish',
  group: 'reduce',
  cpu({ ROWS, COLS, CHUNKS, SLOT_ZEROS, SLOT_BATCH_DEAD, SLOT_DEAD }, { zero_counts, flags, stats }) {
    const active = flags.u;
    let zeros = 0;
    let batchDead = 0;
    let dead = 0;
    for (let j = 0; j < COLS; j++) {
      let z = 0;
      for (let c = 0; c < CHUNKS; c++) z += zero_counts.u[c * COLS + j];
      const flag = active[j] | (z < ROWS ? 1 : 0);
      active[j] = flag;
      zeros += z;
      if (z === ROWS) batchDead++;
      if (flag === 0) dead++;
    }
    const s = stats.u;
    s[SLOT_ZEROS] += zeros;
    s[SLOT_BATCH_DEAD] += batchDead;
    s[SLOT_DEAD] += dead;
  },
};

/** One layer of layerStatsFinishLayers: its units, where its counts and flags start, its stats slots. */
export interface LayerStatsEntry {
  cols: number;
  counts: number;
  flags: number;
  slots: { zeros: number; batchDead: number; dead: number };
}

/** The u32 table finish_layers reads: 6 words per layer. */
export function layerStatsTable(layers: LayerStatsEntry[]): Uint32Array {
  const t = new Uint32Array(6 * layers.length);
  layers.forEach((l, h) => t.set([l.cols, l.counts, l.flags, l.slots.zeros, l.slots.batchDead, l.slots.dead], 6 * h));
  return t;
}

export const layerStatsFinishLayersOp: OpDef = {
  shader: 'layer_stats_tiled',
  entry: 'finish_layers',
  group: 'reduce',
  cpu({ ROWS, CHUNKS, LAYERS }, { zero_counts, flags, stats, layers }) {
    const t = layers.u;
    for (let h = 0; h < LAYERS; h++) {
      const [cols, at, fl, slotZeros, slotBatchDead, slotDead] = t.subarray(6 * h, 6 * h + 6);
      let zeros = 0;
      let batchDead = 0;
      let dead = 0;
      for (let j = 0; j < cols; j++) {
        let z = 0;
        for (let c = 0; c < CHUNKS; c++) z += zero_counts.u[at + c * cols + j];
        const flag = flags.u[fl + j] | (z < ROWS ? 1 : 0);
        flags.u[fl + j] = flag;
        zeros += z;
        if (z === ROWS) batchDead++;
        if (flag === 0) dead++;
      }
      stats.u[slotZeros] += zeros;
      stats.u[slotBatchDead] += batchDead;
      stats.u[slotDead] += dead;
    }
  },
};

/**
 * The finish of layerStatsTiled for several layers in one dispatch: `table` (at least
 * layerStatsTable's words, written once) says per layer where its CHUNKS × cols zero
 * counts lie in `counts` (as activationBackwardStats writes them, batch of `rows`, chunks
 * of `chunkRows`) and its flags in `flags`, and which stats words take its three counts.
 */
export function layerStatsFinishLayers(
  label: string,
  rows: number,
  layers: LayerStatsEntry[],
  io: { counts: BufRange; flags: BufRange; stats: BufRange; table: BufRange },
  chunkRows = CHUNK_ROWS,
): PlanStep {
  if (layers.length < 1 || layers.length > MAX_WORKGROUPS) throw new Error(`${label}: ${layers.length} layers; one dispatch takes 1 to ${MAX_WORKGROUPS}`);
  const cols = Math.max(...layers.map((l) => l.cols));
  const { chunks, colGroups } = rowChunks(label, rows, cols, chunkRows);
  need(label, 'the layer table', io.table, 6 * layers.length);
  for (const [h, l] of layers.entries()) {
    need(`${label}, layer ${h}`, 'counts', io.counts, l.counts + chunks * l.cols);
    need(`${label}, layer ${h}`, 'flags', io.flags, l.flags + l.cols);
  }
  return {
    op: layerStatsFinishLayersOp,
    label,
    constants: { ROWS: rows, CHUNK_ROWS: chunkRows, CHUNKS: chunks, LAYERS: layers.length },
    bindings: { zero_counts: io.counts, flags: io.flags, stats: io.stats, layers: io.table },
    dispatch: [colGroups, layers.length, 1],
  };
}

/** Words of scratch layerStatsTiled needs. */
export const layerStatsScratch = (rows: number, cols: number, chunkRows = CHUNK_ROWS) => Math.ceil(rows / chunkRows) * cols;

/**
 * The telemetry of layerStats() (zeros, batch-dead and window-dead units, the per-unit
 * active flags) with the batch cut into chunks of `chunkRows`: zero counts per (chunk,
 * unit) into `counts` (layerStatsScratch words, in an arena other than a's, active's and
 * stats'), then one pass per unit that sums them and updates flags and stats.
 */
export function layerStatsTiled(
  label: string,
  rows: number,
  cols: number,
  slots: { zeros: number; batchDead: number; dead: number },
  io: { a: BufRange; active: BufRange; stats: BufRange; counts: BufRange },
  chunkRows = CHUNK_ROWS,
): PlanStep[] {
  const { chunks, colGroups } = rowChunks(label, rows, cols, chunkRows);
  need(label, 'a', io.a, rows * cols);
  need(label, 'active', io.active, cols);
  need(label, 'counts', io.counts, chunks * cols);
  const constants = {
    ROWS: rows,
    COLS: cols,
    CHUNK_ROWS: chunkRows,
    CHUNKS: chunks,
    SLOT_ZEROS: slots.zeros,
    SLOT_BATCH_DEAD: slots.batchDead,
    SLOT_DEAD: slots.dead,
  };
  return [
    { op: layerStatsCountOp, label: `${label} (zero counts)`, constants, bindings: { a: io.a, counts: io.counts }, dispatch: [colGroups, chunks, 1] },
    // `active` is a reserved word in WGSL: the shader names the flags `flags`.
    { op: layerStatsFinishOp, label, constants, bindings: { zero_counts: io.counts, flags: io.active, stats: io.stats }, dispatch: [colGroups, 1, 1] },
  ];
}

// ---------------------------------------------------------------------------------------
// Choosing per adapter

/**
 * The reduction steps a plan emits: one pass per segment or column (the original kernels,
 * best on SwiftShader, where workgroups with barriers are slow and the cores are few), or
 * the two-pass kernels above (hardware GPUs), all with the same results. `partials` is the
 * scratch region the two-pass kernels share (reductionScratch words; each finishes with it
 * before the next starts).
 */
export function reductionSteps(twoPass: boolean, partials: BufRange) {
  return {
    biasGrad: (label: string, rows: number, cols: number, dz: BufRange, out: BufRange): PlanStep[] =>
      twoPass ? biasGradTiled(label, rows, cols, dz, out, partials) : [biasGrad(label, rows, cols, dz, out)],
    layerStats: (
      label: string,
      rows: number,
      cols: number,
      slots: { zeros: number; batchDead: number; dead: number },
      io: { a: BufRange; active: BufRange; stats: BufRange },
    ): PlanStep[] => (twoPass ? layerStatsTiled(label, rows, cols, slots, { ...io, counts: partials }) : [layerStats(label, rows, cols, slots, io)]),
    /** `maxLength`: the longest segment, which sets the workgroups per segment. */
    sumsq: (label: string, segments: number, io: { x: BufRange; segs: BufRange; stats: BufRange }, maxLength: number): PlanStep[] =>
      twoPass ? sumsqTwoPass(label, segments, { ...io, partials }, sumsqGroups(maxLength)) : [sumsq(label, segments, io)],
  };
}

/** Scratch words reductionSteps(true, …) needs for these sums of squares (count, longest) and (rows × cols) column reductions. */
export function reductionScratch(sums: [number, number][], columns: [number, number][]): number {
  let n = 1;
  for (const [segments, maxLength] of sums) n = Math.max(n, sumsqScratch(segments, sumsqGroups(maxLength)));
  for (const [rows, cols] of columns) n = Math.max(n, biasGradScratch(rows, cols), layerStatsScratch(rows, cols));
  return n;
}
