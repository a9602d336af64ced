// One training run on the page: a WorkerTrainer (the backend, trainer and test-set
// evaluator live in a Web Worker, so no step blocks the page), the loop that trains in
// slices ending at epoch boundaries, the occasional read-back of activations and
// weights, and checkpoints.
import {
  describeModel,
  flopsPerExample,
  modelSpec,
  paramLayout,
  DEFAULT_LR,
  DEFAULT_OPTIMIZER,
  parseRunConfig,
  runConfig,
  type Activation,
  type Dataset,
  type LrSchedule,
  type ModelSpec,
  type OptimizerConfig,
  type RunConfig as CheckpointRunConfig,
  type StepStats,
  type DeadLayerAlarm,
  type DeadUnitPolicy,
} from '../src/index.ts';
import { runDropout } from '../src/io/checkpoint-config.ts';
import { DEFAULT_DEAD_ALARM } from '../src/train/dead-alarm.ts';
import { limitDataset } from '../src/data/dataset.ts';
import type { Init } from '../src/model/spec.ts';
import { encodeCheckpoint, type CheckpointState } from '../src/io/checkpoint.ts';
import { DeviceLostError } from '../src/backend/webgpu/lost.ts';
import { WorkerTrainer } from '../src/train/worker/worker-trainer.ts';
import { History } from './history.ts';
import { TestTally, windowActivity, type TestMeasure, type UnitActivity } from './unit-activity.ts';

export type RunId = 'A' | 'B';
export type BackendKind = 'webgpu' | 'cpu';

export interface RunConfig {
  hidden: number[];
  activation: Activation;
  init: Init;
  /** L1 activation penalty λ. */
  l1: number;
  optimizer: OptimizerConfig;
  lr: number;
  /** The schedule of a run loaded from a checkpoint (the page's own runs train at a constant rate). */
  lrSchedule?: LrSchedule;
  batch: number;
  /** The first n training examples (60000: all of MNIST). */
  trainExamples: number;
  /** The first n test examples evaluated after each epoch. */
  testExamples: number;
  epochs: number;
  seed: number;
  /** What the trainer does about dead units at the end of each dead-unit window (an epoch). */
  deadUnits: DeadUnitPolicy;
  /** Inverted dropout while training: drop probability of each hidden output, of each pixel (0: off). */
  dropout: number;
  inputDropout: number;
  /** After each update, each unit's incoming weights rescaled to at most this L2 norm (0: off). */
  maxNorm: number;
}

export { DEFAULT_LR };

export const DEFAULT_CONFIG: RunConfig = {
  hidden: [256, 256],
  activation: 'relu',
  init: 'glorot',
  l1: 0,
  optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' },
  lr: DEFAULT_LR.sgd,
  batch: 64,
  trainExamples: 60000,
  testExamples: 10000,
  epochs: 10,
  seed: 1,
  deadUnits: 'keep',
  dropout: 0,
  inputDropout: 0,
  maxNorm: 0,
};

/** What the read-back views show: the latest batch's activations and layer 1's weights. */
export interface Inspection {
  step: number;
  /** Per hidden layer: batch × units post-activation values (empty before the first step). */
  acts: Float32Array[];
  /** The first `units` units' incoming weights, units × inputs. */
  weights: Float32Array;
  units: number;
  inputs: number;
  /** Per shown unit: 1 when it has been exactly 0 for every example of the window so far. */
  dead?: Uint8Array;
}

/** A revive, a prune or an alarm, at the step whose stats carried it (marked on the charts). */
export interface RunEvent {
  step: number;
  kind: 'revive' | 'prune' | 'alarm';
  /** Short label for the chart marker. */
  label: string;
}

/** What one dead-unit check found and did (the stats' deadCheck, per hidden layer). */
export interface CheckSummary {
  step: number;
  dead: number[];
  revived: number[];
  pruned: number[];
  widths: number[];
}

/** 'lost': the GPU device went away; reopen() continues on a new one from the kept state. */
export type RunState = 'ready' | 'running' | 'paused' | 'done' | 'error' | 'lost';

/** Units of the first layer shown as images. */
export const WEIGHT_UNITS = 64;

/**
 * How often the page keeps the trainer's state (params, optimiser moments, window flags,
 * step): at every epoch's end, every KEEP_EVERY steps within an epoch, and on pause.
 * Parameters live on the device, so once it is lost nothing can be read back: only a
 * state kept before the loss lets the run continue.
 */
export const KEEP_EVERY = 200;

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Run {
  state: RunState = 'ready';
  error?: string;
  /** Why the device was lost (state 'lost'). */
  lost?: string;
  /** The last trainer state kept in the page (see KEEP_EVERY). */
  kept?: CheckpointState;
  latest?: StepStats;
  inspection?: Inspection;
  /** Per-unit activity of every hidden layer (window flags and latest batch, or test images): the unit maps. */
  unitActivity?: UnitActivity;
  /** Alarms raised so far (at most one per hidden layer), in order. */
  alarms: DeadLayerAlarm[] = [];
  /** What each dead-unit check found and did (deadUnits revive or prune). */
  checks: CheckSummary[] = [];
  /** Revives, prunes and alarms, for the chart markers. */
  events: RunEvent[] = [];
  /** The latest measurement on the test set (measureTest). */
  testMeasure?: TestMeasure;
  /** The model as the trainer has it now: after a prune, the smaller one. */
  model: ModelSpec;
  /** The shown units' weights when the run was built (or loaded), for the change view. */
  initialWeights?: Float32Array;
  readonly history: History;
  /** Steps per slice: adapted so a slice takes ~250 ms (the worker trains; the page only draws). */
  slice: number;
  /** Called when stats, views or the state change. */
  onChange: () => void = () => {};
  /** Called for each alarm and each check that revived or pruned units, as their stats arrive. */
  onDeadUnits: (what: { alarm?: DeadLayerAlarm; check?: CheckSummary }) => void = () => {};
  private chain: Promise<unknown> = Promise.resolve();
  /** Steps and milliseconds of the latest slices (evaluation and read-backs excluded). */
  private timing: { steps: number; ms: number }[] = [];
  private lastInspect = { step: -1, time: 0 };
  private destroyed = false;

  private constructor(
    readonly id: RunId,
    readonly config: RunConfig,
    /** The model the run was built (or loaded) with. */
    readonly initialModel: ModelSpec,
    /** Replaced by reopen() after a lost device. */
    public trainer: WorkerTrainer,
    readonly startStep: number,
    private readonly data: { train: Dataset; test: Dataset },
  ) {
    this.model = initialModel;
    this.history = new History(startStep, initialModel.hidden.length, initialModel.hidden.length + 1);
    this.slice = trainer.info.backend === 'cpu' ? 1 : 4;
  }

  /** Start the worker, build the backend and upload the model and data; `resume` continues a checkpoint. */
  static async create(id: RunId, config: RunConfig, kind: BackendKind, data: { train: Dataset; test: Dataset }, resume?: CheckpointState): Promise<Run> {
    const cfg = { ...config, hidden: [...config.hidden], optimizer: { ...config.optimizer } };
    const model =
      resume?.model ??
      modelSpec({ inputs: data.train.features, classes: data.train.classes, hidden: cfg.hidden, activation: cfg.activation, init: cfg.init, seed: cfg.seed });
    if (model.inputs !== data.train.features) {
      throw new Error(`this network takes ${model.inputs} inputs, but the page trains on MNIST images of ${data.train.features} pixels`);
    }
    const trainer = await startTrainer(kind, model, cfg, data, resume);
    try {
      const run = new Run(id, cfg, model, trainer, trainer.step, data);
      // A loaded checkpoint is a state kept already.
      run.kept = resume;
      await run.inspect();
      run.initialWeights = run.inspection!.weights;
      return run;
    } catch (e) {
      await trainer.destroy();
      throw e;
    }
  }

  get step() {
    return this.trainer.step;
  }
  get epoch() {
    return this.trainer.epoch;
  }
  get finished() {
    return this.trainer.epoch >= this.config.epochs;
  }
  get backendKind(): BackendKind {
    return this.trainer.info.backend;
  }
  get adapter(): string {
    return this.trainer.info.adapter;
  }
  /**
   * Training throughput over the latest slices, wall-clock from the first enqueue to the
   * last stats of each slice (the per-step figure in StepStats comes from enqueue times
   * and overstates short slices, whose first steps enqueue at once).
   */
  get examplesPerSecond(): number | undefined {
    const steps = this.timing.reduce((s, t) => s + t.steps, 0);
    const ms = this.timing.reduce((s, t) => s + t.ms, 0);
    return steps && ms > 0 ? (steps * this.config.batch * 1000) / ms : undefined;
  }
  get description() {
    return describeModel(this.model);
  }
  get flopsPerExample(): number {
    const f = flopsPerExample(paramLayout(this.model));
    return f.forward + f.backward;
  }

  /** The learning rate from the next step on (the worker reads it every step). */
  setLearningRate(lr: number): void {
    this.config.lr = lr;
    void this.trainer.setLearningRate(lr);
  }

  /** Run fn when no slice is in progress (slices, saving and reading back never overlap). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.chain.then(fn);
    this.chain = r.catch(() => undefined);
    return r;
  }

  /** Train slice after slice until `signal` aborts (mid-slice: after the worker's current step) or the epochs are done. */
  async train(signal: AbortSignal): Promise<void> {
    if (this.state === 'error' || this.state === 'lost' || this.destroyed) return;
    this.state = 'running';
    this.onChange();
    try {
      while (!signal.aborted && !this.finished && !this.destroyed) {
        await this.exclusive(() => this.runSlice(signal));
      }
      if (this.state === 'running') this.state = this.finished ? 'done' : 'paused';
      if (this.state === 'paused') await this.exclusive(() => this.keep());
    } catch (e) {
      if (this.destroyed) {
        // Ended on purpose: nothing to report.
      } else if (e instanceof DeviceLostError) {
        this.state = 'lost';
        this.lost = lostReason(e);
      } else {
        this.state = 'error';
        this.error = errorText(e);
      }
    }
    this.onChange();
  }

  /** Keep the trainer's state in the page, to continue from if the device is lost. */
  private async keep(): Promise<void> {
    // Only a GPU device can be lost: a CPU run has nothing to keep.
    if (this.backendKind !== 'webgpu' || this.kept?.step === this.trainer.step) return;
    this.kept = await this.trainer.state({ ...this.checkpointConfig() });
  }

  /**
   * After a lost device: a new worker on a new adapter and device, restored from the kept
   * state (or from scratch when none was kept). The history after that step is dropped,
   * since those steps are trained again.
   */
  async reopen(): Promise<void> {
    const old = this.trainer;
    const from = this.kept?.step ?? this.startStep;
    // A pruned run's kept state holds the smaller model.
    const model = this.kept?.model ?? this.initialModel;
    this.trainer = await startTrainer(this.backendKind, model, this.config, this.data, this.kept);
    // The old worker's device is gone; it should answer at once, but never wait on it long.
    await Promise.race([old.destroy(), new Promise((r) => setTimeout(r, 2000))]);
    this.model = model;
    this.history.truncate(from);
    this.alarms = this.alarms.filter((a) => a.step <= from);
    this.checks = this.checks.filter((c) => c.step <= from);
    this.events = this.events.filter((e) => e.step <= from);
    this.unitActivity = undefined;
    this.latest = undefined;
    this.timing = [];
    this.lastInspect = { step: -1, time: 0 };
    this.state = this.finished ? 'done' : 'paused';
    this.lost = undefined;
    await this.inspect();
    this.onChange();
  }

  private async runSlice(signal: AbortSignal): Promise<void> {
    const t = this.trainer;
    const per = t.stepsPerEpoch;
    // Slices end at epoch boundaries, where the test set is evaluated.
    const n = Math.max(1, Math.min(this.slice, per - (t.step % per)));
    const t0 = performance.now();
    const from = t.step;
    for await (const s of t.run(n, { signal })) {
      this.history.push(s);
      this.latest = s;
      this.observeDeadUnits(s);
      this.onChange();
    }
    const ran = t.step - from;
    const ms = performance.now() - t0;
    if (ran === n) {
      this.timing.push({ steps: n, ms });
      if (this.timing.length > 12) this.timing.shift();
      const want = Math.round((n * 250) / Math.max(1, ms));
      this.slice = Math.max(1, Math.min(64, Math.round((this.slice + want) / 2)));
    }
    if (ran > 0 && t.step % per === 0) {
      const ev = await t.evaluate();
      this.history.epochs.push({ epoch: t.epoch, step: t.step, testError: ev.error, testLoss: ev.loss });
    }
    if (ran > 0 && (t.step % per === 0 || t.step - (this.kept?.step ?? this.startStep) >= KEEP_EVERY)) await this.keep();
    // The views are read back now and then: every 50 steps, or twice a second when steps are slow.
    const now = performance.now();
    const since = t.step - this.lastInspect.step;
    if (since >= 50 || (since >= 5 && now - this.lastInspect.time > 500) || (since > 0 && now - this.lastInspect.time > 2000)) {
      await this.inspect();
    }
    this.onChange();
  }

  /** The alarms and the dead-unit check a step's stats carry: kept, marked, and after a prune the smaller model. */
  private observeDeadUnits(s: StepStats): void {
    for (const alarm of s.alarms ?? []) {
      this.alarms.push(alarm);
      this.events.push({ step: s.step, kind: 'alarm', label: `layer ${alarm.layer} dead` });
      this.onDeadUnits({ alarm });
    }
    const c = s.deadCheck;
    if (!c) return;
    const check: CheckSummary = { step: s.step, dead: c.dead, revived: c.revived, pruned: c.pruned, widths: c.widths };
    this.checks.push(check);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    if (sum(c.revived) > 0) this.events.push({ step: s.step, kind: 'revive', label: `revived ${sum(c.revived)}` });
    if (sum(c.pruned) > 0) {
      this.events.push({ step: s.step, kind: 'prune', label: `pruned ${sum(c.pruned)}` });
      this.model = { ...this.model, hidden: c.widths.slice() };
      // Rows moved: the change view has nothing to compare with any more.
      this.initialWeights = undefined;
    }
    if (sum(c.revived) > 0 || sum(c.pruned) > 0) this.onDeadUnits({ check });
  }

  /** Read back the latest activations of every hidden layer and the first layer's weights. */
  private async inspect(): Promise<void> {
    const { trainer } = this;
    const H = this.model.hidden.length;
    const inputs = this.model.inputs;
    // Before the first step the activation buffers hold nothing yet.
    const acts = trainer.step > 0 && this.latest ? await trainer.activations() : [];
    const units = Math.min(WEIGHT_UNITS, this.model.hidden[0] ?? this.model.classes);
    const weights = await trainer.weights(0, units);
    // The window flags say something once a step ran in the window: every hidden layer's
    // for the unit maps, layer 1's also for the weight tiles.
    let dead: Uint8Array | undefined;
    if (this.latest && H > 0) {
      const flags = await Promise.all(this.model.hidden.map((_, h) => trainer.activeInWindow(h)));
      dead = Uint8Array.from(flags[0].subarray(0, units), (a) => 1 - a);
      this.unitActivity = windowActivity(trainer.step, flags, acts);
    }
    this.inspection = { step: trainer.step, acts, weights, units, inputs, dead };
    this.lastInspect = { step: trainer.step, time: performance.now() };
  }

  /**
   * Measure the network as it is on the first `limit` test images, in passes of `rows`
   * (predictions with the hidden activations, in the worker): test error, loss, sparsity,
   * and per unit how many images it fired on. `unitActivity` and `testMeasure` follow
   * each pass, so the page shows the figures as they build up. A complete measurement
   * becomes the test-error point of the current epoch.
   */
  measureTest(limit: number, rows = 500): Promise<TestMeasure> {
    return this.exclusive(async () => {
      const test = this.data.test;
      const n = Math.min(limit, test.examples);
      const model = this.model;
      const F = model.inputs;
      const tally = new TestTally(model.hidden.slice(), n);
      const x = new Float32Array(rows * F);
      let measure = tally.measure(this.step);
      for (let r0 = 0; r0 < n && !this.destroyed; r0 += rows) {
        const k = Math.min(rows, n - r0);
        const px = test.images.subarray(r0 * F, (r0 + k) * F);
        const inputs = k === rows ? x : x.subarray(0, k * F);
        for (let i = 0; i < inputs.length; i++) inputs[i] = px[i] * test.scale + test.shift;
        const p = await this.trainer.predict(inputs, { hidden: true });
        tally.add(k, p.classes, p.probabilities, p.hidden!, test.labels.subarray(r0, r0 + k));
        measure = tally.measure(this.step);
        this.testMeasure = measure;
        this.unitActivity = tally.activity(this.step);
        this.onChange();
      }
      if (measure.done && !this.history.epochs.some((e) => e.step === this.step)) {
        this.history.epochs.push({ epoch: this.epoch, step: this.step, testError: measure.error, testLoss: measure.loss });
        this.onChange();
      }
      return measure;
    });
  }

  /** The training settings as the CLI's checkpoints hold them (so `rectigrad train --resume` continues a page's run). */
  checkpointConfig(): CheckpointRunConfig {
    const c = this.config;
    // The CLI's schema, built and checked by the library (src/io/checkpoint-config.ts).
    return runConfig({
      data: 'mnist',
      trainLimit: c.trainExamples < 60000 ? c.trainExamples : undefined,
      testLimit: c.testExamples < 10000 ? c.testExamples : undefined,
      batch: c.batch,
      lr: c.lr,
      lrSchedule: c.lrSchedule,
      l1: c.l1,
      optimizer: c.optimizer,
      seed: c.seed,
      epochs: c.epochs,
      telemetry: true,
      // Recorded only when not the default, as the CLI does.
      deadUnits: c.deadUnits === 'keep' ? undefined : { policy: c.deadUnits, tau: 0, grace: 0, alarm: DEFAULT_DEAD_ALARM.threshold, stop: false },
      dropout: runDropout(c.dropout, c.inputDropout),
      maxNorm: c.maxNorm || undefined,
    });
  }

  /** A safetensors checkpoint of the run as it is between two slices (after a lost device: the state kept last). */
  save(): Promise<{ bytes: Uint8Array; step: number }> {
    return this.exclusive(async () => {
      if (this.state === 'lost' && !this.kept) throw new Error('the GPU device was lost before the page kept any state: there is nothing to save');
      const s = this.state === 'lost' ? this.kept! : await this.trainer.state({ ...this.checkpointConfig() });
      return { bytes: encodeCheckpoint(s), step: s.step };
    });
  }

  /** Waits for the slice in progress, then ends the worker (and frees its device). */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.exclusive(async () => undefined);
    await this.trainer.destroy();
  }
}

/** A worker with its own backend (and, on WebGPU, its own adapter and device) holding the run's trainer. */
function startTrainer(
  kind: BackendKind,
  model: ModelSpec,
  cfg: RunConfig,
  data: { train: Dataset; test: Dataset },
  resume?: CheckpointState,
): Promise<WorkerTrainer> {
  return WorkerTrainer.create({
    backend: kind,
    model,
    options: {
      batch: cfg.batch,
      l1: cfg.l1,
      telemetry: true,
      optimizer: cfg.optimizer,
      lr: cfg.lr,
      lrSchedule: cfg.lrSchedule,
      shuffleSeed: cfg.seed,
      deadUnits: cfg.deadUnits,
      dropout: runDropout(cfg.dropout, cfg.inputDropout),
      maxNorm: cfg.maxNorm || undefined,
    },
    train: limitDataset(data.train, cfg.trainExamples),
    test: limitDataset(data.test, cfg.testExamples),
    resume,
  });
}

/** "destroyed: device was destroyed" out of the backend's message (which speaks to CLI users). */
function lostReason(e: Error): string {
  const m = /lost \((\w+)\): (.*?)(\. Restart the run.*)?$/.exec(e.message);
  return m ? `${m[1]}: ${m[2]}` : e.message;
}

/** The page's settings for a checkpoint: its model and training settings, the page's for what it lacks. */
export function configFromCheckpoint(s: CheckpointState, fallback: RunConfig): RunConfig {
  // A checkpoint with a run config is read through the library's checked schema (a bad one
  // is a clear error); one without (another program's) gets the page's settings.
  if (Object.keys(s.config).length === 0) {
    const optimizer: OptimizerConfig = { ...DEFAULT_OPTIMIZER, kind: s.m ? (s.v ? 'adam' : 'momentum') : 'sgd' };
    return {
      ...fallback,
      hidden: [...s.model.hidden],
      activation: s.model.activation,
      init: s.model.init,
      seed: s.model.seed,
      optimizer,
      lr: DEFAULT_LR[optimizer.kind],
      deadUnits: 'keep',
    };
  }
  const c = parseRunConfig(s.config, 'the checkpoint');
  return {
    hidden: [...s.model.hidden],
    activation: s.model.activation,
    init: s.model.init,
    seed: s.model.seed,
    l1: c.l1,
    optimizer: { ...c.optimizer },
    lr: c.lr,
    lrSchedule: c.lrSchedule,
    batch: c.batch,
    trainExamples: c.trainLimit ?? 60000,
    testExamples: c.testLimit ?? 10000,
    epochs: Math.max(c.epochs ?? fallback.epochs, 1),
    deadUnits: c.deadUnits?.policy ?? 'keep',
    dropout: c.dropout?.hidden ?? 0,
    inputDropout: c.dropout?.input ?? 0,
    maxNorm: c.maxNorm ?? 0,
  };
}
