// A whole training run: steps grouped into epochs, the test set evaluated after each
// epoch, per-epoch records of DESIGN's telemetry. Used by `train`, `experiment` and
// the demo; platform-neutral (file I/O stays with the caller, through the hooks).
import type { Backend } from '../backend/backend.ts';
import type { Dataset } from '../data/dataset.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { DeadUnitCheck, DeadUnitsReport } from './dead-units.ts';
import { Evaluator } from './evaluate.ts';
import type { StepStats } from './telemetry.ts';
import { Trainer, type TrainerOptions } from './trainer.ts';

export interface EpochRecord {
  /** 1-based; a run that stops mid-epoch ends with a partial epoch. */
  epoch: number;
  steps: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testError: number;
  /** Per hidden layer, mean over the epoch's steps. */
  sparsity: number[];
  /** Per hidden layer, units exactly zero for every training example of the epoch so far. */
  deadUnits: number[];
  /** Hidden layer widths at the epoch's end (smaller than at the start once units are pruned). */
  widths: number[];
  /** Per dense layer, mean over the epoch's steps. */
  gradNorm: number[];
  deltaNorm: number[];
  examplesPerSecond: number;
  /** Seconds of training (evaluation excluded) since the run started. */
  seconds: number;
}

export interface RunHooks {
  /** Once the trainer is made (and restored), before the first step: e.g. to keep it for a save on an error. */
  onStart?(trainer: Trainer): Promise<void> | void;
  /** After each step's stats; a returned promise is awaited (e.g. to let signals in). */
  onStep?(s: StepStats): Promise<void> | void;
  /** After each epoch's evaluation: e.g. save a checkpoint (the trainer holds the state). */
  onEpoch?(r: EpochRecord, trainer: Trainer): Promise<void> | void;
  /**
   * Every `plan.every` steps (global step a multiple of it), once the steps up to it are
   * done and their stats checked: e.g. save a checkpoint of a step known to be finite.
   */
  onEvery?(trainer: Trainer): Promise<void> | void;
  /** Asked after each step's stats: true stops the run there (the steps in flight finish). */
  shouldStop?(): boolean;
}

export interface RunResult {
  epochs: EpochRecord[];
  /** Every `sampleEvery`-th step's stats. */
  steps: StepStats[];
  final: EpochRecord | undefined;
  trainer: Trainer;
  testSet: Evaluator;
  /** The run stopped early: shouldStop() said so, or plan.signal aborted. An epoch left unfinished stays open (not evaluated); one the stop landed just after is closed. */
  stopped: boolean;
  /** It stopped because plan.signal aborted. */
  aborted: boolean;
  /** Seconds of training (evaluation excluded) in this call. */
  seconds: number;
  /** What was done about dead units: per-layer revived, pruned and re-died totals, alarms. */
  deadUnits: DeadUnitsReport;
  /** Every dead-unit check of this call, in order (deadUnits revive or prune). */
  checks: DeadUnitCheck[];
}

const meanCols = (rows: number[][]): number[] => (rows.length ? rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length) : []);

/**
 * Train up to `plan.steps` steps in total (a resumed run continues to them), evaluating
 * the test set at each epoch's end.
 *
 * `plan.signal`: when it aborts, training stops after the step in progress and the run
 * resolves (it does not throw) with what it has: `stopped` and `aborted` true, the epochs completed,
 * and the sampled steps' stats with the last step's always among them; the unfinished
 * epoch is not evaluated and gets no EpochRecord. The trainer holds the state reached.
 */
export async function trainRun(
  backend: Backend,
  model: ModelSpec,
  options: TrainerOptions,
  train: Dataset,
  test: Dataset,
  plan: { steps: number; resume?: CheckpointState; sampleEvery?: number; every?: number; signal?: AbortSignal },
  hooks: RunHooks = {},
): Promise<RunResult> {
  const trainer = await Trainer.create(backend, model, options, train);
  if (plan.resume) trainer.restore(plan.resume);
  let testSet = await Evaluator.create(backend, model, test);
  await hooks.onStart?.(trainer);
  const checks: DeadUnitCheck[] = [];
  const per = trainer.stepsPerEpoch;
  const sampleEvery = plan.sampleEvery ?? 1;
  const epochs: EpochRecord[] = [];
  const steps: StepStats[] = [];
  let trainSeconds = 0;
  let bucket: StepStats[] = [];
  const remaining = plan.steps - trainer.step;

  const closeEpoch = async (epoch: number, seconds: number, stepsRun: number) => {
    // Pruned during the epoch: the test set is evaluated with the smaller model's plan.
    if (testSet.model !== trainer.model) testSet = await testSet.remake(trainer.model);
    const ev = await testSet.evaluate();
    const last = bucket[bucket.length - 1];
    const rec: EpochRecord = {
      epoch,
      steps: trainer.step,
      trainLoss: bucket.reduce((s, x) => s + x.loss, 0) / bucket.length,
      trainAccuracy: bucket.reduce((s, x) => s + x.accuracy, 0) / bucket.length,
      testLoss: ev.loss,
      testError: ev.error,
      sparsity: meanCols(bucket.map((s) => s.sparsity)),
      deadUnits: last.deadUnits,
      widths: trainer.model.hidden.slice(),
      gradNorm: meanCols(bucket.map((s) => s.gradNorm)),
      deltaNorm: meanCols(bucket.map((s) => s.deltaNorm)),
      examplesPerSecond: (stepsRun * options.batch) / seconds,
      seconds: trainSeconds,
    };
    epochs.push(rec);
    bucket = [];
    await hooks.onEpoch?.(rec, trainer);
  };

  // Train epoch by epoch, so evaluation happens at the boundaries (timed apart), in
  // chunks that end on multiples of `every` (where onEvery sees a drained pipeline).
  const every = plan.every ?? 0;
  let left = remaining;
  let stopped = false;
  while (left > 0 && !stopped) {
    const inEpoch = trainer.step % per;
    const epoch = trainer.epoch + 1;
    const t0 = performance.now();
    let ran = 0;
    while (ran < Math.min(left, per - inEpoch) && !stopped) {
      let n = Math.min(left, per - inEpoch) - ran;
      if (every > 0) n = Math.min(n, every - (trainer.step % every));
      const end = trainer.step + n;
      for await (const s of trainer.run(n, { signal: plan.signal })) {
        bucket.push(s);
        if (s.step % sampleEvery === 0) steps.push(s);
        if (s.deadCheck) checks.push(s.deadCheck);
        await hooks.onStep?.(s);
        if (hooks.shouldStop?.()) {
          stopped = true;
          break;
        }
      }
      ran += trainer.step - (end - n);
      if (plan.signal?.aborted) stopped = true;
      if (!stopped && every > 0 && trainer.step % every === 0) await hooks.onEvery?.(trainer);
    }
    await backend.finish();
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    left -= ran;
    if (stopped) {
      // The last step's stats are always among the sampled ones of a stopped run.
      if (bucket.length && steps.at(-1) !== bucket.at(-1)) steps.push(bucket.at(-1)!);
      // A stop (an abort, or shouldStop) that lands just after an epoch's last step leaves
      // that epoch complete: close it.
      if (bucket.length && trainer.step % per === 0) await closeEpoch(epoch, seconds, ran);
      break;
    }
    if (bucket.length) await closeEpoch(epoch, seconds, ran);
  }
  const aborted = plan.signal?.aborted === true && stopped;
  if (testSet.model !== trainer.model) testSet = await testSet.remake(trainer.model);
  return {
    epochs,
    steps,
    final: epochs[epochs.length - 1],
    trainer,
    testSet,
    stopped,
    aborted,
    seconds: trainSeconds,
    deadUnits: trainer.deadUnitsReport,
    checks,
  };
}
