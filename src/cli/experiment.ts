// `rectigrad experiment glorot2011`: the paper's MNIST comparison, resumable, with a
// markdown report and SVG figures written into --out.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Backend } from '../backend/backend.ts';
import { BACKENDS, createBackend, type BackendChoice } from '../backend/create.ts';
import { loadIdxSplit, mnistDir } from '../data/idx-files.ts';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../io/checkpoint-file.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import { runDropout } from '../io/checkpoint-config.ts';
import { PAPER_MODEL } from '../model/spec.ts';
import {
  paperSplits,
  progressKey,
  RECIPE_NAMES,
  RECIPES,
  recipeLabel,
  sameExtras,
  extrasOf,
  VARIANTS,
  VariantRun,
  variantModel,
  bestEpoch,
  type GridRecipe,
  type Hooks,
  type ModelVariant,
  type Progress,
  type Recipe,
  type RecipeName,
  type Splits,
  type SweepRecipe,
} from '../experiment/glorot2011.ts';
import { runGrid, searchesL1, summarize, type GridState } from '../experiment/grid.ts';
import { gridReport } from '../experiment/grid-report.ts';
import { report, type ReportContext } from '../experiment/report.ts';
import { dropRate, nonNegative, numberList, oneOf, positiveInt, widthList } from './options.ts';

interface ExperimentFlags {
  epochs?: number;
  out?: string;
  quick: boolean;
  backend: BackendChoice;
  recipe: RecipeName;
  models: string;
  layers: number[];
  trainLimit?: number;
  testLimit?: number;
  sweepExamples?: number;
  sweepEpochs?: number;
  lrGrid?: number[];
  l1Grid?: number[];
  seeds?: number;
  maxNorm?: number;
  dropout?: number;
  inputDropout?: number;
  seed: number;
  quiet: boolean;
}

export function experimentCommand(): Command {
  return new Command('experiment')
    .description(
      'reproduce a paper’s comparison; glorot2011: rectifier vs tanh vs softplus on MNIST (Glorot, Bordes & Bengio 2011, Table 1); dead-units: when relu units die, what it costs, what reviving or pruning buys',
    )
    .argument('<name>', 'glorot2011 or dead-units')
    .option('--epochs <n>', 'epochs per model (default: the recipe’s: fast 10, paper 50, best 30)', positiveInt('--epochs'))
    .option('--out <dir>', 'where the report, figures, checkpoints and progress go (default runs/<name>)')
    .option('--backend <name>', 'auto|webgpu|cpu', oneOf('--backend', BACKENDS), 'auto')
    .option(
      '--recipe <name>',
      'fast (momentum, batch 64), paper (SGD, batch 10) or best (momentum, batch 64, warm-up + cosine; lr and λ chosen on validation from complete runs)',
      oneOf('--recipe', RECIPE_NAMES),
      'fast',
    )
    .option('--models <list>', 'which models, comma-separated', VARIANTS.map((v) => v.name).join(','))
    .option('--layers <widths>', 'hidden widths (the paper: 1000,1000,1000)', widthList('--layers'), PAPER_MODEL.hidden)
    .option('--train-limit <n>', 'train on only the first n of the 50,000 training images', positiveInt('--train-limit'))
    .option('--test-limit <n>', 'test on only the first n test images', positiveInt('--test-limit'))
    .option(
      '--lr-grid <list>',
      'candidate learning rates, comma-separated (default: the recipe’s)',
      numberList('--lr-grid', (x) => x > 0, 'learning rates > 0'),
    )
    .option('--sweep-examples <n>', 'fast and paper: examples per learning-rate candidate (default: the recipe’s)', positiveInt('--sweep-examples'))
    .option(
      '--l1-grid <list>',
      'best: the rectifier’s candidate L1 penalties λ (default 3e-5,1e-4,3e-4,1e-3)',
      numberList('--l1-grid', (x) => x >= 0, 'penalties ≥ 0'),
    )
    .option(
      '--sweep-epochs <n>',
      'best: epochs of each run of the grid (default: --epochs, so the first seed’s run is the grid’s own)',
      positiveInt('--sweep-epochs'),
    )
    .option('--seeds <n>', 'best: seeds trained with each chosen setting (default 2)', positiveInt('--seeds'))
    .option('--seed <n>', 'seed of initialisation and shuffling (recipe best: the first seed)', positiveInt('--seed'), 1)
    .option(
      '--max-norm <x>',
      "not the paper's: after each update, rescale every unit's incoming weights whose L2 norm exceeds x to norm x, in every model (0: off); the report names the recipe e.g. best + max-norm 3.5",
      nonNegative('--max-norm'),
    )
    .option(
      '--dropout <p>',
      "not the paper's: inverted dropout of every hidden unit's output with probability p while training, in every model (evaluation never drops; 0: off); the report names the recipe e.g. best + dropout 0.5",
      dropRate('--dropout'),
    )
    .option(
      '--input-dropout <q>',
      "not the paper's: inverted dropout of the input pixels with probability q while training (0: off)",
      dropRate('--input-dropout'),
    )
    .option('--quick', 'dead-units: every part at toy sizes (seconds), to check the machinery', false)
    .option('--quiet', 'print only the final line', false)
    .action(async (name: string, flags: ExperimentFlags, cmd: Command) => {
      if (name === 'dead-units') {
        // dead-units takes --out, --backend, --quick and --quiet; the rest are glorot2011's.
        const theirs = cmd.options.filter(
          (o) => !['out', 'backend', 'quick', 'quiet'].includes(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli',
        );
        if (theirs.length)
          throw new Error(`${theirs.map((o) => o.long).join(', ')} applies to glorot2011 only: dead-units takes --out, --backend, --quick and --quiet`);
        const { deadUnitsExperiment } = await import('./dead-units.ts');
        await deadUnitsExperiment({ out: flags.out ?? 'runs/dead-units', backend: flags.backend, quick: flags.quick, quiet: flags.quiet });
        return;
      }
      if (name !== 'glorot2011') throw new Error(`unknown experiment "${name}": choose glorot2011 or dead-units`);
      if (flags.quick) throw new Error('--quick applies to dead-units only');
      await glorot2011({ ...flags, out: flags.out ?? 'runs/glorot2011' });
    });
}

/** The recipe with the flags' overrides; a flag of another recipe is an error naming it. */
export function recipeFromFlags(flags: Omit<ExperimentFlags, 'out' | 'backend' | 'models' | 'layers' | 'seed' | 'quiet' | 'quick'>): Recipe {
  const base = RECIPES[flags.recipe];
  const lrGrid = flags.lrGrid ?? base.lrGrid;
  if (base.name === 'best') {
    if (flags.sweepExamples !== undefined)
      throw new Error('--sweep-examples applies to recipes fast and paper: recipe best sweeps with complete runs (--sweep-epochs)');
    const epochs = flags.epochs ?? base.epochs;
    const r: GridRecipe = {
      ...base,
      lrGrid,
      epochs,
      l1Grid: flags.l1Grid ?? base.l1Grid,
      sweepEpochs: flags.sweepEpochs ?? epochs,
      seeds: flags.seeds ?? base.seeds,
      maxNorm: flags.maxNorm || undefined,
      dropout: runDropout(flags.dropout, flags.inputDropout),
    };
    if (r.warmupEpochs >= Math.min(r.epochs, r.sweepEpochs)) {
      throw new Error(`recipe best warms up for ${r.warmupEpochs} epoch: --epochs and --sweep-epochs must be at least ${r.warmupEpochs + 1}`);
    }
    return r;
  }
  for (const [flag, v] of [
    ['--l1-grid', flags.l1Grid],
    ['--sweep-epochs', flags.sweepEpochs],
    ['--seeds', flags.seeds],
  ] as const) {
    if (v !== undefined) throw new Error(`${flag} applies to --recipe best only (this run's recipe is ${base.name})`);
  }
  const r: SweepRecipe = {
    ...base,
    lrGrid,
    epochs: flags.epochs ?? base.epochs,
    sweepExamples: flags.sweepExamples ?? base.sweepExamples,
    maxNorm: flags.maxNorm || undefined,
    dropout: runDropout(flags.dropout, flags.inputDropout),
  };
  return r;
}

interface Setup {
  flags: ExperimentFlags & { out: string };
  recipe: Recipe;
  variants: ModelVariant[];
  splits: Splits;
  makeBackend: () => Promise<Backend>;
  log: (s: string) => void;
  /** The report's context (wall time filled in when written). */
  context: (wallSeconds: number) => ReportContext;
}

async function glorot2011(flags: ExperimentFlags & { out: string }): Promise<void> {
  const started = performance.now();
  const log = (s: string) => flags.quiet || console.error(s);
  const recipe = recipeFromFlags(flags);
  const wanted = flags.models.split(',').map((s) => s.trim());
  const variants = wanted.map((w) => {
    const v = VARIANTS.find((x) => x.name === w);
    if (!v) throw new Error(`--models: unknown model "${w}"; choose from ${VARIANTS.map((x) => x.name).join(', ')}`);
    return v;
  });
  const out = flags.out;
  const metaFile = join(out, 'experiment.json');
  const meta = existsSync(metaFile) ? JSON.parse(readFileSync(metaFile, 'utf8')) : { wallSeconds: 0 };
  // Each recipe keeps its own files, but one report and results.json per --out: one recipe per --out.
  if (meta.recipe !== undefined && meta.recipe !== recipe.name)
    throw new Error(`${out} holds a run of recipe ${meta.recipe}, not ${recipe.name}: use another --out`);
  // Likewise one max-norm and dropout setting per --out, so that its report never mixes runs with and without them.
  if (meta.recipe !== undefined && !sameExtras(meta, recipe)) {
    throw new Error(`${out} holds a run of recipe ${recipeLabel(meta.recipe, meta)}, not ${recipeLabel(recipe.name, recipe)}: use another --out`);
  }
  meta.recipe = recipe.name;
  Object.assign(meta, extrasOf(recipe));
  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  mkdirSync(join(out, 'progress'), { recursive: true });
  const command = `rectigrad experiment glorot2011 ${process.argv.slice(4).join(' ')}`.trim();

  const splits = paperSplits(loadIdxSplit(mnistDir(), 'train', 'MNIST'), loadIdxSplit(mnistDir(), 'test', 'MNIST'), {
    train: flags.trainLimit,
    test: flags.testLimit,
  });
  // The adapter is kept in experiment.json: an invocation that only resumes finished runs
  // makes no backend, and its report still names the one that trained them.
  let adapter: string = typeof meta.adapter === 'string' ? meta.adapter : '';
  let noted = false;
  const makeBackend = async () => {
    const { backend, note } = await createBackend(flags.backend);
    if (!noted) log(note);
    noted = true;
    adapter = meta.adapter = backend.adapter;
    return backend;
  };
  const cpu = cpus();
  const setup: Setup = {
    flags,
    recipe,
    variants,
    splits,
    makeBackend,
    log,
    context: (wallSeconds) => ({
      command,
      recipe,
      paperRecipe: RECIPES.paper,
      adapter,
      wallSeconds,
      machine: `${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.versions.node}`,
      date: new Date().toISOString().slice(0, 10),
      hidden: flags.layers,
      trainExamples: splits.train.examples,
      validExamples: splits.valid.examples,
      testExamples: splits.test.examples,
    }),
  };
  const elapsed = () => (performance.now() - started) / 1000;
  let finish: (wallSeconds: number) => Promise<void>;
  try {
    finish =
      recipe.name === 'best'
        ? await gridExperiment(setup, recipe, () => meta.wallSeconds + elapsed())
        : await sweepExperiment(setup, recipe, () => meta.wallSeconds + elapsed());
  } finally {
    // Wall time adds up over every invocation that worked on this --out.
    meta.wallSeconds += elapsed();
    writeFileAtomic(metaFile, JSON.stringify(meta) + '\n');
  }
  await finish(meta.wallSeconds);
  console.log(`report: ${join(out, 'report.md')} (${(meta.wallSeconds / 60).toFixed(1)} min in all)`);
}

/** Where a run's best-validation checkpoint is kept: weights and run config, no optimiser state. */
export const bestCheckpointPath = (out: string, key: string): string => join(out, 'checkpoints', `${key}.best.safetensors`);

/** Progress and checkpoint files under --out, named by the run. */
function fileHooks(out: string, log: (s: string) => void): Hooks {
  return {
    log,
    save: (p: Progress, ck?: CheckpointState, best?: CheckpointState) => {
      if (ck) saveCheckpoint(join(out, 'checkpoints', `${progressKey(p)}.safetensors`), ck);
      // Before the progress that names its epoch: a kill in between redoes the epoch.
      if (best) saveCheckpoint(bestCheckpointPath(out, progressKey(p)), best);
      writeFileAtomic(join(out, 'progress', `${progressKey(p)}.json`), JSON.stringify(p) + '\n');
    },
  };
}

/** Recipes fast and paper: a short learning-rate sweep per model, then the models advance one epoch each in turn. */
async function sweepExperiment(setup: Setup, recipe: SweepRecipe, wall: () => number): Promise<(wallSeconds: number) => Promise<void>> {
  const { flags, variants, splits, makeBackend, log } = setup;
  const out = flags.out;
  const runs: VariantRun[] = [];
  for (const v of variants) {
    const progressFile = join(out, 'progress', `${v.name}.json`);
    const ckFile = join(out, 'checkpoints', `${v.name}.safetensors`);
    const model = variantModel(v, flags.layers, flags.seed);
    let p: Progress = { variant: v, recipe: recipe.name, model, sweep: [], epochs: [], samples: [], ...extrasOf(recipe) };
    let resume;
    if (existsSync(progressFile)) {
      const saved = JSON.parse(readFileSync(progressFile, 'utf8')) as Progress;
      if (saved.recipe !== recipe.name || JSON.stringify(saved.model) !== JSON.stringify(model)) {
        throw new Error(`${out} holds a ${v.name} run with another recipe or model (${saved.recipe}, ${saved.model.hidden.join('-')}): use another --out`);
      }
      p = saved;
      if (p.epochs.length) {
        resume = loadCheckpoint(ckFile);
        log(`${v.name}: resuming after epoch ${p.epochs.length} (step ${resume.step})`);
      }
    }
    runs.push(new VariantRun(p, makeBackend, splits, recipe, flags.seed, resume));
  }

  const writeReport = async (wallSeconds: number) => {
    const progress = runs.map((r) => r.progress);
    await writeCharts(out, progress);
    writeFileAtomic(join(out, 'report.md'), report(progress, setup.context(wallSeconds)));
    writeFileAtomic(join(out, 'results.json'), JSON.stringify({ recipe, runs: progress }, null, 1) + '\n');
  };
  const hooks = fileHooks(out, log);
  for (const r of runs) {
    await r.prepare(hooks);
    writeFileAtomic(join(out, 'progress', `${r.progress.variant.name}.json`), JSON.stringify(r.progress) + '\n');
  }
  // Models advance one epoch each in turn, so an interrupted run has comparable results.
  for (let e = 1; e <= recipe.epochs; e++) {
    for (const r of runs) {
      if (r.epochsDone >= e || r.stopped) continue;
      await r.trainEpoch(hooks);
      await writeReport(wall());
    }
  }
  return async (wallSeconds) => {
    await writeReport(wallSeconds);
    runs.forEach((r) => r.destroy());
  };
}

/** Recipe best: the grid of complete runs, one after another (grid.ts). */
async function gridExperiment(setup: Setup, recipe: GridRecipe, wall: () => number): Promise<(wallSeconds: number) => Promise<void>> {
  const { flags, variants, log } = setup;
  const out = flags.out;
  const hooks = fileHooks(out, log);
  const state: GridState = { sweep: [], finals: [], selections: [] };
  const writeReport = async (wallSeconds: number) => {
    const firstSeed = state.finals.filter((p) => p.seed === flags.seed);
    await writeCharts(out, firstSeed);
    const { sparsityErrorChart } = await loadCharts();
    const rect = VARIANTS.find(searchesL1)!;
    const points = state.sweep
      .filter((p) => searchesL1(p.variant))
      .map(summarize)
      .filter((t) => t.bestEpoch > 0 && !t.diverged)
      .map((t) => ({ l1: t.l1, lr: t.lr, sparsity: t.testSparsity, error: t.testError }));
    const others = variants
      .filter((v) => !searchesL1(v))
      .flatMap((v) => {
        const errs = state.finals.filter((p) => p.variant.name === v.name).flatMap((p) => bestEpoch(p)?.test.error ?? []);
        return errs.length ? [{ model: v.name, error: errs.reduce((s, x) => s + x, 0) / errs.length }] : [];
      });
    writeFileAtomic(
      join(out, 'sparsity-error.svg'),
      await sparsityErrorChart(points, recipe.sparsityBand, { sparsity: rect.paperSparsity!, error: rect.paperError }, others),
    );
    const ctx = {
      ...setup.context(wallSeconds),
      recipe,
      variants: variants.map((v) => v.name),
      seed: flags.seed,
      bestCheckpoint: (key: string) => bestCheckpointPath(out, key),
    };
    writeFileAtomic(join(out, 'report.md'), gridReport(state, ctx));
    writeFileAtomic(
      join(out, 'results.json'),
      JSON.stringify({ recipe, runs: state.finals, grid: state.sweep.map(summarize), selections: state.selections }, null, 1) + '\n',
    );
  };
  await runGrid(
    {
      recipe,
      hidden: flags.layers,
      seed: flags.seed,
      splits: setup.splits,
      makeBackend: setup.makeBackend,
      store: {
        hooks,
        load: (key) => {
          const f = join(out, 'progress', `${key}.json`);
          return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Progress) : undefined;
        },
        checkpoint: (key) => loadCheckpoint(join(out, 'checkpoints', `${key}.safetensors`)),
      },
      onRunDone: () => writeReport(wall()),
    },
    variants,
    state,
  );
  return writeReport;
}

/** The figures of training every report has. */
async function writeCharts(out: string, progress: Progress[]): Promise<void> {
  // vega is loaded only here: it is large, and only the report's figures need it.
  const { gradNormChart, initSparsityChart, sparsityChart } = await loadCharts();
  writeFileAtomic(join(out, 'sparsity.svg'), await sparsityChart(progress));
  writeFileAtomic(join(out, 'gradnorm.svg'), await gradNormChart(progress));
  writeFileAtomic(join(out, 'init-sparsity.svg'), await initSparsityChart(progress));
}

async function loadCharts(): Promise<typeof import('../experiment/charts.ts')> {
  try {
    return await import('../experiment/charts.ts');
  } catch (e) {
    throw new Error(`the report's figures need the optional packages vega and vega-lite (npm install vega vega-lite): ${(e as Error).message.split('\n')[0]}`);
  }
}
