// Decoding the stats words a training step leaves behind into the numbers of DESIGN's
// telemetry definitions.
import type { View } from '../ops/op.ts';
import type { TrainPlan } from '../plan/plan.ts';
import type { DeadLayerAlarm } from './dead-alarm.ts';
import type { DeadUnitCheck } from './dead-units.ts';

export interface StepStats {
  /** 1-based global step. */
  step: number;
  /** 0-based epoch the step belongs to. */
  epoch: number;
  /** Mean cross-entropy of the batch (the L1 penalty is not included). */
  loss: number;
  accuracy: number;
  /** Per hidden layer: exact zeros / (batch × units). */
  sparsity: number[];
  /** Per hidden layer: units exactly 0 for every example since the window began. */
  deadUnits: number[];
  /** Per hidden layer: units exactly 0 for every example of this batch. */
  batchDead: number[];
  /** Per dense layer: ‖∂L/∂W‖₂. */
  gradNorm: number[];
  /** Per dense layer: ‖∂L/∂b‖₂. */
  biasGradNorm: number[];
  /** Per dense layer: ‖∂L/∂z‖₂ / √batch. */
  deltaNorm: number[];
  /** Throughput measured over the steps since the previous stats arrived. */
  examplesPerSecond: number;
  /** Dead-layer alarms raised at this step (each hidden layer at most once per trainer). */
  alarms?: DeadLayerAlarm[];
  /** The dead-unit check run after this step (the last of a window, with deadUnits revive or prune). */
  deadCheck?: DeadUnitCheck;
}

export function decodeStats(plan: TrainPlan, v: View, step: number, epoch: number, examplesPerSecond: number): StepStats {
  const { stats, layout, config } = plan;
  const B = config.batch;
  const hiddenUnits = layout.layers.slice(0, -1).map((l) => l.outputs);
  const tele = config.telemetry;
  return {
    step,
    epoch,
    loss: v.f[stats.loss],
    accuracy: v.u[stats.correct] / B,
    sparsity: tele ? stats.hidden.map((s, h) => v.u[s.zeros] / (B * hiddenUnits[h])) : [],
    deadUnits: tele ? stats.hidden.map((s) => v.u[s.dead]) : [],
    batchDead: tele ? stats.hidden.map((s) => v.u[s.batchDead]) : [],
    gradNorm: tele ? stats.grad.map((s) => Math.sqrt(v.f[s.weight])) : [],
    biasGradNorm: tele ? stats.grad.map((s) => Math.sqrt(v.f[s.bias])) : [],
    deltaNorm: tele ? stats.delta.map((s) => Math.sqrt(v.f[s] / B)) : [],
    examplesPerSecond,
  };
}

/** The first non-finite quantity in a step's stats, named, or undefined if all are finite. */
export function firstNonFinite(s: StepStats): string | undefined {
  if (!Number.isFinite(s.loss)) {
    const l = s.deltaNorm.findIndex((x) => !Number.isFinite(x));
    const g = s.gradNorm.findIndex((x) => !Number.isFinite(x));
    // Layers are numbered from 1, as in every other message, chart and report.
    const where = l >= 0 ? ` (the error signal is already non-finite at layer ${l + 1})` : g >= 0 ? ` (gradient of layer ${g + 1})` : '';
    return `the loss is ${s.loss}${where}`;
  }
  const g = s.gradNorm.findIndex((x) => !Number.isFinite(x));
  if (g >= 0) return `the gradient norm of layer ${g + 1} is ${s.gradNorm[g]}`;
  return undefined;
}
