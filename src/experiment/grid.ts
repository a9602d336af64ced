// Recipe `best`: a grid of complete runs (learning rate × λ for the rectifier, learning
// rate alone for tanh and softplus), the setting chosen on the validation split, then that
// setting trained with more seeds. Runs go one after another, each to its end; each keeps
// its own progress file and checkpoint (saved every epoch), so an interrupted grid resumes
// in the run and epoch where it stopped and never redoes a finished run.
import type { Backend } from '../backend/backend.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import type { RunDropout } from '../io/checkpoint-config.ts';
import {
  bestEpoch,
  progressKey,
  extrasOf,
  recipeLabel,
  sameExtras,
  VariantRun,
  variantModel,
  type GridRecipe,
  type Hooks,
  type ModelVariant,
  type Progress,
  type Splits,
} from './glorot2011.ts';

/** One run of the grid. */
export interface TrialSpec {
  variant: ModelVariant;
  lr: number;
  seed: number;
  epochs: number;
  /** The recipe's max-norm bound, when on. */
  maxNorm?: number;
  /** The recipe's dropout, when on. */
  dropout?: RunDropout;
}

/**
 * File-name-safe and unique per setting: e.g. rectifier_lr0.03_l1_0.0003_seed1_e30
 * (…_dropout0.5_in0.2 with dropout, …_maxnorm3.5 with the constraint).
 */
export const trialKey = (s: TrialSpec): string =>
  `${s.variant.name}_lr${s.lr}_l1_${s.variant.l1}_seed${s.seed}_e${s.epochs}` +
  (s.dropout ? `_dropout${s.dropout.hidden}${s.dropout.input ? `_in${s.dropout.input}` : ''}` : '') +
  (s.maxNorm ? `_maxnorm${s.maxNorm}` : '');

/** What the selection and the report read of one finished (or diverged) run. */
export interface TrialSummary {
  key: string;
  variant: string;
  lr: number;
  l1: number;
  seed: number;
  /** 1-based; 0 when no epoch finished. */
  bestEpoch: number;
  epochsDone: number;
  validError: number;
  /** Mean over hidden layers of the fraction of exact zeros, validation set, at the best-validation epoch. */
  validSparsity: number;
  testError: number;
  testSparsity: number;
  testExamples: number;
  diverged: boolean;
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);

export function summarize(p: Progress): TrialSummary {
  const b = bestEpoch(p);
  return {
    key: progressKey(p),
    variant: p.variant.name,
    lr: p.lr ?? NaN,
    l1: p.variant.l1,
    seed: p.seed ?? p.model.seed,
    bestEpoch: b?.epoch ?? 0,
    epochsDone: p.epochs.length,
    validError: b?.valid.error ?? 1,
    validSparsity: b ? mean(b.valid.sparsity) : 0,
    testError: b?.test.error ?? 1,
    testSparsity: b ? mean(b.test.sparsity) : 0,
    testExamples: b?.test.examples ?? 0,
    diverged: p.diverged !== undefined,
  };
}

export interface Selection {
  chosen: TrialSummary;
  /** The band the rule asked for, if any, and whether the chosen setting lies in it. */
  band?: [number, number];
  inBand: boolean;
  /** How many usable settings lay in the band (all usable ones when there is no band). */
  eligible: number;
}

/**
 * The setting with the lowest validation error among the usable runs (not diverged, at
 * least one epoch) whose validation sparsity lies in `band` (inclusive). When none does,
 * the one closest to the band (then by validation error) — reported as outside it. Ties
 * go to the earlier run in `trials` order. Throws when no run is usable.
 */
export function selectSetting(trials: TrialSummary[], band?: [number, number]): Selection {
  const usable = trials.filter((t) => !t.diverged && t.bestEpoch > 0);
  if (!usable.length) {
    throw new Error(
      `no usable run among ${trials.map((t) => t.key).join(', ') || 'none'}: every one diverged or finished no epoch; try lower learning rates (--lr-grid)`,
    );
  }
  const lowest = (ts: TrialSummary[], key: (t: TrialSummary) => number[]) =>
    ts.reduce((best, t) => {
      const a = key(t);
      const b = key(best);
      const i = a.findIndex((x, j) => x !== b[j]);
      return i >= 0 && a[i] < b[i] ? t : best;
    });
  if (!band) return { chosen: lowest(usable, (t) => [t.validError]), inBand: true, eligible: usable.length };
  const [lo, hi] = band;
  const inside = usable.filter((t) => t.validSparsity >= lo && t.validSparsity <= hi);
  if (inside.length) return { chosen: lowest(inside, (t) => [t.validError]), band, inBand: true, eligible: inside.length };
  const distance = (t: TrialSummary) => Math.max(lo - t.validSparsity, t.validSparsity - hi, 0);
  return { chosen: lowest(usable, (t) => [distance(t), t.validError]), band, inBand: false, eligible: 0 };
}

/** √(e(1 − e)/n): the standard error of an error rate measured on n independent test images. */
export const standardError = (error: number, n: number): number => Math.sqrt((error * (1 - error)) / Math.max(1, n));

/** Where runs are kept between invocations (files, in the CLI). */
export interface TrialStore {
  /** The saved progress of a run, if any. */
  load(key: string): Progress | undefined;
  /** The checkpoint of a run's last finished epoch. */
  checkpoint(key: string): CheckpointState;
  hooks: Hooks;
}

export interface GridContext {
  recipe: GridRecipe;
  hidden: number[];
  /** The first seed; the chosen settings also train with seed + 1, … */
  seed: number;
  splits: Splits;
  makeBackend(): Promise<Backend>;
  store: TrialStore;
  /** After each run finishes (e.g. rewrite the report). */
  onRunDone?(): Promise<void>;
}

/** The grid's state for the report: every run so far, and each model's choice once its sweep is done. */
export interface GridState {
  sweep: Progress[];
  finals: Progress[];
  selections: { variant: string; selection: Selection }[];
}

/** Whether a model's λ is searched (and its choice held to the sparsity band): the rectifier's. */
export const searchesL1 = (v: ModelVariant): boolean => v.activation === 'relu' && v.l1 > 0;

/** The grid's settings of one model, in the order they run: λ by λ, each over the learning rates. */
export function sweepSpecs(recipe: GridRecipe, v: ModelVariant, seed: number): TrialSpec[] {
  const l1s = searchesL1(v) ? recipe.l1Grid : [v.l1];
  return l1s.flatMap((l1) => recipe.lrGrid.map((lr) => ({ variant: { ...v, l1 }, lr, seed, epochs: recipe.sweepEpochs, ...extrasOf(recipe) })));
}

/** Train (or resume, or just read back) one run of the grid to its end. */
export async function ensureTrial(ctx: GridContext, spec: TrialSpec): Promise<Progress> {
  const key = trialKey(spec);
  const model = variantModel(spec.variant, ctx.hidden, spec.seed);
  const saved = ctx.store.load(key);
  if (
    saved &&
    (saved.recipe !== ctx.recipe.name ||
      JSON.stringify(saved.model) !== JSON.stringify(model) ||
      saved.plannedEpochs !== spec.epochs ||
      !sameExtras(saved, spec))
  ) {
    throw new Error(
      `the saved run ${key} was trained with another recipe, model, length, dropout or max-norm (${recipeLabel(saved.recipe, saved)}, ${saved.model.hidden.join('-')}): use another --out`,
    );
  }
  const p: Progress = saved ?? {
    variant: spec.variant,
    recipe: ctx.recipe.name,
    model,
    sweep: [],
    lr: spec.lr,
    epochs: [],
    samples: [],
    key,
    seed: spec.seed,
    plannedEpochs: spec.epochs,
    ...extrasOf(spec),
  };
  if (p.epochs.length >= spec.epochs || p.diverged) return p;
  const { hooks } = ctx.store;
  const resume = p.epochs.length ? ctx.store.checkpoint(key) : undefined;
  hooks.log(resume ? `${key}: resuming after epoch ${p.epochs.length} (step ${resume.step})` : `${key}: training ${spec.epochs} epochs`);
  const run = new VariantRun(p, ctx.makeBackend, ctx.splits, ctx.recipe, spec.seed, resume);
  try {
    await run.prepare(hooks);
    if (!p.epochs.length) hooks.save(p);
    while (run.epochsDone < spec.epochs && !run.stopped) await run.trainEpoch(hooks);
  } finally {
    run.destroy();
  }
  await ctx.onRunDone?.();
  return p;
}

/**
 * Run the whole grid for `variants` (each model's sweep, its choice, its extra seeds) and
 * return what was trained; `state` is filled as it goes, so a report can be written at
 * any point.
 */
export async function runGrid(ctx: GridContext, variants: ModelVariant[], state: GridState): Promise<GridState> {
  const { recipe } = ctx;
  for (const v of variants) {
    const sweep: Progress[] = [];
    for (const spec of sweepSpecs(recipe, v, ctx.seed)) {
      const p = await ensureTrial(ctx, spec);
      sweep.push(p);
      if (!state.sweep.includes(p)) state.sweep.push(p);
    }
    const selection = selectSetting(sweep.map(summarize), searchesL1(v) ? recipe.sparsityBand : undefined);
    state.selections.push({ variant: v.name, selection });
    const c = selection.chosen;
    ctx.store.hooks.log(
      `${v.name}: chose lr ${c.lr}${searchesL1(v) ? `, λ ${c.l1}` : ''} (validation error ${(100 * c.validError).toFixed(2)}%, ` +
        `${(100 * c.validSparsity).toFixed(1)}% exact zeros${selection.inBand ? '' : ', outside the sparsity band: none reached it'})`,
    );
    for (let k = 0; k < recipe.seeds; k++) {
      const p = await ensureTrial(ctx, {
        variant: { ...v, l1: c.l1 },
        lr: c.lr,
        seed: ctx.seed + k,
        epochs: recipe.epochs,
        ...extrasOf(recipe),
      });
      state.finals.push(p);
    }
  }
  return state;
}
