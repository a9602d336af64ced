// The trainer: uploads the model and data once, then runs the step plan, one command
// buffer per step, reading each step's stats back through the backend's staging ring
// while the following steps are already queued.
import type { Backend } from '../backend/backend.ts';
import { dataShape, validateDataset, type Dataset } from '../data/dataset.ts';
import { packBytes } from '../ops/gather.ts';
import type { StepValues, View } from '../ops/op.ts';
import { initialParams } from '../model/init.ts';
import { validateModel, widths as widthsOf, type ModelSpec } from '../model/spec.ts';
import { matmulProducts, planTraining, type TrainConfig, type TrainPlan } from '../plan/plan.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import { scheduledLr, validateSchedule, type LrSchedule } from '../ops/lr-schedule.ts';
import { Rng } from '../util/rng.ts';
import { Predictor, type PredictOptions, type Prediction } from './predict.ts';
import { decodeStats, firstNonFinite, type StepStats } from './telemetry.ts';

export interface TrainerOptions extends TrainConfig {
  /** Learning rate (constant, or a function of the 1-based step); with `lrSchedule`, the base rate it scales. */
  lr: number | ((step: number) => number);
  /** How the rate changes with the step (default constant); needs a numeric `lr`. */
  lrSchedule?: LrSchedule;
  /** Seed of the per-epoch shuffle. */
  shuffleSeed: number;
  /** Dead-unit window in examples; default: one epoch. */
  deadWindow?: number;
  /** With telemetry off, read the loss back every this many steps (default 50). */
  readEvery?: number;
  /** Steps queued beyond the one whose stats are being handed out (default LAG). */
  runAhead?: number;
}

/** Stats of step t are handed out while steps t+1 … t+LAG are queued. */
const LAG = 2;

export class TrainingDivergedError extends Error {
  constructor(
    readonly step: number,
    /** Which value went non-finite first (e.g. the loss, or a layer's error signal). */
    readonly detail: string,
  ) {
    super(`training diverged at step ${step}: ${detail}. Lower the learning rate (lr) or clip the gradient norm (optimizer.clipNorm).`);
  }
}

export class Trainer {
  readonly plan: TrainPlan;
  /** Steps completed (enqueued). */
  step = 0;
  readonly stepsPerEpoch: number;
  private values: StepValues = { lr: 0, t: 0, batchStart: 0 };
  private orderBuf: Uint32Array;
  private windowSteps: number;
  private orderEpoch = -1;
  private readonly lag: number;

  private constructor(
    readonly backend: Backend,
    readonly model: ModelSpec,
    readonly options: TrainerOptions,
    readonly data: Dataset,
  ) {
    validateModel(model);
    validateDataset(data);
    if (data.features !== model.inputs) {
      throw new Error(`the data has ${data.features} values per example but the model takes ${model.inputs} inputs`);
    }
    if (data.classes > model.classes) {
      throw new Error(`the data has ${data.classes} classes but the model outputs ${model.classes}`);
    }
    const { batch } = options;
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch size must be a positive whole number, got ${batch}`);
    if (batch > data.examples) {
      throw new Error(`batch size ${batch} is larger than the training set (${data.examples} examples): lower the batch option`);
    }
    if (options.lrSchedule) {
      validateSchedule(options.lrSchedule);
      if (typeof options.lr !== 'number') throw new Error('lrSchedule scales a numeric lr: give lr as a number, not a function, with a schedule');
    }
    this.lag = options.runAhead ?? LAG;
    if (!Number.isInteger(this.lag) || this.lag < 0) throw new Error(`runAhead must be a whole number ≥ 0, got ${options.runAhead}`);
    backend.reserveSnapshots?.(this.lag + 1);
    this.plan = planTraining(model, options, dataShape(data), backend.tuning, backend.limits);
    this.stepsPerEpoch = Math.floor(data.examples / batch);
    this.windowSteps = options.deadWindow ? Math.max(1, Math.ceil(options.deadWindow / batch)) : this.stepsPerEpoch;
    this.orderBuf = new Uint32Array(data.examples);
  }

  static async create(backend: Backend, model: ModelSpec, options: TrainerOptions, data: Dataset): Promise<Trainer> {
    // Kernel choices by measurement (cached per adapter) before the plan bakes them in.
    if (Number.isInteger(options.batch) && options.batch >= 1) await backend.tune?.(matmulProducts(model, options.batch));
    const t = new Trainer(backend, model, options, data);
    await t.upload();
    return t;
  }

  private async upload(): Promise<void> {
    const { backend, plan, data } = this;
    backend.allocate(plan.arenas, plan.chunks);
    if (data.images instanceof Float32Array) backend.writeF(plan.regions.images, data.images);
    else backend.writeU(plan.regions.images, packBytes(data.images));
    backend.writeU(plan.regions.labels, Uint32Array.from(data.labels));
    backend.writeF(plan.regions.params, initialParams(this.model));
    for (const t of plan.segTables) backend.writeU(t.range, t.data);
    await backend.prepare([...plan.step, ...plan.resetWindow]);
  }

  get epoch(): number {
    return Math.floor(this.step / this.stepsPerEpoch);
  }

  private lrAt(step: number): number {
    const { lr, lrSchedule } = this.options;
    if (typeof lr === 'function') return lr(step);
    return lrSchedule ? scheduledLr(lrSchedule, lr, step) : lr;
  }

  /** Enqueue one training step (shuffling and resetting the window when one begins). */
  enqueueStep(): void {
    const { backend, plan, step } = this;
    const inEpoch = step % this.stepsPerEpoch;
    if (this.epoch !== this.orderEpoch) {
      // Each epoch's permutation depends only on (seed, epoch): a resumed run sees the same.
      this.orderEpoch = this.epoch;
      const order = this.orderBuf;
      for (let i = 0; i < order.length; i++) order[i] = i;
      new Rng(this.options.shuffleSeed * 1000003 + this.epoch).shuffle(order);
      backend.writeU(plan.regions.order, order);
    }
    if (step % this.windowSteps === 0) backend.run(plan.resetWindow, this.values);
    this.values.lr = this.lrAt(step + 1);
    this.values.t = step + 1;
    this.values.batchStart = inEpoch * this.options.batch;
    backend.run(plan.step, this.values);
    this.step++;
  }

  /**
   * Train for `steps` steps, yielding the stats of every step (with telemetry on) or of
   * every `readEvery`-th step and the last (telemetry off). Stats arrive a step or two
   * after the step was queued; a non-finite loss stops training with the step named.
   *
   * `signal`: when it aborts, no further step is queued; the stats of the steps already
   * queued are still handed out (the last of them always, telemetry off too) and the
   * generator then ends normally — an aborted run never throws for the abort, and no
   * device work is left in flight. `trainer.step` says how far it got.
   */
  async *run(steps: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<StepStats> {
    const { signal } = opts;
    const every = this.options.telemetry ? 1 : Math.max(1, this.options.readEvery ?? 50);
    const pending: { view: Promise<View>; step: number; epoch: number; done: number }[] = [];
    // Throughput over the last few handed-out steps, timed when each step's stats became
    // ready (the GPU finished it; on the CPU, when run() returned): not when they were
    // handed out, which lags by up to runAhead steps and bunches up at the end of a run.
    const recent: { step: number; time: number }[] = [{ step: this.step, time: performance.now() }];
    const end = this.step + steps;
    const settle = async (): Promise<StepStats> => {
      const p = pending.shift()!;
      const view = await p.view;
      const first = recent[0];
      const eps = ((p.step - first.step) * this.options.batch) / Math.max(1e-9, (p.done - first.time) / 1000);
      recent.push({ step: p.step, time: p.done });
      if (recent.length > 10) recent.shift();
      const s = decodeStats(this.plan, view, p.step, p.epoch, eps);
      const bad = firstNonFinite(s);
      if (bad) throw new TrainingDivergedError(p.step, bad);
      return s;
    };
    let lastRead = this.step;
    const read = (epoch: number) => {
      lastRead = this.step;
      const entry = { view: this.backend.snapshot(this.plan.regions.stats), step: this.step, epoch, done: 0 };
      entry.view.then(
        () => (entry.done = performance.now()),
        () => undefined,
      );
      pending.push(entry);
    };
    let lastEpoch = this.epoch;
    while (this.step < end && !signal?.aborted) {
      const epoch = (lastEpoch = this.epoch);
      this.enqueueStep();
      if (this.step % every === 0 || this.step === end) read(epoch);
      if (pending.length > this.lag) yield await settle();
    }
    // Aborted between reads: the last step queued is still reported.
    if (signal?.aborted && this.step !== lastRead) read(lastEpoch);
    while (pending.length) yield await settle();
  }

  private predictor?: Promise<Predictor>;

  /**
   * Class probabilities (and with `hidden: true` each hidden layer's activations) for a
   * batch of inputs (rows × model.inputs), with the parameters as the steps queued so
   * far leave them. See Predictor.predict.
   */
  async predict(inputs: Float32Array, opts: PredictOptions = {}): Promise<Prediction> {
    this.predictor ??= Predictor.create(this.backend, this.model);
    return (await this.predictor).predict(inputs, opts);
  }

  /** The latest batch's post-activation values of every hidden layer (batch × units each; zeros before the first step). */
  async activations(): Promise<Float32Array[]> {
    const H = this.model.hidden.length;
    return Promise.all(this.plan.tensors.a.slice(0, H).map(async (r) => Float32Array.from(await this.backend.readF(r))));
  }

  /** Dense layer `layer`'s weights, outputs × inputs row-major (output layer last); only the first `units` units' rows if given. */
  async weights(layer: number, units?: number): Promise<Float32Array> {
    const l = this.plan.layout.layers[layer];
    if (!l) throw new Error(`layer ${layer} does not exist: the model has dense layers 0…${this.plan.layout.layers.length - 1}`);
    const w = this.plan.regions.layers[layer].params.weight;
    const n = Math.min(units ?? l.outputs, l.outputs);
    return Float32Array.from(await this.backend.readF({ ...w, length: n * l.inputs }));
  }

  /** Per unit of hidden layer `h`: 1 when it was active (non-zero) for some example since the dead-unit window began. */
  async activeInWindow(h: number): Promise<Uint8Array> {
    const r = this.plan.regions.layerFlags[h];
    if (!r) throw new Error(`hidden layer ${h} does not exist: the model has hidden layers 0…${this.plan.regions.layerFlags.length - 1}`);
    return Uint8Array.from(await this.backend.readU(r), (f) => (f === 0 ? 0 : 1));
  }

  async getParams(): Promise<Float32Array> {
    return Float32Array.from(await this.backend.readF(this.plan.regions.params));
  }

  /** Everything needed to continue exactly: parameters, moments, window flags, step. */
  async state(config: Record<string, unknown> = {}): Promise<CheckpointState> {
    const { backend, plan } = this;
    const { m, v } = plan.regions.moments;
    return {
      model: this.model,
      step: this.step,
      config,
      params: await this.getParams(),
      m: m ? Float32Array.from(await backend.readF(m)) : undefined,
      v: v ? Float32Array.from(await backend.readF(v)) : undefined,
      flags: await backend.readU(plan.regions.flags),
    };
  }

  /** Continue from a saved state of the same model (moments only if the optimiser keeps them). */
  restore(s: CheckpointState): void {
    if (JSON.stringify(widthsOf(s.model)) !== JSON.stringify(widthsOf(this.model)) || s.model.activation !== this.model.activation) {
      throw new Error(
        `the checkpoint holds a ${widthsOf(s.model).join('-')} ${s.model.activation} network, not the ${widthsOf(this.model).join('-')} ${this.model.activation} one configured`,
      );
    }
    const { backend, plan } = this;
    this.setParams(s.params);
    const kind = this.options.optimizer.kind;
    const { m, v } = plan.regions.moments;
    if ((m && !s.m) || (v && !s.v)) throw new Error(`the checkpoint has no ${kind} state: resume with the optimiser it was trained with`);
    if (m) backend.writeF(m, s.m!);
    if (v) backend.writeF(v, s.v!);
    if (s.flags && s.flags.length === plan.regions.flags.length) backend.writeU(plan.regions.flags, s.flags);
    this.step = s.step;
  }

  setParams(p: Float32Array): void {
    if (p.length !== this.plan.layout.size) throw new Error(`expected ${this.plan.layout.size} parameter values, got ${p.length}`);
    this.backend.writeF(this.plan.regions.params, p);
  }
}
