// The learning-rate schedule flags of `train`: --lr-schedule, --lr-step-every, --lr-gamma,
// --warmup. Lengths may be given in steps (500) or epochs (2e); the schedule itself is
// stored in steps, counted from the run's start.
import { InvalidArgumentError } from 'commander';
import { LR_SCHEDULES, type LrSchedule, type LrScheduleKind } from '../ops/lr-schedule.ts';

export type Length = { steps: number } | { epochs: number };

export interface ScheduleFlags {
  lrSchedule: LrScheduleKind;
  lrStepEvery?: Length;
  lrGamma?: number;
  warmup?: Length;
}

export const DEFAULT_GAMMA = 0.1;

/** --lr-gamma: the factor the rate is multiplied by at each decay, in (0, 1]. */
export function decayFactor(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) {
      throw new InvalidArgumentError(`${flag} takes a number in (0, 1] (the factor the rate is multiplied by at each decay), got ${JSON.stringify(v)}`);
    }
    return n;
  };
}

/** A steps-or-epochs length that may be 0 (a warm-up may be absent). */
export function stepsOrEpochsFrom0(flag: string) {
  return (v: string): Length => {
    const m = /^\s*(\d+)\s*(e|epochs?)?\s*$/i.exec(v);
    const n = m ? Number(m[1]) : NaN;
    if (!m || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`${flag} takes a number of steps (e.g. 500) or of epochs (e.g. 2e), got ${JSON.stringify(v)}`);
    return m[2] ? { epochs: n } : { steps: n };
  };
}

const inSteps = (l: Length, perEpoch: number) => ('steps' in l ? l.steps : l.epochs * perEpoch);
const show = (l: Length) => ('steps' in l ? `${l.steps} steps` : `${l.epochs} epochs`);

/**
 * The schedule the flags describe for a run of `totalSteps` steps in all (cosine decays to
 * 0 at the last one) with `perEpoch` steps per epoch. Flags that do not belong to the chosen
 * schedule, and lengths that do not fit the run, are errors naming the flag and the fix.
 */
export function scheduleFromFlags(f: ScheduleFlags, perEpoch: number, totalSteps: number): LrSchedule {
  if (!LR_SCHEDULES.includes(f.lrSchedule)) throw new Error(`--lr-schedule takes one of ${LR_SCHEDULES.join(', ')}; got ${JSON.stringify(f.lrSchedule)}`);
  const stray = (flag: string, belongs: LrScheduleKind) => {
    throw new Error(`${flag} applies to --lr-schedule ${belongs} only (this run's schedule is ${f.lrSchedule}): add --lr-schedule ${belongs} or drop ${flag}`);
  };
  if (f.lrSchedule !== 'step') {
    if (f.lrStepEvery) stray('--lr-step-every', 'step');
    if (f.lrGamma !== undefined) stray('--lr-gamma', 'step');
  }
  if (f.lrSchedule !== 'cosine' && f.warmup) stray('--warmup', 'cosine');
  switch (f.lrSchedule) {
    case 'constant':
      return { kind: 'constant' };
    case 'step': {
      if (!f.lrStepEvery)
        throw new Error('--lr-schedule step needs --lr-step-every N: the rate is multiplied by --lr-gamma every N steps (or every N epochs: Ne)');
      const every = inSteps(f.lrStepEvery, perEpoch);
      if (every < 1) throw new Error(`--lr-step-every ${show(f.lrStepEvery)} is less than one step: give at least 1`);
      return { kind: 'step', every, gamma: f.lrGamma ?? DEFAULT_GAMMA };
    }
    case 'cosine': {
      const warmup = f.warmup ? inSteps(f.warmup, perEpoch) : 0;
      if (warmup >= totalSteps) {
        throw new Error(
          `--warmup ${show(f.warmup!)} (${warmup} steps) is not shorter than the run (${totalSteps} steps): the cosine needs steps after the warm-up; shorten --warmup or train longer`,
        );
      }
      return { kind: 'cosine', warmup, total: totalSteps };
    }
  }
}
