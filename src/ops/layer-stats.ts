// Hidden-layer telemetry (zeros, batch-dead and window-dead units, per-unit active flags):
// plan builder and CPU twin of shaders/layer_stats.wgsl.
import { ceilDiv, type BufRange, type OpDef, type PlanStep } from './op.ts';

export const layerStatsOp: OpDef = {
  shader: 'layer_stats',
  entry: 'main',
  group: 'reduce',
  cpu({ ROWS, COLS, SLOT_ZEROS, SLOT_BATCH_DEAD, SLOT_DEAD }, { a, flags, stats }) {
    const x = a.f;
    const active = flags.u;
    let zeros = 0;
    let batchDead = 0;
    let dead = 0;
    for (let j = 0; j < COLS; j++) {
      let z = 0;
      for (let i = 0, k = j; i < ROWS; i++, k += COLS) if (x[k] === 0) z++;
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

/**
 * Telemetry of one hidden layer's post-activation output a [rows × cols] (rows = batch,
 * cols = units). active: one u32 flag per unit, persisting across steps (the engine zeroes
 * it when a window starts): active[j] |= (some a[i, j] != 0). Adds to stats (u32 counts):
 * [slots.zeros] exact zeros in a; [slots.batchDead] units exactly 0 for every row of this
 * batch; [slots.dead] units whose active flag is still 0 after this batch's update.
 * `a` must not share an arena with `active` or `stats` (read-only next to read_write).
 */
export function layerStats(
  label: string,
  rows: number,
  cols: number,
  slots: { zeros: number; batchDead: number; dead: number },
  io: { a: BufRange; active: BufRange; stats: BufRange },
): PlanStep {
  if (rows < 1 || cols < 1) throw new Error(`${label}: layer stats need at least one row and one column (got ${rows} × ${cols})`);
  if (ceilDiv(cols, 64) > 65535) throw new Error(`${label}: ${cols} units exceed one dispatch (at most ${65535 * 64})`);
  return {
    op: layerStatsOp,
    label,
    constants: { ROWS: rows, COLS: cols, SLOT_ZEROS: slots.zeros, SLOT_BATCH_DEAD: slots.batchDead, SLOT_DEAD: slots.dead },
    // `active` is a reserved word in WGSL: the shader names the flags `flags`.
    bindings: { a: io.a, flags: io.active, stats: io.stats },
    dispatch: [ceilDiv(cols, 64), 1, 1],
  };
}
