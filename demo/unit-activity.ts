// Per-unit activity of each hidden layer, what the unit maps draw. Two sources: a training
// run's dead-unit window flags (which units fired on some example since the window began)
// with the latest batch's activations (how often each fired there); or a tally over test
// images, fed from predictions with the hidden activations (measureTest in run.ts).

/** A unit that fired, but on fewer than this share of the examples looked at, is "rare". */
export const RARE_BELOW = 0.01;

export interface LayerActivity {
  units: number;
  /** Per unit: 1 when it fired (output not exactly 0) on some example of the window or set. */
  active: Uint8Array;
  /** Per unit: share of the examples looked at (the latest batch, or the test images so far) on which it fired. */
  freq: Float32Array;
}

export interface UnitActivity {
  /** Training steps done when it was read. */
  step: number;
  /** 'window': the trainer's window flags and the latest batch; 'test': test images. */
  source: 'window' | 'test';
  /** Examples behind `freq`: the batch, or the test images tallied so far. */
  examples: number;
  layers: LayerActivity[];
}

export type UnitState = 'dead' | 'rare' | 'active';

export function unitState(l: LayerActivity, j: number): UnitState {
  if (!l.active[j]) return 'dead';
  return l.freq[j] < RARE_BELOW ? 'rare' : 'active';
}

export function countStates(l: LayerActivity): Record<UnitState, number> {
  const n = { dead: 0, rare: 0, active: 0 };
  for (let j = 0; j < l.units; j++) n[unitState(l, j)]++;
  return n;
}

/** Activity from a training run: per hidden layer its window flags and the latest batch's activations (batch × units). */
export function windowActivity(step: number, flags: Uint8Array[], acts: Float32Array[]): UnitActivity {
  let examples = 0;
  const layers = flags.map((active, h) => {
    const units = active.length;
    const freq = new Float32Array(units);
    const a = acts[h];
    if (a && units > 0 && a.length % units === 0 && a.length > 0) {
      const rows = a.length / units;
      examples = rows;
      for (let r = 0; r < rows; r++) {
        const row = r * units;
        for (let j = 0; j < units; j++) if (a[row + j] !== 0) freq[j]++;
      }
      for (let j = 0; j < units; j++) freq[j] /= rows;
    }
    return { units, active, freq };
  });
  return { step, source: 'window', examples, layers };
}

/** Running figures of a measurement on the test set. */
export interface TestMeasure {
  /** Training steps of the network measured. */
  step: number;
  /** Test images evaluated so far, of `of`. */
  examples: number;
  of: number;
  error: number;
  /** Mean cross-entropy. */
  loss: number;
  /** Per hidden layer: exact zeros / (examples × units). */
  sparsity: number[];
  /** Per hidden layer: units exactly 0 on every test image so far. */
  deadUnits: number[];
  /** Per hidden layer: units that fired on fewer than RARE_BELOW of the images so far (but fired). */
  rareUnits: number[];
  done: boolean;
}

/** Tallies predictions on test images: errors, loss, and per unit how many images it fired on. */
export class TestTally {
  readonly counts: Uint32Array[];
  private readonly zeros: number[];
  private wrong = 0;
  private lossSum = 0;
  examples = 0;

  constructor(
    readonly widths: number[],
    readonly of: number,
  ) {
    this.counts = widths.map((u) => new Uint32Array(u));
    this.zeros = widths.map(() => 0);
  }

  /** One batch of predictions: `rows` rows of class probabilities and of each hidden layer's activations. */
  add(rows: number, classes: number, probabilities: Float32Array, hidden: Float32Array[], labels: ArrayLike<number>): void {
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (probabilities[r * classes + c] > probabilities[r * classes + best]) best = c;
      const y = labels[r];
      if (best !== y) this.wrong++;
      // A probability that underflowed to 0 counts as e^-88, float32's smallest normal.
      this.lossSum -= Math.log(Math.max(probabilities[r * classes + y], 1.2e-38));
    }
    hidden.forEach((a, h) => {
      const u = this.widths[h];
      const count = this.counts[h];
      let z = 0;
      for (let r = 0; r < rows; r++) {
        const row = r * u;
        for (let j = 0; j < u; j++) {
          if (a[row + j] !== 0) count[j]++;
          else z++;
        }
      }
      this.zeros[h] += z;
    });
    this.examples += rows;
  }

  activity(step: number): UnitActivity {
    const n = Math.max(1, this.examples);
    return {
      step,
      source: 'test',
      examples: this.examples,
      layers: this.counts.map((c) => ({ units: c.length, active: Uint8Array.from(c, (x) => (x > 0 ? 1 : 0)), freq: Float32Array.from(c, (x) => x / n) })),
    };
  }

  measure(step: number): TestMeasure {
    const n = Math.max(1, this.examples);
    const act = this.activity(step);
    const states = act.layers.map(countStates);
    return {
      step,
      examples: this.examples,
      of: this.of,
      error: this.wrong / n,
      loss: this.lossSum / n,
      sparsity: this.zeros.map((z, h) => z / (n * this.widths[h])),
      deadUnits: states.map((s) => s.dead),
      rareUnits: states.map((s) => s.rare),
      done: this.examples >= this.of,
    };
  }
}
