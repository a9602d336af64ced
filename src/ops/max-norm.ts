// Max-norm constraint on each unit's incoming weights (rows of a dense layer's weight):
// plan builder and CPU twin of shaders/max_norm.wgsl.
import { MAX_WORKGROUPS, type BufRange, type OpDef, type PlanStep } from './op.ts';

export const maxNormOp: OpDef = {
  shader: 'max_norm',
  entry: 'main',
  group: 'optimizer',
  cpu({ ROWS, COLS, MAX_NORM }, { w }) {
    const x = w.f;
    // The GPU compares against MAX_NORM as an f32: so does the float32 twin.
    const c = x instanceof Float32Array ? Math.fround(MAX_NORM) : MAX_NORM;
    for (let r = 0; r < ROWS; r++) {
      const base = r * COLS;
      let ss = 0;
      for (let k = 0; k < COLS; k++) ss += x[base + k] * x[base + k];
      const n = Math.sqrt(ss);
      if (!(n > c)) continue;
      const scale = c / (n + 1e-7);
      for (let k = 0; k < COLS; k++) x[base + k] *= scale;
    }
  },
};

/**
 * Rescales each of the `rows` rows of `w` (rows × cols, row-major) whose L2 norm exceeds
 * `maxNorm` to norm maxNorm (exactly: maxNorm / (norm + 1e-7) times the row, as
 * torch.renorm); rows within it are left untouched. One workgroup per row.
 */
export function maxNormStep(label: string, rows: number, cols: number, maxNorm: number, w: BufRange): PlanStep {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) throw new Error(`${label}: ${rows} × ${cols} is not a weight matrix`);
  if (!(maxNorm > 0 && Number.isFinite(maxNorm))) throw new Error(`${label}: the max-norm bound must be a finite number > 0, got ${maxNorm}`);
  if (w.length < rows * cols) throw new Error(`${label}: w holds ${w.length} elements, ${rows * cols} needed`);
  return {
    op: maxNormOp,
    label,
    constants: { ROWS: rows, COLS: cols, MAX_NORM: maxNorm },
    bindings: { w },
    dispatch: [Math.min(MAX_WORKGROUPS, rows), 1, 1],
  };
}
