// `rectigrad experiment glorot2011`: the paper's MNIST comparison, resumable, with a
// markdown report and SVG figures written into --out.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { BACKENDS, createBackend, type BackendChoice } from '../backend/create.ts';
import { loadIdxSplit, mnistDir } from '../data/idx-files.ts';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../io/checkpoint-file.ts';
import { PAPER_MODEL } from '../model/spec.ts';
import { paperSplits, RECIPES, VARIANTS, VariantRun, variantModel, type Progress, type Recipe } from '../experiment/glorot2011.ts';
import { report } from '../experiment/report.ts';
import { oneOf, positiveInt, widthList } from './options.ts';

interface ExperimentFlags {
  epochs?: number;
  out: string;
  backend: BackendChoice;
  recipe: Recipe['name'];
  models: string;
  layers: number[];
  trainLimit?: number;
  testLimit?: number;
  sweepExamples?: number;
  seed: number;
  quiet: boolean;
}

export function experimentCommand(): Command {
  return new Command('experiment')
    .description('reproduce a paper’s comparison; glorot2011: rectifier vs tanh vs softplus on MNIST (Glorot, Bordes & Bengio 2011, Table 1)')
    .argument('<name>', 'glorot2011')
    .option('--epochs <n>', 'epochs per model (default: the recipe’s: fast 10, paper 50)', positiveInt('--epochs'))
    .option('--out <dir>', 'where the report, figures, checkpoints and progress go', 'runs/glorot2011')
    .option('--backend <name>', 'auto|webgpu|cpu', oneOf('--backend', BACKENDS), 'auto')
    .option('--recipe <name>', 'fast (momentum, batch 64) or paper (SGD, batch 10)', oneOf('--recipe', ['fast', 'paper'] as const), 'fast')
    .option('--models <list>', 'which models, comma-separated', VARIANTS.map((v) => v.name).join(','))
    .option('--layers <widths>', 'hidden widths (the paper: 1000,1000,1000)', widthList('--layers'), PAPER_MODEL.hidden)
    .option('--train-limit <n>', 'train on only the first n of the 50,000 training images', positiveInt('--train-limit'))
    .option('--test-limit <n>', 'test on only the first n test images', positiveInt('--test-limit'))
    .option('--sweep-examples <n>', 'examples per learning-rate candidate (default: the recipe’s)', positiveInt('--sweep-examples'))
    .option('--seed <n>', 'seed of initialisation and shuffling', positiveInt('--seed'), 1)
    .option('--quiet', 'print only the final line', false)
    .action(async (name: string, flags: ExperimentFlags) => {
      if (name !== 'glorot2011') throw new Error(`unknown experiment "${name}": the one available is glorot2011`);
      await glorot2011(flags);
    });
}

async function glorot2011(flags: ExperimentFlags): Promise<void> {
  const started = performance.now();
  const log = (s: string) => flags.quiet || console.error(s);
  const base = RECIPES[flags.recipe];
  const recipe: Recipe = { ...base, epochs: flags.epochs ?? base.epochs, sweepExamples: flags.sweepExamples ?? base.sweepExamples };
  const wanted = flags.models.split(',').map((s) => s.trim());
  const variants = wanted.map((w) => {
    const v = VARIANTS.find((x) => x.name === w);
    if (!v) throw new Error(`--models: unknown model "${w}"; choose from ${VARIANTS.map((x) => x.name).join(', ')}`);
    return v;
  });
  const out = flags.out;
  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  mkdirSync(join(out, 'progress'), { recursive: true });
  const metaFile = join(out, 'experiment.json');
  const meta = existsSync(metaFile) ? JSON.parse(readFileSync(metaFile, 'utf8')) : { wallSeconds: 0 };
  const command = `rectigrad experiment glorot2011 ${process.argv.slice(4).join(' ')}`.trim();

  const splits = paperSplits(loadIdxSplit(mnistDir(), 'train', 'MNIST'), loadIdxSplit(mnistDir(), 'test', 'MNIST'), {
    train: flags.trainLimit,
    test: flags.testLimit,
  });
  let adapter = '';
  const makeBackend = async () => {
    const { backend, note } = await createBackend(flags.backend);
    if (!adapter) log(note);
    adapter = backend.adapter;
    return backend;
  };

  const runs: VariantRun[] = [];
  for (const v of variants) {
    const progressFile = join(out, 'progress', `${v.name}.json`);
    const ckFile = join(out, 'checkpoints', `${v.name}.safetensors`);
    const model = variantModel(v, flags.layers, flags.seed);
    let p: Progress = { variant: v, recipe: recipe.name, model, sweep: [], epochs: [], samples: [] };
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

  const cpu = cpus();
  const writeReport = async (wallSeconds: number) => {
    const progress = runs.map((r) => r.progress);
    // vega is loaded only here: it is large, and only the report's figures need it.
    const { gradNormChart, initSparsityChart, sparsityChart } = await loadCharts();
    writeFileAtomic(join(out, 'sparsity.svg'), await sparsityChart(progress));
    writeFileAtomic(join(out, 'gradnorm.svg'), await gradNormChart(progress));
    writeFileAtomic(join(out, 'init-sparsity.svg'), await initSparsityChart(progress));
    const ctx = {
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
    };
    writeFileAtomic(join(out, 'report.md'), report(progress, ctx));
    writeFileAtomic(join(out, 'results.json'), JSON.stringify({ recipe, runs: progress }, null, 1) + '\n');
  };
  const elapsed = () => (performance.now() - started) / 1000;
  const hooks = {
    log,
    save: (p: Progress, ck: Parameters<typeof saveCheckpoint>[1]) => {
      saveCheckpoint(join(out, 'checkpoints', `${p.variant.name}.safetensors`), ck);
      writeFileAtomic(join(out, 'progress', `${p.variant.name}.json`), JSON.stringify(p) + '\n');
    },
  };

  try {
    for (const r of runs) {
      await r.prepare(hooks);
      writeFileAtomic(join(out, 'progress', `${r.progress.variant.name}.json`), JSON.stringify(r.progress) + '\n');
    }
    // Models advance one epoch each in turn, so an interrupted run has comparable results.
    for (let e = 1; e <= recipe.epochs; e++) {
      for (const r of runs) {
        if (r.epochsDone >= e) continue;
        await r.trainEpoch(hooks);
        await writeReport(meta.wallSeconds + elapsed());
      }
    }
  } finally {
    // Wall time adds up over every invocation that worked on this --out.
    meta.wallSeconds += elapsed();
    writeFileAtomic(metaFile, JSON.stringify(meta) + '\n');
  }
  await writeReport(meta.wallSeconds);
  runs.forEach((r) => r.destroy());
  console.log(`report: ${join(out, 'report.md')} (${(meta.wallSeconds / 60).toFixed(1)} min in all)`);
}

async function loadCharts(): Promise<typeof import('../experiment/charts.ts')> {
  try {
    return await import('../experiment/charts.ts');
  } catch (e) {
    throw new Error(`the report's figures need the optional packages vega and vega-lite (npm install vega vega-lite): ${(e as Error).message.split('\n')[0]}`);
  }
}
