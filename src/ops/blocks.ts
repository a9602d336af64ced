// Column-block copies and sums of partial results, for layers whose operands are split over
// several dispatches (each part within one binding): plan builders and CPU twins of
// shaders/copy_block.wgsl and shaders/sum_terms.wgsl.
import { ceilDiv, type BufRange, type OpDef, type PlanStep } from './op.ts';

export const copyBlockOp: OpDef = {
  shader: 'copy_block',
  entry: 'main',
  group: 'elementwise',
  cpu({ ROWS, COLS, SRC_LD, SRC_COL, DST_LD, DST_COL }, { src, dst }) {
    for (let r = 0; r < ROWS; r++) {
      const s = r * SRC_LD + SRC_COL;
      const d = r * DST_LD + DST_COL;
      for (let j = 0; j < COLS; j++) dst.f[d + j] = src.f[s + j];
    }
  },
};

export const sumTermsOp: OpDef = {
  shader: 'sum_terms',
  entry: 'main',
  group: 'reduce',
  cpu({ COUNT, TERMS, STRIDE, SRC_OFF, DST_OFF }, { src, dst }) {
    // In float32 every partial sum is rounded as on the GPU (the same adds in the same
    // order give the same bits); float64 storage (gradient checks) keeps full precision.
    const round = dst.f instanceof Float32Array ? Math.fround : (x: number) => x;
    for (let i = 0; i < COUNT; i++) {
      let s = src.f[SRC_OFF + i];
      for (let k = 1; k < TERMS; k++) s = round(s + src.f[SRC_OFF + k * STRIDE + i]);
      dst.f[DST_OFF + i] = s;
    }
  },
};

const grid = (n: number): [number, number, number] => [Math.min(65535, Math.max(1, ceilDiv(n, 256))), 1, 1];

/** Columns [srcCol, srcCol + cols) of a rows × srcLd matrix → columns [dstCol, …) of a rows × dstLd one. */
export function copyBlock(
  label: string,
  shape: { rows: number; cols: number; srcLd: number; srcCol: number; dstLd: number; dstCol: number },
  io: { src: BufRange; dst: BufRange },
): PlanStep {
  const { rows, cols, srcLd, srcCol, dstLd, dstCol } = shape;
  if (cols < 1 || rows < 1 || srcCol + cols > srcLd || dstCol + cols > dstLd) {
    throw new Error(`${label}: block of ${rows} × ${cols} at columns ${srcCol} → ${dstCol} does not fit widths ${srcLd} → ${dstLd}`);
  }
  if (io.src.length < (rows - 1) * srcLd + srcCol + cols) throw new Error(`${label}: src holds ${io.src.length} floats, too few for the block`);
  if (io.dst.length < (rows - 1) * dstLd + dstCol + cols) throw new Error(`${label}: dst holds ${io.dst.length} floats, too few for the block`);
  return {
    op: copyBlockOp,
    label,
    constants: { ROWS: rows, COLS: cols, SRC_LD: srcLd, SRC_COL: srcCol, DST_LD: dstLd, DST_COL: dstCol },
    bindings: { src: io.src, dst: io.dst },
    dispatch: grid(rows * cols),
  };
}

/** dst[dstOff + i] = Σ_k src[srcOff + k·stride + i] for i < count, k < terms. src and dst must be different arenas. */
export function sumTerms(
  label: string,
  shape: { count: number; terms: number; stride: number; srcOff: number; dstOff: number },
  io: { src: BufRange; dst: BufRange },
): PlanStep {
  const { count, terms, stride, srcOff, dstOff } = shape;
  if (count < 1 || terms < 1) throw new Error(`${label}: nothing to sum (${count} values of ${terms} terms)`);
  if (io.src.length < srcOff + (terms - 1) * stride + count) throw new Error(`${label}: src holds ${io.src.length} floats, too few for ${terms} terms`);
  if (io.dst.length < dstOff + count) throw new Error(`${label}: dst holds ${io.dst.length} floats, ${dstOff + count} needed`);
  return {
    op: sumTermsOp,
    label,
    constants: { COUNT: count, TERMS: terms, STRIDE: stride, SRC_OFF: srcOff, DST_OFF: dstOff },
    bindings: { src: io.src, dst: io.dst },
    dispatch: grid(count),
  };
}
