// `rectigrad train`: build the model and data, pick the backend, train, report.
import { writeFileSync, renameSync } from 'node:fs';
import { Command } from 'commander';
import { BACKENDS, createBackend, type BackendChoice } from '../backend/create.ts';
import { limitDataset, type Dataset } from '../data/dataset.ts';
import { syntheticDataset } from '../data/synthetic.ts';
import { ACTIVATIONS, type Activation } from '../ops/activations.ts';
import { DEFAULT_OPTIMIZER, type OptimizerKind } from '../ops/optimizer.ts';
import { INITS, PAPER_MODEL, describeModel, validateModel, type Init, type ModelSpec } from '../model/spec.ts';
import { flopsPerExample } from '../plan/plan.ts';
import { Trainer } from '../train/trainer.ts';
import type { StepStats } from '../train/telemetry.ts';
import { nonNegative, nonNegativeInt, oneOf, positive, positiveInt, widthList } from './options.ts';
import { progress, stepLine } from './progress.ts';

interface TrainFlags {
  data: 'synthetic';
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
  backend: BackendChoice;
  seed: number;
  telemetry: boolean;
  json?: string;
  quiet: boolean;
}

const DEFAULT_LR: Record<OptimizerKind, number> = { sgd: 0.1, momentum: 0.02, adam: 0.001 };

export function trainCommand(): Command {
  return new Command('train')
    .description('train a rectifier network and report loss, accuracy, sparsity, dead units and gradient norms by layer')
    .option('--data <name>', 'dataset: synthetic (seeded, 64 features, 10 classes)', oneOf('--data', ['synthetic'] as const), 'synthetic')
    .option('--layers <widths>', 'hidden layer widths, comma-separated', widthList('--layers'), PAPER_MODEL.hidden)
    .option('--activation <name>', `hidden activation: ${ACTIVATIONS.filter((a) => a !== 'linear').join('|')}`, oneOf('--activation', ACTIVATIONS), 'relu')
    .option('--init <name>', `weight initialisation: ${INITS.join('|')}`, oneOf('--init', INITS), 'glorot')
    .option('--l1 <x>', 'L1 activation penalty λ (per example, summed over hidden units)', nonNegative('--l1'), 0)
    .option('--optimizer <name>', 'sgd|momentum|adam', oneOf('--optimizer', ['sgd', 'momentum', 'adam'] as const), 'sgd')
    .option('--lr <x>', 'learning rate (default: sgd 0.1, momentum 0.02, adam 0.001)', positive('--lr'))
    .option('--momentum <x>', 'momentum coefficient', nonNegative('--momentum'), DEFAULT_OPTIMIZER.momentum)
    .option('--weight-decay <x>', 'L2 weight decay', nonNegative('--weight-decay'), 0)
    .option('--clip <x>', 'clip the global gradient norm to this (0: off)', nonNegative('--clip'), 0)
    .option('--batch <n>', 'examples per step', positiveInt('--batch'), 64)
    .option('--epochs <n>', 'passes over the training set', positiveInt('--epochs'), 1)
    .option('--steps <n>', 'train this many steps (overrides --epochs)', positiveInt('--steps'))
    .option('--train-limit <n>', 'use only the first n training examples', positiveInt('--train-limit'))
    .option('--backend <name>', 'auto|webgpu|cpu', oneOf('--backend', BACKENDS), 'auto')
    .option('--seed <n>', 'seed of initialisation, data and shuffling', nonNegativeInt('--seed'), 1)
    .option('--no-telemetry', 'skip the per-layer telemetry (read the loss only every 50 steps)')
    .option('--json <file>', 'write the run as JSON')
    .option('--quiet', 'print only the final line', false)
    .action(async (flags: TrainFlags) => {
      await train(flags);
    });
}

function loadData(flags: TrainFlags): Dataset {
  const d = syntheticDataset({ seed: flags.seed + 7 });
  return limitDataset(d, flags.trainLimit);
}

async function train(flags: TrainFlags): Promise<void> {
  const data = loadData(flags);
  const model: ModelSpec = validateModel({
    ...PAPER_MODEL,
    inputs: data.features,
    classes: data.classes,
    hidden: flags.layers,
    activation: flags.activation,
    init: flags.init,
    seed: flags.seed,
  });
  const lr = flags.lr ?? DEFAULT_LR[flags.optimizer];
  const { backend, note } = await createBackend(flags.backend);
  const log = (s: string) => flags.quiet || console.error(s);
  log(note);
  const trainer = await Trainer.create(
    backend,
    model,
    {
      batch: flags.batch,
      l1: flags.l1,
      telemetry: flags.telemetry,
      optimizer: { ...DEFAULT_OPTIMIZER, kind: flags.optimizer, momentum: flags.momentum, weightDecay: flags.weightDecay, clipNorm: flags.clip },
      lr,
      shuffleSeed: flags.seed,
    },
    data,
  );
  const steps = flags.steps ?? flags.epochs * trainer.stepsPerEpoch;
  const flops = flopsPerExample(trainer.plan.layout);
  log(
    `model ${describeModel(model)} (${trainer.plan.layout.count.toLocaleString('en')} parameters, ` +
      `${((flops.forward + flops.backward) / 1e6).toFixed(2)} MFLOP per example); data ${data.name}: ${data.examples} examples; ` +
      `${steps} steps of ${flags.batch}, ${flags.optimizer} lr ${lr}`,
  );
  const bar = progress(steps, { quiet: flags.quiet, plainEvery: Math.max(1, Math.round(steps / 20)) });
  const history: StepStats[] = [];
  const started = performance.now();
  let last: StepStats | undefined;
  try {
    for await (const s of trainer.run(steps)) {
      bar.update(s);
      last = s;
      if (history.length < 2000 || s.step % Math.ceil(steps / 2000) === 0) history.push(s);
    }
    await backend.finish();
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const eps = (steps * flags.batch) / seconds;
  const gflops = (eps * (flops.forward + flops.backward)) / 1e9;
  if (last) console.log(stepLine({ ...last, examplesPerSecond: eps }, steps));
  console.log(`${steps} steps in ${seconds.toFixed(2)} s: ${(steps / seconds).toFixed(2)} steps/s, ${eps.toFixed(0)} examples/s, ${gflops.toFixed(2)} GFLOP/s on ${backend.adapter}`);
  if (flags.json) {
    const out = {
      backend: backend.kind,
      adapter: backend.adapter,
      model,
      config: { ...trainer.options, lr },
      seconds,
      stepsPerSecond: steps / seconds,
      examplesPerSecond: eps,
      gflops,
      steps: history,
      final: last,
    };
    const tmp = `${flags.json}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(out, null, 1));
    renameSync(tmp, flags.json);
  }
  backend.destroy();
}
