// Activation backward (dZ = (dA + L1·sign(A)) ⊙ f′) and a standalone activation forward:
// plan builders and CPU twins of shaders/activation_backward.wgsl.
import { activate, activateGrad } from './activations.ts';
import { ceilDiv, gridStride, MAX_WORKGROUPS, type BufRange, type Constants, type OpDef, type PlanStep, type View } from './op.ts';

/** Workgroups of 256 for a grid-stride loop over `count` elements. */

export const activationBackwardOp: OpDef = {
  shader: 'activation_backward',
  entry: 'main',
  group: 'elementwise',
  cpu({ COUNT, ACT, ALPHA, L1 }, { z, a, d }) {
    const zf = z.f;
    const af = a.f;
    const df = d.f;
    for (let i = 0; i < COUNT; i++) {
      const ai = af[i];
      let g = df[i];
      if (L1 !== 0) g += L1 * Math.sign(ai);
      df[i] = g * activateGrad(ACT, ALPHA, zf[i], ai);
    }
  },
};

/** As activationBackwardOp, with the penalty scaled per unit: L1 · mask[i mod UNITS]. */
export const activationBackwardMaskedOp: OpDef = {
  shader: 'activation_backward',
  entry: 'main_masked',
  group: 'elementwise',
  cpu({ COUNT, ACT, ALPHA, L1, UNITS }, { z, a, d, mask }) {
    const zf = z.f;
    const af = a.f;
    const df = d.f;
    const mf = mask.f;
    for (let i = 0; i < COUNT; i++) {
      const ai = af[i];
      let g = df[i];
      // As the plain twin where the mask is 1, so a mask of ones changes nothing on the CPU.
      if (L1 !== 0) g += L1 * mf[i % UNITS] * Math.sign(ai);
      df[i] = g * activateGrad(ACT, ALPHA, zf[i], ai);
    }
  },
};

/** The twin of backward_stats: column by column, each chunk's rows in order (sums in double, as the other reduction twins). */
function backwardStatsCpu({ ROWS, UNITS, ACT, ALPHA, L1, CHUNK_ROWS: R }: Constants, { z, a, d, counts, part }: Record<string, View>, mask?: View): void {
  const zf = z.f;
  const af = a.f;
  const df = d.f;
  const chunks = Math.ceil(ROWS / R);
  for (let c = 0; c < chunks; c++) {
    const end = Math.min(ROWS, (c + 1) * R);
    for (let j = 0; j < UNITS; j++) {
      const m = mask ? mask.f[j] : 1;
      let zeros = 0;
      let sq = 0;
      for (let r = c * R; r < end; r++) {
        const i = r * UNITS + j;
        const ai = af[i];
        let g = df[i];
        if (L1 !== 0) g += L1 * m * Math.sign(ai);
        const v = g * activateGrad(ACT, ALPHA, zf[i], ai);
        df[i] = v;
        if (ai === 0) zeros++;
        const w = df[i]; // as stored
        sq += w * w;
      }
      counts.u[c * UNITS + j] = zeros;
      part.f[c * UNITS + j] = sq;
    }
  }
}

/** activationBackwardOp with the hidden layer's zero counts and Σ dZ² per chunk of rows (the telemetry folded in). */
export const activationBackwardStatsOp: OpDef = {
  shader: 'activation_backward',
  entry: 'main_stats',
  group: 'elementwise',
  cpu: (c, b) => backwardStatsCpu(c, b),
};

/** activationBackwardMaskedOp with the telemetry folded in, as activationBackwardStatsOp. */
export const activationBackwardMaskedStatsOp: OpDef = {
  shader: 'activation_backward',
  entry: 'main_masked_stats',
  group: 'elementwise',
  cpu: (c, b) => backwardStatsCpu(c, b, b.mask),
};

/** Rows per chunk of activationBackwardStats (the counts layout layer_stats_tiled reads). */
export const STATS_CHUNK_ROWS = 16;

/** Words of counts (and of partials) activationBackwardStats writes. */
export const backwardStatsScratch = (rows: number, units: number, chunkRows = STATS_CHUNK_ROWS) => Math.ceil(rows / chunkRows) * units;

/**
 * activationBackward (or its masked form, with io.mask) over rows × units, and the step's
 * telemetry of this hidden layer in the same pass: per chunk c of `chunkRows` rows and unit
 * j, counts[c·units + j] = exact zeros of a and part[c·units + j] = Σ dZ² (f32, rows in
 * order). layerStatsFinishLayers and sumSegments finish them for every layer at once.
 * counts and part must be regions of arenas other than z's, a's and d's.
 */
export function activationBackwardStats(
  label: string,
  rows: number,
  units: number,
  act: number,
  alpha: number,
  l1Scale: number,
  io: { z: BufRange; a: BufRange; d: BufRange; counts: BufRange; part: BufRange; mask?: BufRange },
  chunkRows = STATS_CHUNK_ROWS,
): PlanStep {
  if (!Number.isInteger(rows) || !Number.isInteger(units) || rows < 1 || units < 1)
    throw new Error(`${label}: need at least one row and one unit (got ${rows} × ${units})`);
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`${label}: rows per chunk must be a positive integer, not ${chunkRows}`);
  const chunks = ceilDiv(rows, chunkRows);
  if (ceilDiv(units, 64) > MAX_WORKGROUPS || chunks > MAX_WORKGROUPS) throw new Error(`${label}: ${rows} × ${units} exceeds one dispatch`);
  const n = chunks * units;
  for (const [name, r] of [
    ['counts', io.counts],
    ['part', io.part],
  ] as const)
    if (r.length < n) throw new Error(`${label}: ${name} holds ${r.length} words but needs ${n}`);
  const { mask, ...rest } = io;
  return {
    op: mask ? activationBackwardMaskedStatsOp : activationBackwardStatsOp,
    label,
    constants: { COUNT: rows * units, ACT: act, ALPHA: alpha, L1: l1Scale, UNITS: units, ROWS: rows, CHUNK_ROWS: chunkRows },
    bindings: mask ? { ...rest, mask } : rest,
    dispatch: [ceilDiv(units, 64), chunks, 1],
  };
}

export const activationForwardOp: OpDef = {
  shader: 'activation_backward',
  entry: 'forward',
  group: 'elementwise',
  cpu({ COUNT, ACT, ALPHA }, { z, out }) {
    const zf = z.f;
    const o = out.f;
    for (let i = 0; i < COUNT; i++) o[i] = activate(ACT, ALPHA, zf[i]);
  },
};

/**
 * In place on d: d = (d + l1Scale·sign(a)) ⊙ f′(z, a). `act` is an id from activations.ts,
 * `alpha` the leaky slope, l1Scale = λ/B for the L1 activation penalty (λ/B)·Σ|a| (0 = off).
 * z and a are read-only, so they must not live in d's arena.
 */
export function activationBackward(
  label: string,
  count: number,
  act: number,
  alpha: number,
  l1Scale: number,
  io: { z: BufRange; a: BufRange; d: BufRange },
): PlanStep {
  return {
    op: activationBackwardOp,
    label,
    constants: { COUNT: count, ACT: act, ALPHA: alpha, L1: l1Scale },
    bindings: { z: io.z, a: io.a, d: io.d },
    dispatch: gridStride(count),
  };
}

/**
 * As activationBackward, with the L1 term of each unit scaled by mask[unit] (count =
 * rows × units, row-major; mask holds `units` values, 0 … 1): units spared the penalty.
 */
export function activationBackwardMasked(
  label: string,
  count: number,
  units: number,
  act: number,
  alpha: number,
  l1Scale: number,
  io: { z: BufRange; a: BufRange; d: BufRange; mask: BufRange },
): PlanStep {
  return {
    op: activationBackwardMaskedOp,
    label,
    constants: { COUNT: count, ACT: act, ALPHA: alpha, L1: l1Scale, UNITS: units },
    bindings: { z: io.z, a: io.a, d: io.d, mask: io.mask },
    dispatch: gridStride(count),
  };
}

/** out = f(z) elementwise (the matmul epilogue normally fuses this). */
export function activationForward(label: string, count: number, act: number, alpha: number, io: { z: BufRange; out: BufRange }): PlanStep {
  return {
    op: activationForwardOp,
    label,
    constants: { COUNT: count, ACT: act, ALPHA: alpha },
    bindings: { z: io.z, out: io.out },
    dispatch: gridStride(count),
  };
}
