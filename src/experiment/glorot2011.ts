// The MNIST column of Glorot, Bordes & Bengio (2011), Table 1: 784-1000-1000-1000-10
// trained from scratch with rectifier (L1 activation penalty), tanh and softplus units.
// Settings are chosen on a validation split (the last 10,000 training images, so training
// uses 50,000, as in the paper). Recipes `fast` and `paper` sweep the learning rate with
// short runs, then models advance one epoch at a time in turn; recipe `best` trains a
// grid of complete runs (see grid.ts). Every epoch ends with a checkpoint and a progress
// file, so the experiment resumes where it stopped.
import type { Backend } from '../backend/backend.ts';
import { sliceDataset, type Dataset } from '../data/dataset.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import { runConfig, type RunDropout } from '../io/checkpoint-config.ts';
import type { Activation } from '../ops/activations.ts';
import { CONSTANT_LR, type LrSchedule } from '../ops/lr-schedule.ts';
import { DEFAULT_OPTIMIZER, type OptimizerConfig } from '../ops/optimizer.ts';
import { PAPER_MODEL, type ModelSpec } from '../model/spec.ts';
import { Evaluator, type EvalResult } from '../train/evaluate.ts';
import { Trainer, TrainingDivergedError, type TrainerOptions } from '../train/trainer.ts';

interface RecipeBase {
  optimizer: OptimizerConfig;
  batch: number;
  /** Candidate (base) learning rates. */
  lrGrid: number[];
  epochs: number;
  describe: string;
  /**
   * Not the paper's: a max-norm bound on every unit's incoming weights, applied after each
   * update to every model of the run (TrainerOptions.maxNorm); absent or 0: off.
   */
  maxNorm?: number;
  /**
   * Not the paper's: inverted dropout while training, in every model of the run
   * (TrainerOptions.dropout; masks seeded by the run's seed); absent: off.
   */
  dropout?: RunDropout;
}

/** The settings beyond the paper's that a recipe, a run's progress or an --out's record carry. */
export interface RecipeExtras {
  maxNorm?: number;
  dropout?: RunDropout;
}

/** e.g. `dropout 0.5 (input 0.2)`, or `input dropout 0.2` with the hidden units left alone. */
export const dropoutLabel = (d: RunDropout): string => (d.hidden ? `dropout ${d.hidden}${d.input ? ` (input ${d.input})` : ''}` : `input dropout ${d.input}`);

/** The recipe as reports name it: e.g. `best`, `best + max-norm 3.5`, `best + dropout 0.5 (input 0.2) + max-norm 3`. */
export const recipeLabel = (name: RecipeName, extras: RecipeExtras = {}): string =>
  [name, ...(extras.dropout ? [dropoutLabel(extras.dropout)] : []), ...(extras.maxNorm ? [`max-norm ${extras.maxNorm}`] : [])].join(' + ');

/** Whether two records carry the same settings beyond the paper's (absent = off). */
export const sameExtras = (a: RecipeExtras, b: RecipeExtras): boolean =>
  (a.maxNorm ?? 0) === (b.maxNorm ?? 0) && (a.dropout?.hidden ?? 0) === (b.dropout?.hidden ?? 0) && (a.dropout?.input ?? 0) === (b.dropout?.input ?? 0);

/** The extras as a record stores them: only those that are on. */
export const extrasOf = (r: RecipeExtras): RecipeExtras => ({ ...(r.maxNorm ? { maxNorm: r.maxNorm } : {}), ...(r.dropout ? { dropout: r.dropout } : {}) });

/** Each candidate learning rate trains `sweepExamples` examples from the same init; the best on validation trains `epochs` at a constant rate. */
export interface SweepRecipe extends RecipeBase {
  name: 'fast' | 'paper';
  sweepExamples: number;
}

/**
 * Every (learning rate, λ) of the grid is a complete run of `sweepEpochs` epochs under the
 * warm-up + cosine schedule; the setting with the best validation error (for the rectifier:
 * among those whose mean exact zeros lie in `sparsityBand`) is trained with `seeds` seeds
 * for `epochs` epochs. With sweepEpochs = epochs the first seed's run is the sweep's own.
 */
export interface GridRecipe extends RecipeBase {
  name: 'best';
  /** λ candidates of the models with an L1 penalty (the rectifier); the others keep theirs. */
  l1Grid: number[];
  /** Mean fraction of exact zeros (validation set, best-validation epoch) the rectifier's chosen setting must lie in. */
  sparsityBand: [number, number];
  seeds: number;
  warmupEpochs: number;
  sweepEpochs: number;
}

export type Recipe = SweepRecipe | GridRecipe;
export type RecipeName = Recipe['name'];
export const RECIPE_NAMES: readonly RecipeName[] = ['fast', 'paper', 'best'];

export const RECIPES: { fast: SweepRecipe; paper: SweepRecipe; best: GridRecipe } = {
  paper: {
    name: 'paper',
    optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' },
    batch: 10,
    // The grid of the paper (section 4.1).
    lrGrid: [0.1, 0.01, 0.001, 0.0001],
    sweepExamples: 50_000,
    epochs: 50,
    describe: 'plain SGD, mini-batches of 10, learning rate chosen from {0.1, 0.01, 0.001, 0.0001} on the validation split after one epoch each, 50 epochs',
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
  best: {
    name: 'best',
    optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 },
    batch: 64,
    lrGrid: [0.1, 0.03, 0.01],
    l1Grid: [3e-5, 1e-4, 3e-4, 1e-3],
    sparsityBand: [0.8, 0.87],
    seeds: 2,
    warmupEpochs: 1,
    epochs: 30,
    sweepEpochs: 30,
    describe:
      'SGD with momentum 0.9, mini-batches of 64, one epoch of linear warm-up then cosine decay to 0; learning rate (and for the rectifier λ) chosen on the validation split from complete runs',
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
  /** The variant as trained (recipe `best`: its l1 is the grid's λ). */
  variant: ModelVariant;
  recipe: RecipeName;
  model: ModelSpec;
  sweep: { lr: number; validError: number }[];
  lr?: number;
  init?: EvalResult;
  epochs: EpochResult[];
  samples: Sample[];
  /** Recipe `best`: the run's name among the grid's (file names), seed, planned length and schedule. */
  key?: string;
  seed?: number;
  plannedEpochs?: number;
  lrSchedule?: LrSchedule;
  /** Training stopped on a non-finite value at this step. */
  diverged?: { step: number; detail: string };
  /** The recipe's max-norm bound, when on (not the paper's). */
  maxNorm?: number;
  /** The recipe's dropout, when on (not the paper's). */
  dropout?: RunDropout;
  /** The epoch whose weights the run's best-validation checkpoint (`<key>.best.safetensors`) holds. */
  bestCheckpointEpoch?: number;
}

/** The name a run's progress and checkpoint files carry. */
export const progressKey = (p: Progress): string => p.key ?? p.variant.name;

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

export function trainerOptions(recipe: Recipe, v: ModelVariant, lr: number, seed: number, lrSchedule: LrSchedule = CONSTANT_LR): TrainerOptions {
  return {
    batch: recipe.batch,
    l1: v.l1,
    telemetry: true,
    optimizer: recipe.optimizer,
    maxNorm: recipe.maxNorm ?? 0,
    dropout: recipe.dropout,
    lr,
    lrSchedule,
    shuffleSeed: seed,
  };
}

/** Recipe `best`'s schedule for a run of `epochs` epochs: warm-up, then cosine to 0 at its last step. */
export function gridSchedule(recipe: GridRecipe, epochs: number, stepsPerEpoch: number): LrSchedule {
  const total = epochs * stepsPerEpoch;
  return { kind: 'cosine', warmup: Math.min(recipe.warmupEpochs * stepsPerEpoch, total - 1), total };
}

export interface Hooks {
  log(line: string): void;
  /**
   * After each epoch (with the state to resume from) and when a run diverged (without).
   * `best`: this epoch's validation error is the run's lowest so far: its weights and run
   * config (no optimiser state), to be kept as the run's best-validation checkpoint — saved
   * before the progress that names its epoch.
   */
  save(p: Progress, checkpoint?: CheckpointState, best?: CheckpointState): void;
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
      if (this.recipe.name === 'best') throw new Error(`${progressKey(p)}: a grid run needs its learning rate set`);
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
    if (this.recipe.name === 'best') {
      p.lrSchedule = gridSchedule(this.recipe, p.plannedEpochs ?? this.recipe.epochs, Math.floor(this.splits.train.examples / this.recipe.batch));
    }
    const backend = await this.makeBackend();
    this.trainer = await Trainer.create(backend, p.model, trainerOptions(this.recipe, v, p.lr, this.seed, p.lrSchedule), this.splits.train);
    this.validEval = await Evaluator.create(backend, p.model, this.splits.valid, 'valid.');
    this.testEval = await Evaluator.create(backend, p.model, this.splits.test, 'test.');
    if (!p.init) p.init = await this.testEval.evaluate();
    if (this.resume) this.trainer.restore(this.resume);
  }

  get epochsDone(): number {
    return this.progress.epochs.length;
  }

  /** Diverged runs train no further. */
  get stopped(): boolean {
    return this.progress.diverged !== undefined;
  }

  /** One epoch, evaluated and saved; undefined when training diverged in it (recorded in the progress). */
  async trainEpoch(hooks: Hooks): Promise<EpochResult | undefined> {
    const t = this.trainer!;
    const p = this.progress;
    const per = t.stepsPerEpoch;
    const sampleEvery = Math.max(1, Math.floor(per / 20));
    let lossSum = 0;
    let n = 0;
    const t0 = performance.now();
    try {
      for await (const s of t.run(per - (t.step % per))) {
        lossSum += s.loss;
        n++;
        if (s.step % sampleEvery === 0) {
          p.samples.push({ epoch: s.step / per, sparsity: s.sparsity, gradNorm: s.gradNorm, deltaNorm: s.deltaNorm });
        }
      }
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      p.diverged = { step: e.step, detail: e.detail };
      hooks.save(p);
      hooks.log(`${progressKey(p)}: diverged at step ${e.step} (${e.detail}); it trains no further`);
      return undefined;
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
    // Strictly lower than every earlier epoch: the epoch bestEpoch() picks (the first of equals).
    const isBest = p.epochs.every((e) => r.valid.error < e.valid.error);
    p.epochs.push(r);
    const state = await t.state({ ...this.runConfig(), recipe: this.recipe.name, variant: p.variant.name });
    if (isBest) p.bestCheckpointEpoch = r.epoch;
    const best = isBest ? { model: state.model, step: state.step, config: state.config, params: state.params } : undefined;
    hooks.save(p, state, best);
    hooks.log(
      `${progressKey(p)} epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}, validation error ${(100 * r.valid.error).toFixed(2)}%, ` +
        `test error ${(100 * r.test.error).toFixed(2)}%, sparsity ${r.test.sparsity.map((x) => (100 * x).toFixed(1) + '%').join(' ')}, ` +
        `${r.examplesPerSecond.toFixed(0)} ex/s`,
    );
    return r;
  }

  /** The checkpoint's training settings, in the schema `train --resume` and `eval` read. */
  private runConfig() {
    const p = this.progress;
    return runConfig({
      data: 'mnist',
      trainLimit: this.splits.train.examples,
      testLimit: this.splits.test.examples < 10_000 ? this.splits.test.examples : undefined,
      epochs: p.plannedEpochs ?? this.recipe.epochs,
      batch: this.recipe.batch,
      lr: p.lr,
      lrSchedule: p.lrSchedule ?? CONSTANT_LR,
      l1: p.variant.l1,
      optimizer: this.recipe.optimizer,
      maxNorm: this.recipe.maxNorm || undefined,
      dropout: this.recipe.dropout,
      seed: this.seed,
      telemetry: true,
    });
  }

  destroy(): void {
    this.trainer?.backend.destroy();
  }
}

/** The epoch a paper-style early stop would keep: lowest validation error. */
export function bestEpoch(p: Progress): EpochResult | undefined {
  return p.epochs.reduce<EpochResult | undefined>((b, e) => (!b || e.valid.error < b.valid.error ? e : b), undefined);
}
