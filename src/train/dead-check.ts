// One call for a training loop between steps: scan (part of) the training set with the
// trainer's live weights, let the alarm judge the scan, and optionally revive what it
// found (ReDo's periodic reset). What a `--revive-every N` or a periodic check runs.
import type { TrainPlan } from '../plan/plan.ts';
import type { Backend } from '../backend/backend.ts';
import type { DeadAlarm, DeadLayerAlarm } from './dead-alarm.ts';
import { reviveUnits, unitsFromScan, type ReviveResult } from './revive.ts';
import type { UnitScanner, UnitScanResult } from './unit-scan.ts';

export interface DeadCheck {
  step: number;
  scan: UnitScanResult;
  alarms: DeadLayerAlarm[];
  revived?: ReviveResult;
}

/**
 * `scanner` must read the shared params arena of the trainer's backend (the default).
 * Call between trainer.run() calls. With `revive`, the dead (or dormant at the scan's τ)
 * units are revived, seeded by the step so that each check draws afresh.
 */
export async function checkDeadUnits(
  trainer: { backend: Backend; plan: TrainPlan; step: number },
  scanner: UnitScanner,
  opts: { alarm?: DeadAlarm; revive?: 'dead' | 'dormant'; tau?: number } = {},
): Promise<DeadCheck> {
  if (scanner.backend !== trainer.backend || scanner.ownParams) {
    throw new Error("the scanner must read the trainer's live weights: create it on the trainer's backend without { params: 'own' }");
  }
  const scan = await scanner.scan({ tau: opts.tau });
  const alarms = opts.alarm?.observeScan(scan, trainer.step) ?? [];
  const revived = opts.revive ? await reviveUnits(trainer, unitsFromScan(scan, opts.revive), { seed: trainer.step }) : undefined;
  return { step: trainer.step, scan, alarms, revived };
}
