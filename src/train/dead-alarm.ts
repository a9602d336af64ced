// The dead-layer alarm: watches each step's telemetry and says, once per hidden layer,
// when the layer has gone dead or no gradient reaches it any more, with the likely cause.
// Pure: it sees only StepStats (telemetry on); the trainer, CLI or page decides what to do.
//
// Two conditions, each judged per hidden layer l (1-based in what it reports):
//   dead units    deadUnits[l] / units[l] ≥ threshold (default 0.5) for `settle`
//                 consecutive observed steps (default 20). deadUnits counts units exactly 0
//                 on every example since the window began, so right after a window starts
//                 it equals the batch's count; requiring it to last keeps that from firing.
//                 (Keras's DeadReluDetector warns from 10%; a layer half dead is past doubt.)
//   no gradient   ‖∂L/∂W_l‖ = ‖∂L/∂b_l‖ = 0 exactly for `noGradSteps` consecutive observed
//                 steps (default 50): nothing reaches the layer's incoming weights, whether
//                 its own units are dead or a later layer blocks every path.
//   dead on a set a full-set scan (observeScan) finds dead / units ≥ threshold: fires at
//                 once. The window count only sees units silent since the window began, so
//                 with an epoch-long window a layer that dies mid-epoch looks alive until the
//                 next epoch; a periodic scan of (part of) the training set does not wait.
import type { StepStats } from './telemetry.ts';
import type { UnitScanResult } from './unit-scan.ts';

export interface DeadAlarmOptions {
  /** Dead fraction of a layer's units over the window that counts as a dead layer (0 < t ≤ 1). */
  threshold?: number;
  /** Consecutive steps the fraction must stay at or above the threshold. */
  settle?: number;
  /** Consecutive steps with exactly zero weight and bias gradient. */
  noGradSteps?: number;
  /** Throw DeadLayerError instead of returning the alarm (--stop-on-dead-layer). */
  fatal?: boolean;
}

export type DeadAlarmReason = 'dead-units' | 'no-gradient' | 'dead-on-set';
/**
 * initialisation: the layer was already past the threshold in the first batch (step 1).
 * learning-rate: it died during training. earlier: it was already past the threshold when
 * watching began after step 1 (a resumed run): it died before. blocked: see DeadLayerAlarm.
 */
export type DeadLayerCause = 'initialisation' | 'learning-rate' | 'blocked' | 'earlier';

/** One alarm, plain data (JSON-ready). */
export interface DeadLayerAlarm {
  /** 1-based hidden layer. */
  layer: number;
  /** 1-based step at which the alarm was raised. */
  step: number;
  reason: DeadAlarmReason;
  /** Step the condition has held since. */
  since: number;
  units: number;
  deadUnits: number;
  deadFraction: number;
  cause: DeadLayerCause;
  /** One line naming the layer, the step, the fraction and the likely cause, with what to do. */
  message: string;
}

export class DeadLayerError extends Error {
  constructor(readonly alarm: DeadLayerAlarm) {
    super(alarm.message);
  }
}

interface LayerWatch {
  deadRun: number;
  deadSince: number;
  noGradRun: number;
  noGradSince: number;
  /** The largest gradient norm seen before the current dead (or else no-gradient) run began. */
  peakAtOnset: { norm: number; step: number };
  fired: boolean;
}

export const DEFAULT_DEAD_ALARM = { threshold: 0.5, settle: 20, noGradSteps: 50 } as const;

export class DeadAlarm {
  readonly alarms: DeadLayerAlarm[] = [];
  private readonly threshold: number;
  private readonly settle: number;
  private readonly noGradSteps: number;
  private readonly fatal: boolean;
  private readonly watch: LayerWatch[];
  /** Per layer: dead fraction of the first batch observed (step 1: the initial weights). */
  private first?: number[];
  private firstStep = 0;
  /** Largest gradient norm of any layer seen so far, and its step. */
  private peak = { norm: 0, step: 0 };

  /** The width of each hidden layer (model.hidden). */
  get units(): readonly number[] {
    return this.widths;
  }

  /** `units`: the width of each hidden layer (model.hidden). */
  constructor(
    private widths: number[],
    opts: DeadAlarmOptions = {},
  ) {
    this.threshold = opts.threshold ?? DEFAULT_DEAD_ALARM.threshold;
    this.settle = opts.settle ?? DEFAULT_DEAD_ALARM.settle;
    this.noGradSteps = opts.noGradSteps ?? DEFAULT_DEAD_ALARM.noGradSteps;
    this.fatal = opts.fatal ?? false;
    if (!(this.threshold > 0 && this.threshold <= 1)) throw new Error(`the dead-layer threshold must be a fraction in (0, 1], got ${this.threshold}`);
    for (const [name, v] of [
      ['settle', this.settle],
      ['noGradSteps', this.noGradSteps],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`the dead-layer alarm's ${name} must be a positive whole number of steps, got ${v}`);
    }
    this.watch = widths.map(() => ({ deadRun: 0, deadSince: 0, noGradRun: 0, noGradSince: 0, peakAtOnset: { norm: 0, step: 0 }, fired: false }));
  }

  /**
   * The layers' new widths after units were removed (pruning): the runs in progress start
   * over (their counts were of the old units); a layer that has raised its alarm stays quiet.
   */
  resize(units: number[]): void {
    if (units.length !== this.widths.length) throw new Error(`the alarm watches ${this.widths.length} hidden layers, not ${units.length}`);
    this.widths = units.slice();
    for (const w of this.watch) w.deadRun = w.noGradRun = 0;
  }

  /**
   * Feed one step's stats (in step order; steps without telemetry are ignored). Returns
   * the alarms raised by this step, each layer at most once per DeadAlarm; with `fatal`,
   * throws the first one as a DeadLayerError instead.
   */
  observe(s: StepStats): DeadLayerAlarm[] {
    const H = this.units.length;
    if (s.deadUnits.length < H || s.gradNorm.length < H) return [];
    const frac = this.units.map((u, h) => s.deadUnits[h] / u);
    if (!this.first) {
      this.first = this.units.map((u, h) => (s.batchDead[h] ?? s.deadUnits[h]) / u);
      this.firstStep = s.step;
    }
    const raised: DeadLayerAlarm[] = [];
    for (let h = 0; h < H; h++) {
      const w = this.watch[h];
      if (frac[h] >= this.threshold) {
        if (w.deadRun++ === 0) {
          w.deadSince = s.step;
          w.peakAtOnset = this.peak;
        }
      } else w.deadRun = 0;
      if (s.gradNorm[h] === 0 && (s.biasGradNorm[h] ?? 0) === 0) {
        if (w.noGradRun++ === 0) {
          w.noGradSince = s.step;
          if (w.deadRun === 0) w.peakAtOnset = this.peak;
        }
      } else w.noGradRun = 0;
      if (w.fired) continue;
      const reason: DeadAlarmReason | undefined = w.deadRun >= this.settle ? 'dead-units' : w.noGradRun >= this.noGradSteps ? 'no-gradient' : undefined;
      if (!reason) continue;
      w.fired = true;
      raised.push(this.alarm(h, s, reason, frac));
    }
    // Updated after judging, so a run's onset sees the steps before it.
    s.gradNorm.forEach((g) => g > this.peak.norm && (this.peak = { norm: g, step: s.step }));
    this.alarms.push(...raised);
    if (this.fatal && raised.length) throw new DeadLayerError(raised[0]);
    return raised;
  }

  /**
   * Feed a full-set scan taken after `step` steps (e.g. of a slice of the training set):
   * a layer whose units are dead on the scanned set at or above the threshold is raised at
   * once (each layer at most once per DeadAlarm, shared with observe()).
   */
  observeScan(scan: UnitScanResult, step: number): DeadLayerAlarm[] {
    if (scan.layers.length !== this.units.length) throw new Error(`the scan has ${scan.layers.length} hidden layers, the alarm watches ${this.units.length}`);
    const frac = scan.layers.map((l) => l.dead / l.units);
    const dead = scan.layers.map((l) => l.dead);
    const raised: DeadLayerAlarm[] = [];
    frac.forEach((f, h) => {
      const w = this.watch[h];
      if (w.fired || f < this.threshold) return;
      w.fired = true;
      w.peakAtOnset = this.peak;
      raised.push(this.alarm(h, { step, deadUnits: dead }, 'dead-on-set', frac, scan.examples));
    });
    this.alarms.push(...raised);
    if (this.fatal && raised.length) throw new DeadLayerError(raised[0]);
    return raised;
  }

  private alarm(h: number, s: Pick<StepStats, 'step' | 'deadUnits'>, reason: DeadAlarmReason, frac: number[], examples = 0): DeadLayerAlarm {
    const w = this.watch[h];
    const units = this.units[h];
    const deadUnits = s.deadUnits[h];
    const since = reason === 'dead-units' ? w.deadSince : reason === 'no-gradient' ? w.noGradSince : s.step;
    // A later layer with every unit dead passes nothing back, whatever this one does.
    const blocker = frac.findIndex((f, k) => k > h && f >= 1);
    const cause: DeadLayerCause =
      reason === 'no-gradient' && frac[h] < this.threshold && blocker >= 0
        ? 'blocked'
        : (this.first?.[h] ?? 0) >= this.threshold
          ? this.firstStep === 1
            ? 'initialisation'
            : 'earlier'
          : 'learning-rate';
    const pct = (f: number) => `${(100 * f).toFixed(f > 0 && f < 0.01 ? 2 : 0)}%`;
    const what =
      reason === 'dead-units'
        ? `${deadUnits} of ${units} units (${pct(frac[h])}) dead over the window since step ${since}`
        : reason === 'dead-on-set'
          ? `${deadUnits} of ${units} units (${pct(frac[h])}) dead on all ${examples} scanned examples`
          : `no gradient has reached it since step ${since} (‖∂L/∂W‖ = ‖∂L/∂b‖ = 0 for ${w.noGradRun} steps; ${deadUnits} of ${units} units dead)`;
    const why =
      cause === 'blocked'
        ? `hidden layer ${blocker + 1} is entirely dead and blocks every path back`
        : cause === 'initialisation'
          ? `initialisation: ${pct(this.first![h])} of its units were already silent in the first batch (check the init scale, the input centring and the biases)`
          : cause === 'earlier'
            ? `it was already dead when watching began at step ${this.firstStep} (${pct(this.first![h])} of its units silent in that batch, e.g. a resumed run): it died before then, most often from a learning rate too high`
            : `learning rate too high: the units died during training${w.peakAtOnset.norm > 0 ? ` (before that the gradient norm peaked at ${w.peakAtOnset.norm.toPrecision(3)} at step ${w.peakAtOnset.step})` : ''}; lower the learning rate or clip the gradient`;
    return {
      layer: h + 1,
      step: s.step,
      reason,
      since,
      units,
      deadUnits,
      deadFraction: frac[h],
      cause,
      message: `hidden layer ${h + 1} at step ${s.step}: ${what}; likely cause: ${why}`,
    };
  }
}
