// Per-unit activity over a full-set scan (max pre-activation, summed |activation|): plan
// builder and CPU twin of shaders/unit_scan.wgsl.
import { ceilDiv, type BufRange, type OpDef, type PlanStep } from './op.ts';

export const unitScanOp: OpDef = {
  shader: 'unit_scan',
  entry: 'main',
  group: 'reduce',
  cpu({ ROWS, COLS }, { z, a, maxz, sumabs }) {
    const zf = z.f;
    const af = a.f;
    const mf = maxz.f;
    const sf = sumabs.f;
    // In float32 mode each addition is rounded to f32 as the GPU does it (an f32 sum
    // formed in double and rounded once is the correctly rounded f32 sum).
    const round = sf instanceof Float32Array ? Math.fround : (x: number) => x;
    for (let j = 0; j < COLS; j++) {
      let m = mf[j];
      let s = sf[j];
      for (let i = 0, k = j; i < ROWS; i++, k += COLS) {
        const v = zf[k];
        if (v > m) m = v;
        s = round(s + Math.abs(af[k]));
      }
      mf[j] = m;
      sf[j] = s;
    }
  },
};

/**
 * Accumulates one hidden layer's activity over a batch: for each unit (column) j of the
 * [rows × cols] pre-activations z and activations a, maxz[j] = max(maxz[j], max_i z[i, j])
 * and sumabs[j] += Σ_i |a[i, j]| in row order (deterministic). Start maxz at −∞ and sumabs
 * at 0 before the first batch. z and a must not share an arena with maxz or sumabs.
 */
export function unitScan(label: string, rows: number, cols: number, io: { z: BufRange; a: BufRange; maxz: BufRange; sumabs: BufRange }): PlanStep {
  if (!(rows >= 1 && cols >= 1)) throw new Error(`${label}: a unit scan needs at least one row and one column (got ${rows} × ${cols})`);
  if (ceilDiv(cols, 64) > 65535) throw new Error(`${label}: ${cols} units exceed one dispatch (at most ${65535 * 64})`);
  for (const name of ['z', 'a'] as const) {
    if (io[name].length < rows * cols) throw new Error(`${label}: ${name} holds ${io[name].length} elements, ${rows * cols} needed`);
  }
  for (const name of ['maxz', 'sumabs'] as const) {
    if (io[name].length < cols) throw new Error(`${label}: ${name} holds ${io[name].length} elements, ${cols} needed`);
  }
  return {
    op: unitScanOp,
    label,
    constants: { ROWS: rows, COLS: cols },
    bindings: { z: io.z, a: io.a, maxz: io.maxz, sumabs: io.sumabs },
    dispatch: [ceilDiv(cols, 64), 1, 1],
  };
}
