// Every step's stats of one run, and the bucketing that turns them into at most a few
// thousand chart points whatever the length of the run.
import type { StepStats } from '../src/index.ts';

export interface EpochPoint {
  epoch: number;
  step: number;
  testError: number;
  testLoss: number;
}

const EMA = 0.9;

export class History {
  /** Stats start at step firstStep + 1 and are contiguous. */
  firstStep: number;
  loss: number[] = [];
  lossEma: number[] = [];
  accuracy: number[] = [];
  accuracyEma: number[] = [];
  /** [hidden layer][i] */
  sparsity: number[][] = [];
  dead: number[][] = [];
  /** [dense layer][i] */
  grad: number[][] = [];
  delta: number[][] = [];
  eps: number[] = [];
  epochs: EpochPoint[] = [];

  constructor(firstStep: number, hidden: number, dense: number) {
    this.firstStep = firstStep;
    for (let h = 0; h < hidden; h++) {
      this.sparsity.push([]);
      this.dead.push([]);
    }
    for (let l = 0; l < dense; l++) {
      this.grad.push([]);
      this.delta.push([]);
    }
  }

  get length() {
    return this.loss.length;
  }
  get lastStep() {
    return this.firstStep + this.loss.length;
  }

  push(s: StepStats) {
    if (s.step !== this.lastStep + 1) {
      // Never expected (the trainer hands out every step in order); restart the series rather than misplace points.
      throw new Error(`stats of step ${s.step} arrived after step ${this.lastStep}`);
    }
    const n = this.loss.length;
    this.loss.push(s.loss);
    this.lossEma.push(n ? EMA * this.lossEma[n - 1] + (1 - EMA) * s.loss : s.loss);
    this.accuracy.push(s.accuracy);
    this.accuracyEma.push(n ? EMA * this.accuracyEma[n - 1] + (1 - EMA) * s.accuracy : s.accuracy);
    s.sparsity.forEach((v, h) => this.sparsity[h]?.push(v));
    s.deadUnits.forEach((v, h) => this.dead[h]?.push(v));
    s.gradNorm.forEach((v, l) => this.grad[l]?.push(v));
    s.deltaNorm.forEach((v, l) => this.delta[l]?.push(v));
    this.eps.push(s.examplesPerSecond);
  }

  /** Forget the steps after `step` (a run that continues from a state kept at `step` trains them again). */
  truncate(step: number) {
    const n = Math.max(0, step - this.firstStep);
    for (const a of [this.loss, this.lossEma, this.accuracy, this.accuracyEma, this.eps, ...this.sparsity, ...this.dead, ...this.grad, ...this.delta])
      a.length = Math.min(a.length, n);
    this.epochs = this.epochs.filter((e) => e.step <= step);
  }
}

/** Buckets of steps shared by every run on screen: x = the last step of each bucket. */
export class Buckets {
  readonly x: number[] = [];
  constructor(
    readonly first: number,
    readonly last: number,
    readonly size: number,
  ) {
    for (let b = first + size - 1; ; b += size) {
      this.x.push(Math.min(b, last));
      if (b >= last) break;
    }
  }

  static over(histories: History[], maxPoints = 1200): Buckets | undefined {
    const live = histories.filter((h) => h.length > 0);
    if (!live.length) return undefined;
    const first = Math.min(...live.map((h) => h.firstStep + 1));
    const last = Math.max(...live.map((h) => h.lastStep));
    const size = Math.max(1, Math.ceil((last - first + 1) / maxPoints));
    return new Buckets(first, last, size);
  }

  /** Mean of a run's values in each bucket (null where the run has none). */
  mean(h: History, values: number[], scale = 1): (number | null)[] {
    return this.x.map((_, b) => {
      const lo = this.first + b * this.size;
      const hi = Math.min(lo + this.size - 1, this.last);
      const i0 = Math.max(0, lo - h.firstStep - 1);
      const i1 = Math.min(values.length - 1, hi - h.firstStep - 1);
      if (i1 < i0) return null;
      let s = 0;
      for (let i = i0; i <= i1; i++) s += values[i];
      return (s / (i1 - i0 + 1)) * scale;
    });
  }

  /** A run's value at the last step of each bucket it reached (for smoothed series). */
  lastOf(h: History, values: number[], scale = 1): (number | null)[] {
    return this.x.map((_, b) => {
      const lo = this.first + b * this.size;
      const hi = Math.min(lo + this.size - 1, this.last);
      const i = Math.min(values.length - 1, hi - h.firstStep - 1);
      return i >= 0 && i >= lo - h.firstStep - 1 ? values[i] * scale : null;
    });
  }
}
