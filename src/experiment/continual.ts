// Part E4 of the dead-units experiment: non-stationary training on permuted MNIST, the
// setting in which Dohare et al. (Nature 2024, "Loss of plasticity in deep continual
// learning") saw networks trained by backpropagation lose the ability to learn new tasks
// while their units died or went dormant. Each task is the same fixed set of training
// images with the pixels shuffled by the task's own permutation; the network trains on
// one task after another with no reset. Three ways to treat its units:
//   keep        nothing: the baseline.
//   switch      at each task switch, scan the new task's images and revive (ReDo rule,
//               train/revive.ts) the units dead there (τ = 0) or dormant (τ > 0).
//   continual   continual backprop's idea: every few steps, re-initialise the least useful
//               mature unit(s) of each layer, usefulness being Dohare et al.'s contribution
//               utility |a_i| · Σ_k |w_ki| (mean |activation| over recent images times the
//               size of its outgoing weights), here measured by a scan of the task's images.
// The data of a new task is written over the old one in the trainer's, the evaluator's and
// the scanner's dataset regions, so the optimiser state and step count carry on.
import type { Backend } from '../backend/backend.ts';
import type { Dataset } from '../data/dataset.ts';
import { packBytes } from '../ops/gather.ts';
import type { BufRange } from '../ops/op.ts';
import { DEFAULT_OPTIMIZER, type OptimizerKind } from '../ops/optimizer.ts';
import type { Init } from '../model/spec.ts';
import { Evaluator } from '../train/evaluate.ts';
import { reviveUnits, type UnitsByLayer } from '../train/revive.ts';
import { Trainer, TrainingDivergedError } from '../train/trainer.ts';
import { DEFAULT_TAU, UnitScanner, type UnitScanResult } from '../train/unit-scan.ts';
import { Rng } from '../util/rng.ts';
import { specModel } from './dead-runs.ts';

/** The pixel order of task `task` (1-based): input j of the task is pixel perm[j] of the image. */
export function taskPermutation(seed: number, task: number, features: number): Uint32Array {
  return new Rng((seed * 7919 + task * 104729) >>> 0).shuffle(Uint32Array.from({ length: features }, (_, i) => i));
}

/** A copy of `d` with every image's pixels reordered by `perm`. */
export function permuteImages<D extends Dataset & { images: Uint8Array }>(d: D, perm: Uint32Array, name: string): D {
  const f = d.features;
  if (perm.length !== f) throw new Error(`a permutation of ${perm.length} pixels cannot reorder images of ${f}`);
  const images = new Uint8Array(d.images.length);
  for (let i = 0; i < d.examples; i++) {
    const row = i * f;
    for (let j = 0; j < f; j++) images[row + j] = d.images[row + perm[j]];
  }
  return { ...d, name, images };
}

/**
 * Per hidden layer, the `count` units of lowest contribution utility u_i = E|a_i| · Σ_k |W[k, i]|
 * (W: the next layer's weights, outputs × inputs row-major) among the eligible ones, lowest
 * first; ties go to the lower index. `eligible(i)` false leaves a unit out (e.g. too young).
 */
export function leastUseful(meanAbs: ArrayLike<number>, nextWeights: Float32Array, count: number, eligible: (i: number) => boolean = () => true): number[] {
  const n = meanAbs.length;
  const outputs = nextWeights.length / n;
  if (!Number.isInteger(outputs)) throw new Error(`${nextWeights.length} outgoing weights do not divide among ${n} units`);
  const utility = Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let k = 0; k < outputs; k++) s += Math.abs(nextWeights[k * n + i]);
    return meanAbs[i] * s;
  });
  return Array.from({ length: n }, (_, i) => i)
    .filter(eligible)
    .sort((a, b) => utility[a] - utility[b] || a - b)
    .slice(0, count);
}

export type ContinualPolicy = 'keep' | 'switch' | 'continual';

export interface ContinualSpec {
  key: string;
  hidden: number[];
  init: Init;
  optimizer: OptimizerKind;
  lr: number;
  batch: number;
  seed: number;
  tasks: number;
  /** Training images per task (a multiple of the batch: one pass over them is one task). */
  examplesPerTask: number;
  policy: ContinualPolicy;
  /** switch: revive the units dead (0) or dormant (ReDo score ≤ τ) on the new task. */
  tau: number;
  /** continual: steps between replacements, units replaced per layer each time, and the age (steps) a unit must reach first. */
  every: number;
  replace: number;
  maturity: number;
}

export interface TaskRecord {
  task: number;
  /** Mean accuracy of the task's training batches as they came (before each was learnt from). */
  onlineAccuracy: number;
  /** Accuracy on the task's test images after training on it. */
  testAccuracy: number;
  /** Per hidden layer, on the task's scanned images: dead and dormant at its start (before any revival) and end. */
  deadStart: number[];
  dormantStart: number[];
  deadEnd: number[];
  dormantEnd: number[];
  /** Units revived during the task (switch: at its start; continual: along it), and of those found dead again at the next switch. */
  revived: number[];
  redied: number[];
  seconds: number;
}

export interface ContinualResult {
  spec: ContinualSpec;
  tasks: TaskRecord[];
  trainSeconds: number;
  examplesPerSecond: number;
  diverged?: { task: number; step: number; detail: string };
}

export interface ContinualEnv {
  makeBackend(): Promise<Backend>;
  /** The fixed training images every task permutes, and the test images. */
  train: Dataset & { images: Uint8Array };
  test: Dataset & { images: Uint8Array };
  /** How many of the task's training images each scan covers. */
  scanExamples: number;
  log(line: string): void;
}

/** Overwrites a dataset region (as Trainer, Evaluator and UnitScanner upload it) with another set of the same size. */
function replaceImages(backend: Backend, region: BufRange, d: Dataset & { images: Uint8Array }): void {
  backend.writeU(region, packBytes(d.images));
}

const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);

export async function continualRun(spec: ContinualSpec, env: ContinualEnv): Promise<ContinualResult> {
  if (spec.examplesPerTask % spec.batch !== 0) throw new Error(`examples per task (${spec.examplesPerTask}) must be a multiple of the batch (${spec.batch})`);
  const backend = await env.makeBackend();
  try {
    return await runTasks(backend, spec, env);
  } finally {
    backend.destroy();
  }
}

async function runTasks(backend: Backend, spec: ContinualSpec, env: ContinualEnv): Promise<ContinualResult> {
  const model = specModel({ ...spec, activation: 'relu' });
  const H = spec.hidden.length;
  const task = (k: number) => {
    const perm = taskPermutation(spec.seed, k, env.train.features);
    const train = permuteImages(env.train, perm, `permuted MNIST task ${k}`);
    return {
      train,
      test: permuteImages(env.test, perm, `permuted MNIST task ${k} (test)`),
      sample: {
        ...train,
        examples: env.scanExamples,
        images: train.images.subarray(0, env.scanExamples * train.features),
        labels: train.labels.subarray(0, env.scanExamples),
      },
    };
  };
  let data = task(1);
  const t = await Trainer.create(
    backend,
    model,
    {
      batch: spec.batch,
      l1: 0,
      telemetry: true,
      optimizer: { ...DEFAULT_OPTIMIZER, kind: spec.optimizer, momentum: 0.9 },
      lr: spec.lr,
      shuffleSeed: spec.seed,
    },
    data.train,
  );
  const evaluator = await Evaluator.create(backend, model, data.test, 'task.test.');
  const scanner = await UnitScanner.create(backend, model, data.sample, { prefix: 'task.scan.' });
  const r: ContinualResult = { spec, tasks: [], trainSeconds: 0, examplesPerSecond: 0 };
  const steps = spec.examplesPerTask / spec.batch;
  const bornAt = model.hidden.map((w) => new Array<number>(w).fill(0));
  let revivedSet = model.hidden.map(() => new Set<number>());
  const revive = async (units: UnitsByLayer) => {
    if (!units.some((l) => l.length)) return;
    await reviveUnits(t, units, { seed: (spec.seed * 1000003 + t.step) >>> 0 });
    units.forEach((l, h) => l.forEach((j) => (bornAt[h][j] = t.step)));
  };
  const scan = () => scanner.scan({ tau: spec.policy === 'switch' && spec.tau > 0 ? spec.tau : DEFAULT_TAU });
  for (let k = 1; k <= spec.tasks; k++) {
    if (k > 1) {
      data = task(k);
      replaceImages(backend, t.plan.regions.images, data.train);
      replaceImages(backend, evaluator.plan.regions.images, data.test);
      replaceImages(backend, scanner.plan.regions.images, data.sample);
    }
    const start = await scan();
    const redied = start.layers.map((l, h) => l.deadUnits.filter((j) => revivedSet[h].has(j)).length);
    const revived = new Array<number>(H).fill(0);
    const tStart = performance.now();
    if (spec.policy === 'switch' && k > 1) {
      const units = start.layers.map((l) => (spec.tau > 0 ? [...new Set([...l.deadUnits, ...l.dormantUnits])].sort((a, b) => a - b) : l.deadUnits.slice()));
      await revive(units);
      units.forEach((l, h) => (revived[h] += l.length));
      revivedSet = units.map((l) => new Set(l));
    }
    let correct = 0;
    let seen = 0;
    const segment = spec.policy === 'continual' ? spec.every : steps;
    try {
      for (let done = 0; done < steps;) {
        const n = Math.min(segment, steps - done);
        for await (const s of t.run(n)) {
          correct += s.accuracy * spec.batch;
          seen += spec.batch;
        }
        done += n;
        if (spec.policy === 'continual' && done < steps) {
          const s: UnitScanResult = await scanner.scan({ tau: DEFAULT_TAU });
          const units: UnitsByLayer = [];
          for (let h = 0; h < H; h++) {
            const next = await t.weights(h + 1);
            units.push(leastUseful(s.layers[h].meanAbs, next, spec.replace, (i) => t.step - bornAt[h][i] >= spec.maturity));
          }
          await revive(units);
          units.forEach((l, h) => (revived[h] += l.length));
        }
      }
      await backend.finish();
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      r.diverged = { task: k, step: e.step, detail: e.detail };
      env.log(`${spec.key}: diverged at step ${e.step} of task ${k} (${e.detail})`);
      break;
    }
    const seconds = (performance.now() - tStart) / 1000;
    r.trainSeconds += seconds;
    const ev = await evaluator.evaluate();
    const end = await scan();
    const rec: TaskRecord = {
      task: k,
      onlineAccuracy: correct / Math.max(1, seen),
      testAccuracy: ev.accuracy,
      deadStart: start.layers.map((l) => l.dead),
      dormantStart: start.layers.map((l) => l.dormant),
      deadEnd: end.layers.map((l) => l.dead),
      dormantEnd: end.layers.map((l) => l.dormant),
      revived,
      redied,
      seconds,
    };
    r.tasks.push(rec);
    if (k === 1 || k === spec.tasks || k % 5 === 0) {
      env.log(
        `${spec.key} task ${k}: online accuracy ${(100 * rec.onlineAccuracy).toFixed(1)}%, test ${(100 * rec.testAccuracy).toFixed(1)}%, ` +
          `dead ${rec.deadEnd.join('/')}, dormant ${rec.dormantEnd.join('/')}, revived ${sum(revived)}`,
      );
    }
  }
  r.examplesPerSecond = (t.step * spec.batch) / Math.max(1e-9, r.trainSeconds);
  return r;
}
