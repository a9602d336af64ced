// Bias gradient (column sums of dZ): plan builder and CPU twin of shaders/bias_grad.wgsl.
import { ceilDiv, type BufRange, type OpDef, type PlanStep } from './op.ts';

export const biasGradOp: OpDef = {
  shader: 'bias_grad',
  entry: 'main',
  group: 'reduce',
  cpu({ ROWS, COLS }, { dz, out }) {
    const x = dz.f;
    const o = out.f;
    o.fill(0, 0, COLS);
    for (let i = 0; i < ROWS; i++) {
      const row = i * COLS;
      for (let j = 0; j < COLS; j++) o[j] += x[row + j];
    }
  },
};

export function biasGrad(label: string, rows: number, cols: number, dz: BufRange, out: BufRange): PlanStep {
  return {
    op: biasGradOp,
    label,
    constants: { ROWS: rows, COLS: cols },
    bindings: { dz, out },
    dispatch: [ceilDiv(cols, 64), 1, 1],
  };
}
