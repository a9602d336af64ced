// What the trainer does about dead units while it trains: the options, their checks, and
// the running account (per-layer counts, alarms) that the trainer, trainRun and the CLI
// report. The trainer (trainer.ts) applies it; this file holds no device work.
//
// The cadence is the dead-unit window (`deadWindow` examples, default one epoch): the
// per-step telemetry count covers it, and at its end, with a policy other than keep, the
// trainer scans `deadWindow` training examples with the weights frozen (a fixed seeded
// sample, the whole set if it is smaller) and revives or prunes what the scan finds. A
// check on the window's own boundary sees the same number of examples the window count
// does, and the window count restarts right after it, so the two never disagree about
// which units a policy has already dealt with. The scan is what makes the policies safe:
// a unit dead on the scanned examples with the current weights contributes exactly 0
// there, so reviving it (outgoing weights zeroed) leaves those outputs bit-identical and
// pruning it leaves them equal within rounding.
import type { ModelSpec } from '../model/spec.ts';
import { DEFAULT_DEAD_ALARM, type DeadLayerAlarm } from './dead-alarm.ts';
import type { UnitsByLayer } from './revive.ts';
import type { UnitScanResult } from './unit-scan.ts';

export const DEAD_UNIT_POLICIES = ['keep', 'revive', 'prune'] as const;
export type DeadUnitPolicy = (typeof DEAD_UNIT_POLICIES)[number];

export interface DeadUnitOptions {
  /**
   * keep (default): only watch and alarm. revive: re-initialise the units a check finds
   * (ReDo rule, src/train/revive.ts). prune: remove them for good; the trainer rebuilds its
   * plan with the smaller widths and carries on.
   */
  deadUnits?: DeadUnitPolicy;
  /** Dormancy threshold τ of a check: units with s_i ≤ τ are treated as dead too. 0 (default): dead units only. */
  dormantTau?: number;
  /**
   * Steps a revived unit is spared the L1 activation penalty (default 0), so that it can
   * grow outgoing weights before the penalty pushes it back under. Only with revive and l1 > 0.
   */
  reviveGrace?: number;
  /** Dead fraction of a hidden layer that raises the alarm (default 0.5), in (0, 1]. */
  deadAlarm?: number;
  /** Stop with a DeadLayerError at the first alarm (the steps in flight are still handed out). */
  stopOnDeadLayer?: boolean;
}

/** One check at a window's end, plain data (JSON-ready). Per-layer arrays start with hidden layer 1. */
export interface DeadUnitCheck {
  /** Steps done when the check ran. */
  step: number;
  /** Training examples scanned with the weights frozen. */
  examples: number;
  /** Units dead (z ≤ 0 on every scanned example) and, at τ > 0, dormant, before the policy acted. */
  dead: number[];
  dormant: number[];
  revived: number[];
  pruned: number[];
  /** Of the units found now, how many had been revived at an earlier check. */
  redied: number[];
  /** Hidden widths after the check. */
  widths: number[];
  /** Alarms the scan raised. */
  alarms: DeadLayerAlarm[];
}

/** The running account of a trainer's dead units (since it was created), plain data. */
export interface DeadUnitsReport {
  policy: DeadUnitPolicy;
  /** The window (and, with a policy, the examples scanned per check): training examples. */
  window: number;
  /** Examples each check scans (0 with keep: no checks). */
  scanned: number;
  tau: number;
  grace: number;
  threshold: number;
  checks: number;
  /** Per hidden layer, totals over the checks. */
  revived: number[];
  pruned: number[];
  redied: number[];
  /** Current hidden widths. */
  widths: number[];
  /** Every alarm raised, in order (at most one per layer). */
  alarms: DeadLayerAlarm[];
}

/** The options checked and filled in; each bad value is a message naming the option. */
export function deadUnitSettings(o: DeadUnitOptions & { deadWindow?: number; l1?: number }) {
  const policy = o.deadUnits ?? 'keep';
  if (!(DEAD_UNIT_POLICIES as readonly string[]).includes(policy)) {
    throw new Error(`deadUnits must be one of ${DEAD_UNIT_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
  }
  if (o.deadWindow !== undefined && !(Number.isSafeInteger(o.deadWindow) && o.deadWindow >= 1)) {
    throw new Error(`deadWindow must be a positive whole number of examples, got ${o.deadWindow}`);
  }
  const tau = o.dormantTau ?? 0;
  if (!(Number.isFinite(tau) && tau >= 0)) throw new Error(`dormantTau must be a finite number ≥ 0 (0: dead units only), got ${o.dormantTau}`);
  if (tau > 0 && policy === 'keep') throw new Error(`dormantTau chooses the units revive or prune act on: it needs deadUnits 'revive' or 'prune', not 'keep'`);
  const grace = o.reviveGrace ?? 0;
  if (!(Number.isSafeInteger(grace) && grace >= 0)) throw new Error(`reviveGrace must be a whole number of steps ≥ 0, got ${o.reviveGrace}`);
  if (grace > 0 && policy !== 'revive') throw new Error(`reviveGrace applies to revived units: it needs deadUnits 'revive', not '${policy}'`);
  const threshold = o.deadAlarm ?? DEFAULT_DEAD_ALARM.threshold;
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`deadAlarm must be a fraction in (0, 1] of a layer's units, got ${o.deadAlarm}`);
  if (o.stopOnDeadLayer !== undefined && typeof o.stopOnDeadLayer !== 'boolean') {
    throw new Error(`stopOnDeadLayer must be true or false, got ${JSON.stringify(o.stopOnDeadLayer)}`);
  }
  return {
    policy,
    tau,
    grace,
    threshold,
    stop: o.stopOnDeadLayer === true,
    /** Whether the plan needs the per-unit L1 mask (a grace period to give). */
    l1Mask: grace > 0 && (o.l1 ?? 0) > 0,
  };
}

export type DeadUnitSettings = ReturnType<typeof deadUnitSettings>;

/** The units a policy acts on: the dead ones, and at τ > 0 the dormant ones too, per layer, ascending. */
export function targetUnits(scan: UnitScanResult): UnitsByLayer {
  return scan.layers.map((l) => (scan.tau > 0 ? [...new Set([...l.deadUnits, ...l.dormantUnits])].sort((a, b) => a - b) : l.deadUnits.slice()));
}

/** Per-layer bookkeeping: totals, and which units were revived (to count the ones that die again). */
export class DeadUnitLedger {
  readonly revived: number[];
  readonly pruned: number[];
  readonly redied: number[];
  readonly alarms: DeadLayerAlarm[] = [];
  checks = 0;
  private readonly revivedUnits: Set<number>[];

  constructor(model: ModelSpec) {
    const H = model.hidden.length;
    this.revived = new Array<number>(H).fill(0);
    this.pruned = new Array<number>(H).fill(0);
    this.redied = new Array<number>(H).fill(0);
    this.revivedUnits = model.hidden.map(() => new Set<number>());
  }

  /** Of `units`, the ones revived before, per layer (counted into the totals). */
  countRedied(units: UnitsByLayer): number[] {
    const again = units.map((list, h) => list.filter((j) => this.revivedUnits[h].has(j)).length);
    again.forEach((n, h) => (this.redied[h] += n));
    return again;
  }

  recordRevived(units: UnitsByLayer): number[] {
    units.forEach((list, h) => list.forEach((j) => this.revivedUnits[h].add(j)));
    const n = units.map((l) => l.length);
    n.forEach((x, h) => (this.revived[h] += x));
    return n;
  }

  recordPruned(removed: number[]): void {
    removed.forEach((x, h) => (this.pruned[h] += x));
  }
}
