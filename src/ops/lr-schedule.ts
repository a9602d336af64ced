// Learning-rate schedules: the rate of step t (1-based, as the optimiser's StepValues
// carry it) as a pure function of t, the base rate and the schedule. Nothing is kept
// between steps, so a resumed run gets the same rate at every step as an uninterrupted one.

export type LrSchedule =
  /** The base rate at every step. */
  | { kind: 'constant' }
  /** base · gamma^⌊(t − 1) / every⌋: steps 1…every use base, every+1…2·every base·gamma, … */
  | { kind: 'step'; every: number; gamma: number }
  /**
   * Linear warm-up to base over the first `warmup` steps (base·t/warmup), then a cosine from
   * base down to 0 at step `total`: base·½(1 + cos(π·(t − warmup)/(total − warmup))).
   * Past `total` the rate stays 0.
   */
  | { kind: 'cosine'; warmup: number; total: number };

export type LrScheduleKind = LrSchedule['kind'];
export const LR_SCHEDULES: readonly LrScheduleKind[] = ['constant', 'step', 'cosine'];
export const CONSTANT_LR: LrSchedule = { kind: 'constant' };

/** The learning rate of step t (1-based) under `s`, starting from `base`. */
export function scheduledLr(s: LrSchedule, base: number, t: number): number {
  switch (s.kind) {
    case 'constant':
      return base;
    case 'step':
      return base * s.gamma ** Math.floor((Math.max(t, 1) - 1) / s.every);
    case 'cosine': {
      if (s.warmup > 0 && t <= s.warmup) return (base * Math.max(t, 0)) / s.warmup;
      if (t >= s.total) return 0;
      return base * 0.5 * (1 + Math.cos((Math.PI * (t - s.warmup)) / (s.total - s.warmup)));
    }
  }
}

/**
 * The reason `s` is unusable, or undefined when it is fine. Phrased with the schedule's
 * field names; callers that take flags translate (see the CLI).
 */
export function scheduleProblem(s: LrSchedule): string | undefined {
  const whole = (x: number) => Number.isSafeInteger(x);
  switch (s.kind) {
    case 'constant':
      return undefined;
    case 'step':
      if (!(whole(s.every) && s.every >= 1)) return `a step schedule's "every" must be a positive whole number of steps, got ${s.every}`;
      if (!(Number.isFinite(s.gamma) && s.gamma > 0 && s.gamma <= 1))
        return `a step schedule's "gamma" (the factor the rate is multiplied by) must lie in (0, 1], got ${s.gamma}`;
      return undefined;
    case 'cosine':
      if (!(whole(s.total) && s.total >= 1)) return `a cosine schedule's "total" must be a positive whole number of steps, got ${s.total}`;
      if (!(whole(s.warmup) && s.warmup >= 0)) return `a cosine schedule's "warmup" must be a whole number of steps ≥ 0, got ${s.warmup}`;
      if (s.warmup >= s.total) return `a cosine schedule's warm-up (${s.warmup} steps) must be shorter than the run (${s.total} steps)`;
      return undefined;
    default:
      return `unknown learning-rate schedule ${JSON.stringify((s as { kind: unknown }).kind)} (use ${LR_SCHEDULES.join(', ')})`;
  }
}

/** `s` itself, or an Error naming what is wrong with it. */
export function validateSchedule(s: LrSchedule): LrSchedule {
  const p = scheduleProblem(s);
  if (p) throw new Error(p);
  return s;
}

/** One line for logs and reports, e.g. "cosine to 0 at step 2000 after 100 warm-up steps". */
export function describeSchedule(s: LrSchedule): string {
  switch (s.kind) {
    case 'constant':
      return 'constant';
    case 'step':
      return `×${s.gamma} every ${s.every} steps`;
    case 'cosine':
      return `${s.warmup ? `linear warm-up over ${s.warmup} steps, then ` : ''}cosine to 0 at step ${s.total}`;
  }
}
