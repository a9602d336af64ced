// Fused softmax cross-entropy (loss, correct count, dLogits): plan builder and CPU twin
// of shaders/softmax_xent.wgsl.
import type { BufRange, OpDef, PlanStep } from './op.ts';

export const softmaxXentOp: OpDef = {
  shader: 'softmax_xent',
  entry: 'main',
  group: 'loss',
  cpu({ ROWS, CLASSES, LOSS_SLOT, CORRECT_SLOT, NORM_SLOT }, { logits, labels, dlogits, stats }) {
    const x = logits.f;
    const lab = labels.u;
    const dx = dlogits.f;
    const invRows = 1 / ROWS;
    let loss = 0;
    let hits = 0;
    let sq = 0;
    for (let r = 0; r < ROWS; r++) {
      const base = r * CLASSES;
      // One pass: running max, sum of exp(x − max) rescaled as the max grows, first argmax.
      let m = x[base];
      let s = 1;
      let arg = 0;
      for (let k = 1; k < CLASSES; k++) {
        const v = x[base + k];
        if (v > m) {
          s = s * Math.exp(m - v) + 1;
          m = v;
          arg = k;
        } else {
          s += Math.exp(v - m);
        }
      }
      const y = lab[r];
      const invS = 1 / s;
      for (let k = 0; k < CLASSES; k++) {
        const p = Math.exp(x[base + k] - m) * invS;
        dx[base + k] = (p - (k === y ? 1 : 0)) * invRows;
        sq += dx[base + k] * dx[base + k];
      }
      loss += Math.log(s) + (m - x[base + y]);
      if (arg === y) hits++;
    }
    stats.f[LOSS_SLOT] = loss * invRows;
    stats.u[CORRECT_SLOT] = hits;
    if (NORM_SLOT !== undefined) stats.f[NORM_SLOT] = sq;
  },
};

/**
 * dlogits = (softmax(logits) − onehot(label)) / rows; stats[slots.loss] = mean cross-entropy
 * (f32), stats[slots.correct] = rows whose first maximal logit is the label (u32); with
 * slots.norm, stats[slots.norm] = Σ dlogits² (f32: the output layer's delta norm, folded in
 * so that it needs no pass of its own). One workgroup, deterministic. Labels must be < classes.
 */
export function softmaxXent(
  label: string,
  rows: number,
  classes: number,
  slots: { loss: number; correct: number; norm?: number },
  io: { logits: BufRange; labels: BufRange; dlogits: BufRange; stats: BufRange },
): PlanStep {
  return {
    op: softmaxXentOp,
    label,
    constants: {
      ROWS: rows,
      CLASSES: classes,
      LOSS_SLOT: slots.loss,
      CORRECT_SLOT: slots.correct,
      ...(slots.norm === undefined ? {} : { NORM_SLOT: slots.norm }),
    },
    bindings: { logits: io.logits, labels: io.labels, dlogits: io.dlogits, stats: io.stats },
    dispatch: [1, 1, 1],
  };
}
