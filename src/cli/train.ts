// `rectigrad train`: build the model and data, pick the backend, train epoch by epoch
// with a test evaluation after each, report, save.
import { Command } from 'commander';
import { BACKENDS, createBackend, type BackendChoice } from '../backend/create.ts';
import { limitDataset } from '../data/dataset.ts';
import { DATASETS, loadDataset, type DatasetName } from '../data/load.ts';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../io/checkpoint-file.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import { parseRunConfig, runConfig, type RunConfig } from '../io/checkpoint-config.ts';
import { ACTIVATIONS, type Activation } from '../ops/activations.ts';
import { DEFAULT_LR, DEFAULT_OPTIMIZER, type OptimizerKind } from '../ops/optimizer.ts';
import { paramLayout } from '../model/layout.ts';
import { INITS, PAPER_MODEL, describeModel, validateModel, type Init, type ModelSpec } from '../model/spec.ts';
import { flopsPerExample } from '../plan/plan.ts';
import { trainRun, type EpochRecord } from '../train/run.ts';
import { TrainingDivergedError } from '../train/trainer.ts';
import { nonNegative, nonNegativeInt, oneOf, positive, positiveInt, widthList } from './options.ts';
import { formatDuration, progress, wrapParts } from './progress.ts';

interface TrainFlags {
  data: DatasetName;
  dataDir?: string;
  layers: number[];
  activation: Activation;
  init: Init;
  l1: number;
  optimizer: OptimizerKind;
  lr?: number;
  momentum: number;
  weightDecay: number;
  clip: number;
  batch: number;
  epochs: number;
  steps?: number;
  trainLimit?: number;
  testLimit?: number;
  backend: BackendChoice;
  seed: number;
  telemetry: boolean;
  save?: string;
  resume?: string;
  json?: string;
  quiet: boolean;
}

export function trainCommand(): Command {
  return new Command('train')
    .description(
      'train a rectifier network (default: the paper’s 784-1000-1000-1000-10 on MNIST) and report loss, error, sparsity, dead units and gradient norms by layer',
    )
    .option('--data <name>', 'mnist (real MNIST, bundled) or synthetic (seeded, 64 features)', oneOf('--data', DATASETS), 'mnist')
    .option('--data-dir <dir>', 'a directory of IDX files with the standard names (plain or .gz), e.g. Fashion-MNIST')
    .option('--layers <widths>', 'hidden layer widths, comma-separated', widthList('--layers'), PAPER_MODEL.hidden)
    .option('--activation <name>', ACTIVATIONS.filter((a) => a !== 'linear').join('|'), oneOf('--activation', ACTIVATIONS), 'relu')
    .option('--init <name>', `weight initialisation: ${INITS.join('|')}`, oneOf('--init', INITS), 'glorot')
    .option('--l1 <x>', 'L1 activation penalty λ (per example, summed over hidden units)', nonNegative('--l1'), 0)
    .option('--optimizer <name>', 'sgd|momentum|adam', oneOf('--optimizer', ['sgd', 'momentum', 'adam'] as const), 'sgd')
    .option('--lr <x>', `learning rate (default: ${Object.entries(DEFAULT_LR).map(([k, v]) => `${k} ${v}`).join(', ')})`, positive('--lr'))
    .option('--momentum <x>', 'momentum coefficient', nonNegative('--momentum'), DEFAULT_OPTIMIZER.momentum)
    .option('--weight-decay <x>', 'L2 weight decay', nonNegative('--weight-decay'), 0)
    .option('--clip <x>', 'clip the global gradient norm to this (0: off)', nonNegative('--clip'), 0)
    .option('--batch <n>', 'examples per step', positiveInt('--batch'), 64)
    .option('--epochs <n>', 'train until this many epochs in total', positiveInt('--epochs'), 1)
    .option('--steps <n>', 'train until this many steps in total (overrides --epochs)', positiveInt('--steps'))
    .option('--train-limit <n>', 'use only the first n training examples', positiveInt('--train-limit'))
    .option('--test-limit <n>', 'evaluate on only the first n test examples', positiveInt('--test-limit'))
    .option('--backend <name>', 'auto|webgpu|cpu (auto: a hardware GPU if there is one, else the CPU)', oneOf('--backend', BACKENDS), 'auto')
    .option('--seed <n>', 'seed of initialisation and shuffling', nonNegativeInt('--seed'), 1)
    .option('--no-telemetry', 'skip the per-layer telemetry (read the loss every 50 steps only)')
    .option('--save <file>', 'write a safetensors checkpoint after every epoch (atomically)')
    .option('--resume <file>', 'continue from a checkpoint: its model and training settings are used')
    .option('--json <file>', 'write the run as JSON (- for stdout: then everything else goes to stderr)')
    .option('--quiet', 'print only the final lines', false)
    .action(async (flags: TrainFlags, cmd: Command) => {
      await train(flags, (key) => cmd.getOptionValueSource(key) === 'cli');
    });
}

/** Flags that --resume overrides with the checkpoint's value, and that value. */
function ignoredOnResume(flags: TrainFlags, given: (key: string) => boolean, cfg: RunConfig, model: ModelSpec): string[] {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const checks: [key: keyof TrainFlags, flag: string, theirs: unknown][] = [
    ['data', '--data', cfg.data],
    ['dataDir', '--data-dir', cfg.dataDir],
    ['trainLimit', '--train-limit', cfg.trainLimit],
    ['batch', '--batch', cfg.batch],
    ['lr', '--lr', cfg.lr],
    ['l1', '--l1', cfg.l1],
    ['optimizer', '--optimizer', cfg.optimizer.kind],
    ['momentum', '--momentum', cfg.optimizer.momentum],
    ['weightDecay', '--weight-decay', cfg.optimizer.weightDecay],
    ['clip', '--clip', cfg.optimizer.clipNorm],
    ['seed', '--seed', cfg.seed],
    ['layers', '--layers', model.hidden],
    ['activation', '--activation', model.activation],
    ['init', '--init', model.init],
  ];
  const show = (v: unknown) => (v === undefined ? 'none' : Array.isArray(v) ? v.join(',') : String(v));
  return checks
    .filter(([key, , theirs]) => given(key) && !same(flags[key], theirs))
    .map(([key, flag, theirs]) => `--resume ignores ${flag} ${show(flags[key])}: the checkpoint's ${show(theirs)} is used`);
}

function runConfigFrom(flags: TrainFlags): RunConfig {
  return runConfig({
    data: flags.data,
    dataDir: flags.dataDir,
    trainLimit: flags.trainLimit,
    batch: flags.batch,
    lr: flags.lr,
    l1: flags.l1,
    optimizer: { kind: flags.optimizer, momentum: flags.momentum, weightDecay: flags.weightDecay, clipNorm: flags.clip },
    seed: flags.seed,
    telemetry: flags.telemetry,
  });
}

async function train(flags: TrainFlags, given: (key: string) => boolean = () => false): Promise<void> {
  // With --json - the JSON alone goes to stdout; every line for people goes to stderr.
  const out = flags.json === '-' ? process.stderr : process.stdout;
  const log = (s: string) => flags.quiet || console.error(wrapParts([s]).join('\n'));
  let resume: CheckpointState | undefined;
  let cfg = runConfigFrom(flags);
  if (flags.resume) {
    resume = loadCheckpoint(flags.resume);
    if (Object.keys(resume.config).length === 0) {
      // Written by a program that recorded no settings (Trainer.state() without a config).
      console.error(`warning: ${flags.resume} records no training settings: the flags' are used`);
    } else {
      cfg = { ...parseRunConfig(resume.config, flags.resume), telemetry: flags.telemetry };
      log(`resuming ${flags.resume} at step ${resume.step}: its model and training settings are used`);
    }
    for (const w of ignoredOnResume(flags, given, cfg, resume.model)) console.error(`warning: ${w}`);
  }
  const source = { data: cfg.data, dataDir: cfg.dataDir, seed: cfg.seed };
  const trainSet = limitDataset(loadDataset(source, 'train'), cfg.trainLimit);
  const testSet = limitDataset(loadDataset(source, 'test'), flags.testLimit);
  const model: ModelSpec =
    resume?.model ??
    validateModel({
      ...PAPER_MODEL,
      inputs: trainSet.features,
      classes: trainSet.classes,
      hidden: flags.layers,
      activation: flags.activation,
      init: flags.init,
      seed: flags.seed,
    });

  const { backend, note } = await createBackend(flags.backend);
  log(note);
  const options = { batch: cfg.batch, l1: cfg.l1, telemetry: cfg.telemetry, optimizer: cfg.optimizer, lr: cfg.lr, shuffleSeed: cfg.seed };
  const perEpoch = Math.floor(trainSet.examples / cfg.batch);
  const steps = flags.steps ?? flags.epochs * perEpoch;
  const startStep = resume?.step ?? 0;
  const flops = flopsPerExample(paramLayout(model));
  const flopsPerEx = flops.forward + flops.backward;
  log(
    `model ${describeModel(model)}, ${(flopsPerEx / 1e6).toFixed(2)} MFLOP per training example; ` +
      `${trainSet.name}: ${trainSet.examples} examples, ${testSet.name}: ${testSet.examples}; ` +
      `${cfg.optimizer.kind} lr ${cfg.lr}, batch ${cfg.batch}${cfg.l1 ? `, L1 ${cfg.l1}` : ''}; ` +
      (startStep ? `steps ${startStep + 1}–${steps} of ${steps}` : `${steps} steps`),
  );
  if (resume && resume.step >= steps) throw new Error(`the checkpoint is already at step ${resume.step} ≥ ${steps}: ask for more --epochs or --steps`);

  const bar = progress(steps, { quiet: flags.quiet, plainEvery: Math.max(1, Math.round((steps - startStep) / 20)), startAt: startStep });
  let lastSaved: number | undefined;
  const epochLines = (r: EpochRecord) =>
    wrapParts(
      [
        `epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}`,
        `test loss ${r.testLoss.toFixed(4)}`,
        `test error ${(100 * r.testError).toFixed(2)}%`,
        ...(r.sparsity.length ? [`sparsity ${r.sparsity.map((x) => `${(100 * x).toFixed(1)}%`).join(' ')}`, `dead ${r.deadUnits.join(' ')}`] : []),
        `${r.examplesPerSecond.toFixed(0)} ex/s (${((r.examplesPerSecond * flopsPerEx) / 1e9).toFixed(2)} GFLOP/s)`,
      ],
      80,
    ).join('\n');
  let result;
  try {
    result = await trainRun(
      backend,
      model,
      options,
      trainSet,
      testSet,
      { steps, resume, sampleEvery: Math.max(1, Math.ceil(steps / 1000)) },
      {
        onStep: (s) => bar.update(s),
        onEpoch: async (r, trainer) => {
          // Each epoch's summary is printed once, as it happens (--quiet: the last one, at the end).
          bar.log(epochLines(r), out);
          if (flags.save) {
            saveCheckpoint(flags.save, await trainer.state({ ...cfg }));
            lastSaved = trainer.step;
          }
        },
      },
    );
  } catch (e) {
    bar.stop();
    if (e instanceof TrainingDivergedError && flags.save) {
      const kept = lastSaved !== undefined ? `the last good checkpoint (step ${lastSaved}) is ${flags.save}` : `no checkpoint was written yet`;
      throw new Error(`${e.message} Nothing was overwritten: ${kept}.`);
    }
    throw e;
  }
  bar.stop();
  const final = result.final!;
  const ran = result.trainer.step - startStep;
  if (flags.quiet) out.write(epochLines(final) + '\n');
  out.write(
    wrapParts(
      [
        `${startStep ? `steps ${startStep + 1}–${result.trainer.step} (${ran} this run)` : `${ran} steps`}, ${formatDuration(final.seconds)} training: ` +
          `${(ran * cfg.batch / Math.max(final.seconds, 1e-9)).toFixed(0)} examples/s on ${backend.adapter}`,
        ...(flags.save ? [`checkpoint ${flags.save}`] : []),
      ],
      80,
    ).join('\n') + '\n',
  );
  if (flags.json) {
    const json = {
      backend: backend.kind,
      adapter: backend.adapter,
      model,
      config: cfg,
      flopsPerExample: flopsPerEx,
      epochs: result.epochs,
      steps: result.steps,
      final,
    };
    const text = JSON.stringify(json, null, 1) + '\n';
    if (flags.json === '-') process.stdout.write(text);
    else writeFileAtomic(flags.json, text);
  }
  backend.destroy();
}
