// One training run of the dead-units experiment (parts E1–E3): a relu or leaky_relu
// network on MNIST under one dead-unit policy (keep, revive or prune), with a full-set scan
// of a fixed sample of the training images every `scanEvery` examples (dead and dormant
// units per layer, with the weights frozen), every dead-unit check and alarm the trainer
// reports, and the test error at each epoch's end. Training time counts the trainer's steps
// and its own checks (a policy's cost), not the experiment's scans and evaluations.
import type { Backend } from '../backend/backend.ts';
import type { Dataset } from '../data/dataset.ts';
import type { Activation } from '../ops/activations.ts';
import { DEFAULT_OPTIMIZER, type OptimizerKind } from '../ops/optimizer.ts';
import { paramLayout } from '../model/layout.ts';
import { modelSpec, type Init, type ModelSpec } from '../model/spec.ts';
import type { DeadUnitPolicy } from '../train/dead-units.ts';
import { Evaluator } from '../train/evaluate.ts';
import { Trainer, TrainingDivergedError } from '../train/trainer.ts';
import { DEFAULT_TAU, UnitScanner } from '../train/unit-scan.ts';

export interface TrainSpec {
  /** Unique among the experiment's runs: names its progress file. */
  key: string;
  hidden: number[];
  activation: Activation;
  init: Init;
  /** L1 activation penalty λ. */
  l1: number;
  optimizer: OptimizerKind;
  lr: number;
  batch: number;
  epochs: number;
  seed: number;
  policy: DeadUnitPolicy;
  /** The policy's dormancy threshold (0: dead units only). */
  tau: number;
  /** Steps revived units are spared the L1 penalty. */
  grace: number;
  /** The dead-unit window in examples: the telemetry's count and, with revive or prune, each check's interval and sample. */
  window: number;
  /** Training examples between the experiment's own scans. */
  scanEvery: number;
}

/** One scan of the fixed training sample. */
export interface TracePoint {
  examples: number;
  epoch: number;
  /** Per hidden layer: dead (z ≤ 0 on every scanned image), dormant (ReDo score ≤ 0.025), width then. */
  dead: number[];
  dormant: number[];
  widths: number[];
  /** Mean training loss over the steps since the previous point (undefined at 0). */
  loss?: number;
}

export interface EpochRecord {
  epoch: number;
  seconds: number;
  examplesPerSecond: number;
  testError: number;
  widths: number[];
}

export interface TrainResult {
  spec: TrainSpec;
  /** Scans of the training sample, from step 0. */
  trace: TracePoint[];
  /** The telemetry's window count at the end of each window: units silent on all of the window's examples. */
  windows: { step: number; dead: number[] }[];
  /** The trainer's dead-unit checks (revive, prune). */
  checks: { step: number; dead: number[]; dormant: number[]; revived: number[]; pruned: number[]; redied: number[]; widths: number[] }[];
  alarms: { layer: number; step: number; reason: string; cause: string; deadFraction: number }[];
  epochs: EpochRecord[];
  totals: { revived: number[]; pruned: number[]; redied: number[] };
  /** Seconds in the trainer (steps and its checks) and the examples it trained per second. */
  trainSeconds: number;
  examplesPerSecond: number;
  final?: {
    testError: number;
    testLoss: number;
    /** Per hidden layer, with the final weights: dead on the 10,000 test images and on the training sample. */
    deadTest: number[];
    deadTrain: number[];
    dormantTrain: number[];
    sparsityTest: number[];
    widths: number[];
    /** Parameters of the final model (weights and biases). */
    params: number;
  };
  diverged?: { step: number; detail: string };
}

export interface RunEnv {
  makeBackend(): Promise<Backend>;
  train: Dataset;
  test: Dataset;
  /** The fixed sample of the training set every scan covers. */
  sample: Dataset;
  log(line: string): void;
}

export function specModel(s: Pick<TrainSpec, 'hidden' | 'activation' | 'init' | 'seed'>): ModelSpec {
  return modelSpec({ inputs: 784, classes: 10, hidden: s.hidden, activation: s.activation, alpha: 0.01, init: s.init, seed: s.seed });
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);

export async function trainRun(spec: TrainSpec, env: RunEnv): Promise<TrainResult> {
  const backend = await env.makeBackend();
  try {
    return await trainOn(backend, spec, env);
  } finally {
    backend.destroy();
  }
}

async function trainOn(backend: Backend, spec: TrainSpec, env: RunEnv): Promise<TrainResult> {
  const model = specModel(spec);
  const t = await Trainer.create(
    backend,
    model,
    {
      batch: spec.batch,
      l1: spec.l1,
      telemetry: true,
      optimizer: { ...DEFAULT_OPTIMIZER, kind: spec.optimizer, momentum: 0.9 },
      lr: spec.lr,
      shuffleSeed: spec.seed,
      deadUnits: spec.policy,
      dormantTau: spec.policy === 'keep' ? undefined : spec.tau,
      reviveGrace: spec.policy === 'revive' && spec.l1 > 0 ? spec.grace : undefined,
      deadWindow: spec.window,
    },
    env.train,
  );
  let scans = 0;
  const newScanner = (m: ModelSpec) => UnitScanner.create(backend, m, env.sample, { prefix: `diag${scans++}.` });
  let scanner = await newScanner(model);
  let evaluator = await Evaluator.create(backend, model, env.test, 'test.');
  const r: TrainResult = {
    spec,
    trace: [],
    windows: [],
    checks: [],
    alarms: [],
    epochs: [],
    totals: { revived: [], pruned: [], redied: [] },
    trainSeconds: 0,
    examplesPerSecond: 0,
  };
  const widths = () => t.model.hidden.slice();
  const point = async (loss?: number): Promise<TracePoint> => {
    const s = await scanner.scan({ tau: DEFAULT_TAU });
    return {
      examples: t.step * spec.batch,
      epoch: t.step / t.stepsPerEpoch,
      dead: s.layers.map((l) => l.dead),
      dormant: s.layers.map((l) => l.dormant),
      widths: widths(),
      loss,
    };
  };
  r.trace.push(await point());
  const total = spec.epochs * t.stepsPerEpoch;
  const scanSteps = Math.max(1, Math.round(spec.scanEvery / spec.batch));
  const windowSteps = Math.max(1, Math.ceil(spec.window / spec.batch));
  let epochSeconds = 0;
  let epochSteps = 0;
  while (t.step < total && !r.diverged) {
    const n = Math.min(scanSteps - (t.step % scanSteps), t.stepsPerEpoch - (t.step % t.stepsPerEpoch), total - t.step);
    const losses: number[] = [];
    const start = t.step;
    const t0 = performance.now();
    try {
      for await (const s of t.run(n)) {
        losses.push(s.loss);
        if (s.step % windowSteps === 0) r.windows.push({ step: s.step, dead: s.deadUnits.slice() });
        for (const a of s.alarms ?? []) r.alarms.push({ layer: a.layer, step: a.step, reason: a.reason, cause: a.cause, deadFraction: a.deadFraction });
        const c = s.deadCheck;
        if (c) r.checks.push({ step: c.step, dead: c.dead, dormant: c.dormant, revived: c.revived, pruned: c.pruned, redied: c.redied, widths: c.widths });
      }
      await backend.finish();
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      r.diverged = { step: e.step, detail: e.detail };
      env.log(`${spec.key}: diverged at step ${e.step} (${e.detail})`);
    }
    const secs = (performance.now() - t0) / 1000;
    r.trainSeconds += secs;
    epochSeconds += secs;
    epochSteps += t.step - start;
    if (r.diverged) break;
    if (JSON.stringify(widths()) !== JSON.stringify(scanner.model.hidden)) {
      // Pruned: the scanner and the evaluator were planned for the old widths.
      backend.free?.(Object.keys(scanner.plan.arenas));
      scanner = await newScanner(t.model);
      evaluator = await evaluator.remake(t.model);
    }
    if (t.step % scanSteps === 0 || t.step === total) r.trace.push(await point(mean(losses)));
    if (t.step % t.stepsPerEpoch === 0) {
      const ev = await evaluator.evaluate();
      const rec: EpochRecord = {
        epoch: t.step / t.stepsPerEpoch,
        seconds: epochSeconds,
        examplesPerSecond: (epochSteps * spec.batch) / epochSeconds,
        testError: ev.error,
        widths: widths(),
      };
      r.epochs.push(rec);
      const last = r.trace[r.trace.length - 1];
      env.log(
        `${spec.key} epoch ${rec.epoch}: test error ${(100 * ev.error).toFixed(2)}%, dead ${last.dead.join('/')} of ${last.widths.join('/')}, ` +
          `dormant ${last.dormant.join('/')}, ${rec.examplesPerSecond.toFixed(0)} ex/s`,
      );
      epochSeconds = 0;
      epochSteps = 0;
    }
  }
  const rep = t.deadUnitsReport;
  r.totals = { revived: rep.revived, pruned: rep.pruned, redied: rep.redied };
  r.examplesPerSecond = (t.step * spec.batch) / Math.max(1e-9, r.trainSeconds);
  if (!r.diverged) {
    const ev = await evaluator.evaluate();
    const testScan = await UnitScanner.create(backend, t.model, env.test, { prefix: 'final.test.' });
    const dt = await testScan.scan({ tau: DEFAULT_TAU });
    const last = r.trace[r.trace.length - 1];
    r.final = {
      testError: ev.error,
      testLoss: ev.loss,
      deadTest: dt.layers.map((l) => l.dead),
      deadTrain: last.dead,
      dormantTrain: last.dormant,
      sparsityTest: ev.sparsity,
      widths: widths(),
      params: paramLayout(t.model).count,
    };
  }
  return r;
}
