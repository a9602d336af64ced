// The MNIST column of Glorot, Bordes & Bengio (2011), Table 1: 784-1000-1000-1000-10
// trained from scratch with rectifier (L1 activation penalty 0.001), tanh and softplus
// units. Learning rates are chosen on a validation split (the last 10,000 training
// images, so training uses 50,000, as in the paper). Models advance one epoch at a time
// in turn; every epoch ends with a checkpoint and a progress file, so the experiment
// resumes where it stopped.
import type { Backend } from '../backend/backend.ts';
import { sliceDataset, type Dataset } from '../data/dataset.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import type { Activation } from '../ops/activations.ts';
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from '../ops/optimizer.ts';
import { PAPER_MODEL, type ModelSpec } from '../model/spec.ts';
import { Evaluator, type EvalResult } from '../train/evaluate.ts';
import { Trainer, type TrainerOptions } from '../train/trainer.ts';

export interface Recipe {
  name: 'fast' | 'paper';
  optimizer: OptimizerConfig;
  batch: number;
  /** Candidate learning rates; each trains `sweepExamples` examples from the same init. */
  lrGrid: number[];
  sweepExamples: number;
  epochs: number;
  describe: string;
}

export const RECIPES: Record<Recipe['name'], Recipe> = {
  paper: {
    name: 'paper',
    optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' },
    batch: 10,
    lrGrid: [0.1, 0.03, 0.01, 0.003],
    sweepExamples: 50_000,
    epochs: 50,
    describe: 'plain SGD, mini-batches of 10, learning rate chosen on the validation split after one epoch each, 50 epochs',
  },
  fast: {
    name: 'fast',
    optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 },
    batch: 64,
    lrGrid: [0.03, 0.01, 0.003],
    sweepExamples: 10_000,
    epochs: 10,
    describe: 'SGD with momentum 0.9, mini-batches of 64, learning rate chosen on the validation split after 10,000 examples each',
  },
};

export interface ModelVariant {
  name: 'rectifier' | 'tanh' | 'softplus';
  activation: Activation;
  l1: number;
  /** The paper's MNIST test error (Table 1) and, for the rectifier, its sparsity. */
  paperError: number;
  paperSparsity?: number;
}

export const VARIANTS: ModelVariant[] = [
  { name: 'rectifier', activation: 'relu', l1: 0.001, paperError: 0.0143, paperSparsity: 0.834 },
  { name: 'tanh', activation: 'tanh', l1: 0, paperError: 0.0157 },
  { name: 'softplus', activation: 'softplus', l1: 0, paperError: 0.0177 },
];

export interface Sample {
  /** Epochs of training so far (fractional). */
  epoch: number;
  sparsity: number[];
  gradNorm: number[];
  deltaNorm: number[];
}

export interface EpochResult {
  epoch: number;
  trainLoss: number;
  valid: EvalResult;
  test: EvalResult;
  /** Seconds of training (evaluation excluded) for this epoch. */
  seconds: number;
  examplesPerSecond: number;
}

/** What is saved after every epoch (beside the checkpoint), and what the report reads. */
export interface Progress {
  variant: ModelVariant;
  recipe: Recipe['name'];
  model: ModelSpec;
  sweep: { lr: number; validError: number }[];
  lr?: number;
  init?: EvalResult;
  epochs: EpochResult[];
  samples: Sample[];
}

export interface Splits {
  train: Dataset;
  valid: Dataset;
  test: Dataset;
}

/** 50,000 / 10,000 as in the paper (scaled down with --train-limit for smoke runs). */
export function paperSplits(mnistTrain: Dataset, mnistTest: Dataset, limits: { train?: number; valid?: number; test?: number } = {}): Splits {
  const validN = Math.min(limits.valid ?? 10_000, Math.floor(mnistTrain.examples / 6));
  const trainEnd = mnistTrain.examples - validN;
  return {
    train: sliceDataset(mnistTrain, 0, Math.min(trainEnd, limits.train ?? trainEnd), 'MNIST train (first 50k)'),
    valid: sliceDataset(mnistTrain, trainEnd, mnistTrain.examples, 'MNIST validation (last 10k of train)'),
    test: sliceDataset(mnistTest, 0, Math.min(mnistTest.examples, limits.test ?? mnistTest.examples), 'MNIST test'),
  };
}

export function variantModel(v: ModelVariant, hidden = PAPER_MODEL.hidden, seed = 1): ModelSpec {
  return { ...PAPER_MODEL, hidden, activation: v.activation, seed };
}

export function trainerOptions(recipe: Recipe, v: ModelVariant, lr: number, seed: number): TrainerOptions {
  return { batch: recipe.batch, l1: v.l1, telemetry: true, optimizer: recipe.optimizer, lr, shuffleSeed: seed };
}

export interface Hooks {
  log(line: string): void;
  save(p: Progress, checkpoint: CheckpointState): void;
}

/** One model's state while the experiment runs. */
export class VariantRun {
  private trainer?: Trainer;
  private validEval?: Evaluator;
  private testEval?: Evaluator;

  constructor(
    readonly progress: Progress,
    private readonly makeBackend: () => Promise<Backend>,
    private readonly splits: Splits,
    private readonly recipe: Recipe,
    private readonly seed: number,
    private readonly resume: CheckpointState | undefined,
  ) {}

  /** Learning-rate sweep and the sparsity at initialisation, unless already saved. */
  async prepare(hooks: Hooks): Promise<void> {
    const p = this.progress;
    const v = p.variant;
    if (p.lr === undefined) {
      const steps = Math.max(1, Math.floor(Math.min(this.recipe.sweepExamples, this.splits.train.examples) / this.recipe.batch));
      for (const lr of this.recipe.lrGrid) {
        if (p.sweep.some((s) => s.lr === lr)) continue;
        const backend = await this.makeBackend();
        const t = await Trainer.create(backend, p.model, trainerOptions(this.recipe, v, lr, this.seed), this.splits.train);
        let diverged = false;
        try {
          for await (const s of t.run(steps)) void s;
        } catch {
          diverged = true;
        }
        const validError = diverged ? 1 : (await (await Evaluator.create(backend, p.model, this.splits.valid)).evaluate()).error;
        backend.destroy();
        p.sweep.push({ lr, validError });
        hooks.log(
          `${v.name}: lr ${lr} → validation error ${(100 * validError).toFixed(2)}% after ${steps * this.recipe.batch} examples${diverged ? ' (diverged)' : ''}`,
        );
      }
      p.lr = p.sweep.reduce((best, s) => (s.validError < best.validError ? s : best)).lr;
      hooks.log(`${v.name}: learning rate ${p.lr}`);
    }
    const backend = await this.makeBackend();
    this.trainer = await Trainer.create(backend, p.model, trainerOptions(this.recipe, v, p.lr, this.seed), this.splits.train);
    this.validEval = await Evaluator.create(backend, p.model, this.splits.valid, 'valid.');
    this.testEval = await Evaluator.create(backend, p.model, this.splits.test, 'test.');
    if (!p.init) p.init = await this.testEval.evaluate();
    if (this.resume) this.trainer.restore(this.resume);
  }

  get epochsDone(): number {
    return this.progress.epochs.length;
  }

  async trainEpoch(hooks: Hooks): Promise<EpochResult> {
    const t = this.trainer!;
    const p = this.progress;
    const per = t.stepsPerEpoch;
    const sampleEvery = Math.max(1, Math.floor(per / 20));
    let lossSum = 0;
    let n = 0;
    const t0 = performance.now();
    for await (const s of t.run(per - (t.step % per))) {
      lossSum += s.loss;
      n++;
      if (s.step % sampleEvery === 0) {
        p.samples.push({ epoch: s.step / per, sparsity: s.sparsity, gradNorm: s.gradNorm, deltaNorm: s.deltaNorm });
      }
    }
    await t.backend.finish();
    const seconds = (performance.now() - t0) / 1000;
    const r: EpochResult = {
      epoch: Math.round(t.step / per),
      trainLoss: lossSum / n,
      valid: await this.validEval!.evaluate(),
      test: await this.testEval!.evaluate(),
      seconds,
      examplesPerSecond: (n * this.recipe.batch) / seconds,
    };
    p.epochs.push(r);
    hooks.save(p, await t.state({ recipe: this.recipe.name, lr: p.lr, variant: p.variant.name }));
    hooks.log(
      `${p.variant.name} epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}, validation error ${(100 * r.valid.error).toFixed(2)}%, ` +
        `test error ${(100 * r.test.error).toFixed(2)}%, sparsity ${r.test.sparsity.map((x) => (100 * x).toFixed(1) + '%').join(' ')}, ` +
        `${r.examplesPerSecond.toFixed(0)} ex/s`,
    );
    return r;
  }

  destroy(): void {
    this.trainer?.backend.destroy();
  }
}

/** The epoch a paper-style early stop would keep: lowest validation error. */
export function bestEpoch(p: Progress): EpochResult | undefined {
  return p.epochs.reduce<EpochResult | undefined>((b, e) => (!b || e.valid.error < b.valid.error ? e : b), undefined);
}
