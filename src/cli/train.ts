// `rectigrad train`: build the model and data, pick the backend, train epoch by epoch
// with a test evaluation after each, report, save.
import { resolve } from 'node:path';
import { Command } from 'commander';
import { BACKENDS, createBackend, type BackendChoice } from '../backend/create.ts';
import { CpuBackend } from '../backend/cpu/cpu-backend.ts';
import { SPARSE_MODES, type SparseMode } from '../backend/cpu/sparse-matmul.ts';
import { limitDataset } from '../data/dataset.ts';
import { DATASETS, loadDataset, type DatasetName } from '../data/load.ts';
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../io/checkpoint-file.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import { parseRunConfig, runConfig, runDropout, type RunConfig, type RunDeadUnits, type RunDropout } from '../io/checkpoint-config.ts';
import { ACTIVATIONS, type Activation } from '../ops/activations.ts';
import { DEFAULT_LR, DEFAULT_OPTIMIZER, type OptimizerKind } from '../ops/optimizer.ts';
import { describeSchedule, LR_SCHEDULES, type LrSchedule, type LrScheduleKind } from '../ops/lr-schedule.ts';
import { paramLayout } from '../model/layout.ts';
import { INITS, PAPER_MODEL, describeModel, validateModel, type Init, type ModelSpec } from '../model/spec.ts';
import { flopsPerExample, matmulProducts } from '../plan/plan.ts';
import { registerCandidate } from '../ops/tuning.ts';
import { DeviceLostError, WebGpuBackend } from '../backend/webgpu/webgpu-backend.ts';
import { DEFAULT_DEAD_ALARM, DeadLayerError } from '../train/dead-alarm.ts';
import { DEAD_UNIT_POLICIES, type DeadUnitCheck, type DeadUnitPolicy } from '../train/dead-units.ts';
import { trainRun, type EpochRecord, type RunResult } from '../train/run.ts';
import type { StepStats } from '../train/telemetry.ts';
import { TrainingDivergedError, type Trainer } from '../train/trainer.ts';
import { catchInterrupts } from './interrupt.ts';
import { checkOutputPath, dropRate, fraction, nonNegative, nonNegativeInt, oneOf, positive, positiveInt, stepsOrEpochs, widthList } from './options.ts';
import { formatDuration, progress, wrapParts } from './progress.ts';
import { decayFactor, DEFAULT_GAMMA, scheduleFromFlags, stepsOrEpochsFrom0, type Length } from './schedule-flags.ts';
import { sparseProductReport } from './sparse-report.ts';

interface TrainFlags {
  data: DatasetName;
  dataDir?: string;
  layers: number[];
  activation: Activation;
  init: Init;
  l1: number;
  optimizer: OptimizerKind;
  lr?: number;
  lrSchedule: LrScheduleKind;
  lrStepEvery?: Length;
  lrGamma?: number;
  warmup?: Length;
  momentum: number;
  weightDecay: number;
  clip: number;
  maxNorm: number;
  dropout: number;
  inputDropout: number;
  batch: number;
  epochs: number;
  steps?: number;
  trainLimit?: number;
  testLimit?: number;
  backend: BackendChoice;
  sparse?: SparseMode;
  seed: number;
  telemetry: boolean;
  save?: string;
  checkpointEvery?: { steps: number } | { epochs: number };
  resume?: string;
  json?: string;
  quiet: boolean;
  deadUnits: DeadUnitPolicy;
  deadWindow?: number;
  dormantTau: number;
  reviveGrace: number;
  deadAlarm: number;
  stopOnDeadLayer: boolean;
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
    .option(
      '--lr <x>',
      `learning rate (default: ${Object.entries(DEFAULT_LR)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
      positive('--lr'),
    )
    .option(
      '--lr-schedule <name>',
      'constant, step (×--lr-gamma every --lr-step-every) or cosine (linear --warmup, then cosine to 0 at the last step)',
      oneOf('--lr-schedule', LR_SCHEDULES),
      'constant',
    )
    .option('--lr-step-every <n>', 'with --lr-schedule step: decay every n steps (or every n epochs: 2e)', stepsOrEpochs('--lr-step-every'))
    .option('--lr-gamma <x>', `with --lr-schedule step: the factor in (0, 1] the rate is multiplied by (default ${DEFAULT_GAMMA})`, decayFactor('--lr-gamma'))
    .option('--warmup <n>', 'with --lr-schedule cosine: warm-up steps from lr/n up to lr (or epochs: 1e; default 0)', stepsOrEpochsFrom0('--warmup'))
    .option('--momentum <x>', 'momentum coefficient', nonNegative('--momentum'), DEFAULT_OPTIMIZER.momentum)
    .option('--weight-decay <x>', 'L2 weight decay', nonNegative('--weight-decay'), 0)
    .option('--clip <x>', 'clip the global gradient norm to this (0: off)', nonNegative('--clip'), 0)
    .option(
      '--max-norm <x>',
      "after each update, rescale every unit's incoming weights whose L2 norm exceeds x to norm x (biases untouched; 0: off)",
      nonNegative('--max-norm'),
      0,
    )
    .option(
      '--dropout <p>',
      "inverted dropout while training: drop each hidden unit's output with probability p as the next layer reads it (evaluation never drops; 0: off)",
      dropRate('--dropout'),
      0,
    )
    .option('--input-dropout <q>', 'inverted dropout of the input pixels while training, with probability q (0: off)', dropRate('--input-dropout'), 0)
    .option('--batch <n>', 'examples per step', positiveInt('--batch'), 64)
    .option('--epochs <n>', 'train until this many epochs in total', positiveInt('--epochs'), 1)
    .option('--steps <n>', 'train until this many steps in total (overrides --epochs)', positiveInt('--steps'))
    .option('--train-limit <n>', 'use only the first n training examples', positiveInt('--train-limit'))
    .option('--test-limit <n>', 'evaluate on only the first n test examples', positiveInt('--test-limit'))
    .option('--backend <name>', 'auto|webgpu|cpu (auto: a hardware GPU if there is one, else the CPU)', oneOf('--backend', BACKENDS), 'auto')
    .option(
      '--sparse <mode>',
      'CPU backend: skip the zeros of relu outputs and their deltas in the matmuls: auto (per step, below a crossover density measured at start-up), on, off (default: auto, or RECTIGRAD_CPU_SPARSE)',
      oneOf('--sparse', SPARSE_MODES),
    )
    .option('--seed <n>', 'seed of initialisation and shuffling', nonNegativeInt('--seed'), 1)
    .option('--no-telemetry', 'skip the per-layer telemetry (read the loss every 50 steps only)')
    .option('--save <file>', 'write a safetensors checkpoint after every epoch (atomically)')
    .option(
      '--checkpoint-every <n>',
      'with --save, also save every n steps (or every n epochs: 2e), so a long run loses at most that much',
      stepsOrEpochs('--checkpoint-every'),
    )
    .option('--resume <file>', 'continue from a checkpoint: its model and training settings are used')
    .option('--json <file>', 'write the run as JSON (- for stdout: then everything else goes to stderr); per-layer arrays start with layer 1')
    .option('--quiet', 'print only the final lines', false)
    .option(
      '--dead-units <policy>',
      'what to do with dead units at the end of each dead-unit window: keep (only watch), revive (re-initialise them, ReDo rule) or prune (remove them, training on with smaller layers)',
      oneOf('--dead-units', DEAD_UNIT_POLICIES),
      'keep',
    )
    .option(
      '--dead-window <n>',
      'the dead-unit window in training examples (default: one epoch): the dead count covers it, and with revive or prune each check scans this many training examples',
      positiveInt('--dead-window'),
    )
    .option('--dormant-tau <x>', 'revive or prune dormant units too: ReDo score ≤ τ (0: dead units only)', nonNegative('--dormant-tau'), 0)
    .option('--revive-grace <n>', 'steps a revived unit is spared the --l1 penalty', nonNegativeInt('--revive-grace'), 0)
    .option('--dead-alarm <f>', "warn once when a hidden layer's dead fraction reaches f", fraction('--dead-alarm'), DEFAULT_DEAD_ALARM.threshold)
    .option('--stop-on-dead-layer', 'stop with an error (exit code 3) at the first dead-layer alarm, saving as an interrupt does', false)
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
    ['maxNorm', '--max-norm', cfg.maxNorm ?? 0],
    ['dropout', '--dropout', cfg.dropout?.hidden ?? 0],
    ['inputDropout', '--input-dropout', cfg.dropout?.input ?? 0],
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

/** e.g. "dropout 0.5, input dropout 0.2". */
const describeDropout = (d: RunDropout) => [d.hidden ? `dropout ${d.hidden}` : '', d.input ? `input dropout ${d.input}` : ''].filter(Boolean).join(', ');

/** Exit code of a run stopped by --stop-on-dead-layer (1 is any other error, 130 an interrupt). */
export const DEAD_LAYER_EXIT = 3;

/**
 * The dead-unit settings: each flag as given on the command line, else the checkpoint's
 * (on --resume), else the flag's default. --stop-on-dead-layer is the exception: it is
 * this run's choice alone (as --no-telemetry is), so a run it stopped can be resumed
 * without stopping again at once. Combinations that cannot work are refused by flag.
 */
function deadUnitsFrom(flags: TrainFlags, given: (key: string) => boolean, saved: RunDeadUnits | undefined, l1: number): RunDeadUnits {
  const pick = <T>(key: keyof TrainFlags, mine: T, theirs: T | undefined): T => (given(key) || theirs === undefined ? mine : theirs);
  const d: RunDeadUnits = {
    policy: pick('deadUnits', flags.deadUnits, saved?.policy),
    tau: pick('dormantTau', flags.dormantTau, saved?.tau),
    grace: pick('reviveGrace', flags.reviveGrace, saved?.grace),
    alarm: pick('deadAlarm', flags.deadAlarm, saved?.alarm),
    stop: flags.stopOnDeadLayer,
  };
  const window = pick('deadWindow', flags.deadWindow, saved?.window);
  if (window !== undefined) d.window = window;
  if (d.grace > 0 && d.policy !== 'revive') throw new Error(`--revive-grace spares revived units: it needs --dead-units revive (not ${d.policy})`);
  if (d.tau > 0 && d.policy === 'keep') throw new Error('--dormant-tau chooses the units revive or prune act on: it needs --dead-units revive or prune');
  if (d.grace > 0 && l1 === 0) console.error('warning: --revive-grace spares revived units the --l1 penalty, and there is none: it has no effect');
  return d;
}

/** An alarm's advice in flags rather than library options. */
const forCli = (message: string) =>
  message
    .replace('lower the learning rate or clip the gradient', 'lower --lr, or clip the gradient with --clip')
    .replace('check the init scale, the input centring and the biases', 'check --init, the input centring and the biases');

const isDefaultDead = (d: RunDeadUnits) =>
  d.policy === 'keep' && d.window === undefined && d.tau === 0 && d.grace === 0 && d.alarm === DEFAULT_DEAD_ALARM.threshold && !d.stop;

/** A one-line account of one dead-unit check that changed something, or undefined. */
function checkLine(c: DeadUnitCheck): string | undefined {
  const any = (a: number[]) => a.some((x) => x > 0);
  if (any(c.revived)) {
    return `step ${c.step}: revived ${c.revived.join(' ')} units dead on ${c.examples} scanned examples${any(c.redied) ? ` (${c.redied.join(' ')} of them revived before)` : ''}`;
  }
  if (any(c.pruned))
    return `step ${c.step}: pruned ${c.pruned.join(' ')} units dead on ${c.examples} scanned examples; hidden layers now ${c.widths.join(',')}`;
  return undefined;
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
    maxNorm: flags.maxNorm || undefined,
    dropout: runDropout(flags.dropout, flags.inputDropout),
    seed: flags.seed,
    telemetry: flags.telemetry,
  });
}

async function train(flags: TrainFlags, given: (key: string) => boolean = () => false): Promise<void> {
  // With --json - the JSON alone goes to stdout; every line for people goes to stderr.
  const out = flags.json === '-' ? process.stderr : process.stdout;
  const log = (s: string) => flags.quiet || console.error(wrapParts([s]).join('\n'));
  // Schedule flags that cannot go together are refused before anything is loaded (lengths
  // are checked against the run once its size is known).
  if (!flags.resume) scheduleFromFlags(flags, 1, Number.MAX_SAFE_INTEGER);
  // --sparse is the CPU backend's: refused where the backend is sure to be WebGPU.
  if (flags.backend === 'webgpu' && flags.sparse !== undefined && flags.sparse !== 'auto')
    throw new Error(`--sparse ${flags.sparse} applies to the CPU backend only: drop it, or train with --backend cpu`);
  if (flags.checkpointEvery && !flags.save) throw new Error('--checkpoint-every needs --save FILE: the file the checkpoints go to');
  // Outputs are checked before any data is loaded or step is run.
  if (flags.save !== undefined) checkOutputPath('--save', flags.save);
  if (flags.json !== undefined && flags.json !== '-') checkOutputPath('--json', flags.json);
  if (flags.save !== undefined && flags.json !== undefined && resolve(flags.save) === resolve(flags.json))
    throw new Error(`--save and --json both name ${flags.save}: give each its own file`);
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
  const dead = deadUnitsFrom(flags, given, cfg.deadUnits, cfg.l1);
  // The alarm reads the per-step telemetry; only a policy's checks (their scans) feed it without.
  if (!cfg.telemetry && dead.policy === 'keep' && (dead.stop || given('deadAlarm'))) {
    const why =
      'warning: with --no-telemetry and --dead-units keep nothing feeds the dead-layer alarm: drop --no-telemetry, or use --dead-units revive or prune';
    console.error(wrapParts([why], 80).join('\n'));
  }
  cfg = { ...cfg };
  // Recorded in the checkpoint's config when not the defaults, so that --resume carries on alike.
  if (isDefaultDead(dead)) delete cfg.deadUnits;
  else cfg.deadUnits = dead;
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

  const { backend, note } = await createBackend(flags.backend, { cpu: { sparse: flags.sparse } });
  log(note);
  if (backend.kind !== 'cpu' && flags.sparse !== undefined && flags.sparse !== 'auto')
    console.error(`warning: --sparse ${flags.sparse} is ignored: it applies to the CPU backend, and this run is on ${backend.kind}`);
  if (dead.policy !== 'keep' && model.hidden.length === 0) throw new Error(`--dead-units ${dead.policy} needs hidden layers: give some with --layers`);
  const perEpoch = Math.floor(trainSet.examples / cfg.batch);
  const steps = flags.steps ?? flags.epochs * perEpoch;
  const startStep = resume?.step ?? 0;
  if (resume) {
    // The checkpoint's schedule goes on counting from its step; a cosine ends where it was planned to.
    const s = cfg.lrSchedule;
    const flagged = (['lrSchedule', 'lrStepEvery', 'lrGamma', 'warmup'] as const).filter((k) => given(k));
    if (flagged.length) {
      let theirs: LrSchedule | undefined;
      try {
        theirs = scheduleFromFlags(flags, perEpoch, steps);
      } catch {
        theirs = undefined;
      }
      if (JSON.stringify(theirs) !== JSON.stringify(s)) {
        const names = flagged.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
        console.error(`warning: --resume ignores ${names}: the checkpoint's schedule (${describeSchedule(s)}) is used`);
      }
    }
    if (s.kind === 'cosine' && steps > s.total) {
      throw new Error(
        `the checkpoint's cosine schedule reaches 0 at step ${s.total} (the run it began was planned for ${s.total} steps): ask for --steps ${s.total} or fewer, or --epochs ${Math.floor(s.total / perEpoch)}`,
      );
    }
  } else cfg = { ...cfg, lrSchedule: scheduleFromFlags(flags, perEpoch, steps) };
  const options = {
    batch: cfg.batch,
    l1: cfg.l1,
    telemetry: cfg.telemetry,
    optimizer: cfg.optimizer,
    maxNorm: cfg.maxNorm ?? 0,
    dropout: cfg.dropout,
    lr: cfg.lr,
    lrSchedule: cfg.lrSchedule,
    shuffleSeed: cfg.seed,
    deadUnits: dead.policy,
    deadWindow: dead.window,
    dormantTau: dead.tau,
    reviveGrace: dead.grace,
    deadAlarm: dead.alarm,
    stopOnDeadLayer: dead.stop,
  };
  const flopsOf = (m: ModelSpec) => {
    const f = flopsPerExample(paramLayout(m));
    return f.forward + f.backward;
  };
  const flopsPerEx = flopsOf(model);
  log(
    `model ${describeModel(model)}, ${(flopsPerEx / 1e6).toFixed(2)} MFLOP per training example; ` +
      `${trainSet.name}: ${trainSet.examples} examples, ${testSet.name}: ${testSet.examples}; ` +
      `${cfg.optimizer.kind} lr ${cfg.lr}${cfg.lrSchedule.kind === 'constant' ? '' : ` (${describeSchedule(cfg.lrSchedule)})`}, batch ${cfg.batch}${cfg.l1 ? `, L1 ${cfg.l1}` : ''}${cfg.maxNorm ? `, max-norm ${cfg.maxNorm}` : ''}${cfg.dropout ? `, ${describeDropout(cfg.dropout)}` : ''}; ` +
      (startStep ? `steps ${startStep + 1}–${steps} of ${steps}` : `${steps} steps`),
  );
  if (resume && resume.step >= steps) throw new Error(`the checkpoint is already at step ${resume.step} ≥ ${steps}: ask for more --epochs or --steps`);

  const every = flags.checkpointEvery ? ('steps' in flags.checkpointEvery ? flags.checkpointEvery.steps : flags.checkpointEvery.epochs * perEpoch) : 0;

  const bar = progress(steps, { quiet: flags.quiet, plainEvery: Math.max(1, Math.round((steps - startStep) / 20)), startAt: startStep });
  const epochLines = (r: EpochRecord) =>
    wrapParts(
      [
        `epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}`,
        `test loss ${r.testLoss.toFixed(4)}`,
        `test error ${(100 * r.testError).toFixed(2)}%`,
        ...(r.sparsity.length ? [`sparsity ${r.sparsity.map((x) => `${(100 * x).toFixed(1)}%`).join(' ')}`, `dead ${r.deadUnits.join(' ')}`] : []),
        // Pruned: the widths now, and the arithmetic of the smaller model.
        ...(r.widths.join() !== model.hidden.join() ? [`layers ${r.widths.join(',')}`] : []),
        `${r.examplesPerSecond.toFixed(0)} ex/s (${((r.examplesPerSecond * flopsOf({ ...model, hidden: r.widths })) / 1e9).toFixed(2)} GFLOP/s)`,
      ],
      80,
    ).join('\n');

  // What the JSON holds, kept here so that a run that stops early still reports it.
  const epochs: EpochRecord[] = [];
  const sampled: StepStats[] = [];
  const sampleEvery = Math.max(1, Math.ceil(steps / 1000));
  let lastSaved: number | undefined;
  const save = async (trainer: Trainer) => {
    if (!flags.save || lastSaved === trainer.step) return;
    saveCheckpoint(flags.save, await trainer.state({ ...cfg }));
    lastSaved = trainer.step;
  };
  // The trainer, once made (for the JSON, and for a save when a dead layer stops the run).
  let live: Trainer | undefined;
  const checks: DeadUnitCheck[] = [];
  // The plan's buffers, once a trainer exists: { buffers, totalBytes, largestBindingBytes }.
  let memoryOf: (() => unknown) | undefined;
  const writeJson = (extra: Record<string, unknown>) => {
    if (!flags.json) return;
    // After pruning, the model as it is now (as saved), with fewer units.
    const now = live?.model ?? model;
    const json = {
      backend: backend.kind,
      adapter: backend.adapter,
      model: now,
      config: cfg,
      flopsPerExample: flopsOf(now),
      // The kernel each matmul product ran with (chosen by measurement on hardware adapters).
      // On the CPU: the sparse-path mode, and per product the path its steps took and the density they saw.
      ...(backend instanceof CpuBackend ? { sparseMode: backend.sparseMode } : {}),
      kernels: matmulProducts(now, cfg.batch).map((p) => {
        const sparse = backend instanceof CpuBackend ? sparseProductReport(backend, p.op, p.layer) : undefined;
        return {
          op: p.op,
          layer: p.layer + 1,
          shape: [p.shape.M, p.shape.N, p.shape.K],
          kernel: backend.kind === 'cpu' ? 'cpu' : (backend.tuning.matmulChoice?.(p.shape)?.name ?? registerCandidate(backend.tuning.matmul).name),
          ...(sparse ? { sparse } : {}),
        };
      }),
      ...(memoryOf ? { memory: memoryOf() } : {}),
      epochs,
      steps: sampled,
      final: epochs[epochs.length - 1],
      // Per hidden layer revived, pruned and re-died totals, the alarms raised, and each check.
      ...(live ? { deadUnits: live.deadUnitsReport } : {}),
      deadChecks: checks,
      ...extra,
    };
    const text = JSON.stringify(json, null, 1) + '\n';
    if (flags.json === '-') process.stdout.write(text);
    else writeFileAtomic(flags.json, text);
  };
  const loseDeviceAt = Number(process.env.RECTIGRAD_TEST_LOSE_DEVICE_AT_STEP) || 0;
  const interrupt = catchInterrupts(
    (line) => (flags.quiet ? console.error(line) : bar.log(line)),
    () => {
      if (backend instanceof WebGpuBackend) backend.ctx.device.destroy();
    },
  );
  const say = (line: string) => (flags.quiet ? console.error(line) : bar.log(line));
  /** Saves the steps done (once finite) when a run ends early: what the checkpoint then holds, in words. */
  const saveOnStop = async (t: Trainer): Promise<string> => {
    if (!flags.save) return '';
    const state = await t.state({ ...cfg });
    if (!state.params.every(Number.isFinite)) return `the parameters are no longer finite, so ${flags.save} keeps step ${lastSaved ?? 'none'}`;
    if (lastSaved !== t.step) saveCheckpoint(flags.save, state);
    lastSaved = t.step;
    return `checkpoint (step ${t.step}) written to ${flags.save}`;
  };
  let result: RunResult;
  let lastStep = startStep;
  let lastTurn = performance.now();
  try {
    result = await trainRun(
      backend,
      model,
      options,
      trainSet,
      testSet,
      { steps, resume, sampleEvery, every },
      {
        onStart: (t) => {
          live = t;
        },
        onStep: async (s) => {
          lastStep = s.step;
          if (s.step % sampleEvery === 0) sampled.push(s);
          // Alarms are warnings, printed whatever --quiet says, each layer's once; with
          // --stop-on-dead-layer the error that ends the run says it instead.
          if (!dead.stop) for (const a of s.alarms ?? []) say(wrapParts([`warning: ${forCli(a.message)}`], 80).join('\n'));
          if (s.deadCheck) {
            checks.push(s.deadCheck);
            const line = checkLine(s.deadCheck);
            if (line && !flags.quiet) bar.log(wrapParts([line], 80).join('\n'));
          }
          bar.update(s);
          // Test hook: lose the GPU device as a driver reset would, after this step.
          if (loseDeviceAt && s.step === loseDeviceAt && backend instanceof WebGpuBackend) backend.ctx.device.destroy();
          // A step on the CPU never leaves the microtask queue, where signals cannot land:
          // step out to the event loop now and then (every 50 ms) so Ctrl-C is heard.
          if (performance.now() - lastTurn > 50) {
            await new Promise((r) => setImmediate(r));
            lastTurn = performance.now();
          }
        },
        onEvery: async (trainer) => {
          memoryOf ??= () => trainer.plan.memory;
          await save(trainer);
        },
        onEpoch: async (r, trainer) => {
          memoryOf ??= () => trainer.plan.memory;
          epochs.push(r);
          // Each epoch's summary is printed once, as it happens (--quiet: the last one, at the end).
          bar.log(epochLines(r), out);
          await save(trainer);
        },
        shouldStop: () => interrupt.signal !== undefined,
      },
    );
  } catch (e) {
    bar.stop();
    interrupt.dispose();
    const kept = flags.save
      ? lastSaved !== undefined
        ? `the last good checkpoint (step ${lastSaved}) is ${flags.save}`
        : `no checkpoint was written yet`
      : undefined;
    if (e instanceof DeadLayerError && live) {
      // As an interrupt: the steps done are saved (the layer as it died), the run so far written.
      const saved = await saveOnStop(live);
      writeJson({ stoppedOnDeadLayer: e.alarm });
      const others = live.deadUnitsReport.alarms.filter((a) => a !== e.alarm);
      const lines = [
        `rectigrad: stopped at step ${live.step} (--stop-on-dead-layer): ${forCli(e.alarm.message)}.`,
        ...others.map((a) => `Also ${forCli(a.message)}.`),
        saved ? `${saved[0].toUpperCase()}${saved.slice(1)}.` : 'Nothing was saved (no --save).',
        flags.save
          ? `To carry on, --resume ${flags.save} with --dead-units revive; or start again with a lower --lr.`
          : 'Start again with a lower --lr, or with --dead-units revive.',
      ];
      console.error(lines.flatMap((l) => wrapParts([l], 80)).join('\n'));
      backend.destroy();
      process.exitCode = DEAD_LAYER_EXIT;
      return;
    }
    if (e instanceof TrainingDivergedError) {
      // The library names its options; here they are flags.
      const said = `training diverged at step ${e.step}: ${e.detail}. Lower the learning rate (--lr) or enable clipping (--clip).`;
      writeJson({ diverged: { step: e.step, message: said } });
      throw new Error(`${said}${kept ? ` Nothing was overwritten: ${kept}.` : ''}`);
    }
    if (backend instanceof WebGpuBackend && (e instanceof DeviceLostError || (await deviceLost(backend)))) {
      // Parameters live on the GPU, so nothing can be read back from a lost device: what
      // survives is the last checkpoint (every --checkpoint-every steps, and each epoch).
      writeJson({ deviceLost: { afterStep: lastStep, message: (e as Error).message } });
      throw new Error(
        `the GPU device was lost after step ${lastStep} (${deviceLostReason(e)}). ` +
          (kept
            ? `Checkpoint: ${kept}; continue with --resume ${flags.save}.`
            : 'Nothing was saved: run with --save FILE (and --checkpoint-every N) to be able to continue.'),
      );
    }
    throw e;
  }
  interrupt.dispose();
  bar.stop();
  const trainer = result.trainer;
  memoryOf ??= () => trainer.plan.memory;
  const ran = trainer.step - startStep;
  if (result.stopped) {
    // Stopped by a signal: save the steps done (the ones in flight included, once finite).
    const saved = await saveOnStop(trainer);
    writeJson({ interrupted: { signal: interrupt.signal, step: trainer.step } });
    const where = [saved, flags.json && flags.json !== '-' ? `the run so far written to ${flags.json}` : ''].filter(Boolean);
    out.write(
      wrapParts([
        `interrupted by ${interrupt.signal} at step ${trainer.step} (${ran} this run, ${formatDuration(result.seconds)} training)`,
        ...where,
        ...(flags.save ? [`continue with --resume ${flags.save}`] : ['nothing was saved (no --save)']),
      ]).join('\n') + '\n',
    );
    backend.destroy();
    process.exitCode = interrupt.exitCode;
    return;
  }
  const final = result.final!;
  if (flags.quiet) out.write(epochLines(final) + '\n');
  out.write(
    wrapParts(
      [
        `${startStep ? `steps ${startStep + 1}–${trainer.step} (${ran} this run)` : `${ran} steps`}, ${formatDuration(result.seconds)} training: ` +
          `${((ran * cfg.batch) / Math.max(result.seconds, 1e-9)).toFixed(0)} examples/s on ${backend.adapter}`,
        ...(flags.save ? [`checkpoint ${flags.save}`] : []),
      ],
      80,
    ).join('\n') + '\n',
  );
  const report = trainer.deadUnitsReport;
  if (report.policy !== 'keep' || report.alarms.length) {
    const acted =
      report.policy === 'revive'
        ? `revived ${report.revived.join(' ')}, re-died ${report.redied.join(' ')}`
        : report.policy === 'prune'
          ? `pruned ${report.pruned.join(' ')}, hidden layers now ${report.widths.join(',')}`
          : 'kept';
    const alarms = report.alarms.length
      ? `${report.alarms.length} dead-layer alarm${report.alarms.length > 1 ? 's' : ''} (layer ${report.alarms.map((a) => a.layer).join(', ')})`
      : 'no alarm';
    out.write(wrapParts([`dead units (${report.policy}, ${report.checks} checks): ${acted}`, alarms], 80).join('\n') + '\n');
  }
  writeJson({});
  backend.destroy();
}

/** Whether the device went away (its `lost` promise settles promptly once it has). */
async function deviceLost(b: WebGpuBackend): Promise<boolean> {
  return Promise.race([b.ctx.device.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]);
}

/** "destroyed: device was destroyed" out of the backend's longer message. */
function deviceLostReason(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const lost = /lost \((\w+)\): (.*?)(\. Restart the run.*)?$/.exec(m);
  return lost ? `${lost[1]}: ${lost[2]}` : m;
}
