// The trainer: uploads the model and data once, then runs the step plan, one command
// buffer per step, reading each step's stats back through the backend's staging ring
// while the following steps are already queued. It also looks after dead units
// (dead-units.ts): the alarm on every step's stats and, with revive or prune, a check at
// each dead-unit window's end; pruning swaps in a plan for the smaller model.
import type { Backend } from '../backend/backend.ts';
import { dataShape, validateDataset, type Dataset } from '../data/dataset.ts';
import { packBytes } from '../ops/gather.ts';
import type { StepValues, View } from '../ops/op.ts';
import { initialParams } from '../model/init.ts';
import { validateModel, widths as widthsOf, type ModelSpec } from '../model/spec.ts';
import { matmulProducts, planTraining, type TrainConfig, type TrainPlan } from '../plan/plan.ts';
import { isSplit } from '../plan/split.ts';
import type { CheckpointState } from '../io/checkpoint.ts';
import { scheduledLr, validateSchedule, type LrSchedule } from '../ops/lr-schedule.ts';
import { Rng } from '../util/rng.ts';
import { sampleDataset } from '../data/dataset.ts';
import { DeadAlarm, DeadLayerError, type DeadLayerAlarm } from './dead-alarm.ts';
import {
  DeadUnitLedger,
  deadUnitSettings,
  targetUnits,
  type DeadUnitCheck,
  type DeadUnitOptions,
  type DeadUnitSettings,
  type DeadUnitsReport,
} from './dead-units.ts';
import { Predictor, type PredictOptions, type Prediction } from './predict.ts';
import { pruneUnits } from './prune.ts';
import { reviveUnits, type UnitsByLayer } from './revive.ts';
import { decodeStats, firstNonFinite, type StepStats } from './telemetry.ts';
import { UnitScanner } from './unit-scan.ts';

export interface TrainerOptions extends TrainConfig, DeadUnitOptions {
  /** Learning rate (constant, or a function of the 1-based step); with `lrSchedule`, the base rate it scales. */
  lr: number | ((step: number) => number);
  /** How the rate changes with the step (default constant); needs a numeric `lr`. */
  lrSchedule?: LrSchedule;
  /** Seed of the per-epoch shuffle. */
  shuffleSeed: number;
  /**
   * false: no shuffle, every epoch takes the examples in the dataset's order, so step k
   * trains on batch k mod stepsPerEpoch (comparing with another library batch for batch).
   * Default true.
   */
  shuffle?: boolean;
  /**
   * Dead-unit window in examples (rounded up to whole steps; default: one epoch). The
   * telemetry's dead count covers it; at its end, with deadUnits revive or prune, the
   * trainer scans this many training examples with the weights frozen and applies the policy.
   */
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
  /** Steps completed (enqueued). */
  step = 0;
  readonly stepsPerEpoch: number;
  /** Training examples each dead-unit check scans (with a policy other than keep). */
  readonly scanExamples: number;
  private currentPlan: TrainPlan;
  private currentModel: ModelSpec;
  private values: StepValues = { lr: 0, t: 0, batchStart: 0 };
  private orderBuf: Uint32Array;
  private windowSteps: number;
  private orderEpoch = -1;
  private readonly lag: number;
  private readonly dead: DeadUnitSettings;
  private readonly alarm: DeadAlarm;
  private readonly ledger: DeadUnitLedger;
  private scanner?: Promise<UnitScanner>;
  /** Per hidden layer: revived units spared the L1 penalty, and the last step they are spared. */
  private spared: Map<number, number>[];
  private nextRelease = Infinity;

  private constructor(
    readonly backend: Backend,
    model: ModelSpec,
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
    this.dead = deadUnitSettings(options);
    if (this.dead.policy !== 'keep' && model.hidden.length === 0) throw new Error(`deadUnits '${this.dead.policy}' needs hidden layers: the model has none`);
    if (this.dead.policy === 'prune' && !backend.free)
      throw new Error(`deadUnits 'prune' rebuilds the plan, and the ${backend.kind} backend cannot free buffers`);
    backend.reserveSnapshots?.(this.lag + 1);
    this.currentModel = model;
    this.currentPlan = planTraining(model, this.planConfig(), dataShape(data), backend.tuning, backend.limits);
    // The scan binds each layer's weights whole (plan/scan-plan.ts): not a layer split across bindings.
    if (this.dead.policy !== 'keep' && isSplit(this.currentPlan.layout)) {
      throw new Error(
        `deadUnits '${this.dead.policy}' scans with each layer's weights in one binding, and this model has a layer too large for that on ${backend.adapter}: use deadUnits 'keep'`,
      );
    }
    this.stepsPerEpoch = Math.floor(data.examples / batch);
    this.windowSteps = options.deadWindow ? Math.max(1, Math.ceil(options.deadWindow / batch)) : this.stepsPerEpoch;
    this.scanExamples = Math.min(options.deadWindow ?? data.examples, data.examples);
    this.orderBuf = new Uint32Array(data.examples);
    this.alarm = new DeadAlarm(model.hidden.slice(), { threshold: this.dead.threshold });
    this.ledger = new DeadUnitLedger(model);
    this.spared = model.hidden.map(() => new Map());
  }

  /** The model being trained: after pruning, the smaller one. */
  get model(): ModelSpec {
    return this.currentModel;
  }

  /** The step plan of the current model (a new one after pruning: do not keep regions across a check). */
  get plan(): TrainPlan {
    return this.currentPlan;
  }

  private planConfig(): TrainConfig {
    return { ...this.options, l1Mask: this.dead.l1Mask };
  }

  static async create(backend: Backend, model: ModelSpec, options: TrainerOptions, data: Dataset): Promise<Trainer> {
    // Kernel choices by measurement (cached per adapter) before the plan bakes them in.
    if (Number.isInteger(options.batch) && options.batch >= 1) await backend.tune?.(matmulProducts(model, options.batch));
    const t = new Trainer(backend, model, options, data);
    await t.upload();
    return t;
  }

  private async upload(keep: string[] = []): Promise<void> {
    const { backend, plan, data } = this;
    const fresh = Object.fromEntries(Object.entries(plan.arenas).filter(([name]) => !keep.includes(name)));
    backend.allocate(fresh, plan.chunks);
    if (!keep.includes(plan.regions.images.arena)) {
      if (data.images instanceof Float32Array) backend.writeF(plan.regions.images, data.images);
      else backend.writeU(plan.regions.images, packBytes(data.images));
    }
    if (!keep.includes(plan.regions.labels.arena)) backend.writeU(plan.regions.labels, Uint32Array.from(data.labels));
    backend.writeF(plan.regions.params, initialParams(this.model));
    for (const t of plan.segTables) backend.writeU(t.range, t.data);
    this.writeMask();
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
      if (this.options.shuffle !== false) new Rng(this.options.shuffleSeed * 1000003 + this.epoch).shuffle(order);
      backend.writeU(plan.regions.order, order);
    }
    if (step % this.windowSteps === 0) backend.run(plan.resetWindow, this.values);
    if (step >= this.nextRelease) this.writeMask();
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
   *
   * Dead units: a step whose stats raised the dead-layer alarm carries it in `alarms`;
   * the last step of a dead-unit window, with a policy other than keep, carries the
   * window's `deadCheck` (run before the next step is queued). With stopOnDeadLayer the
   * first alarm stops the run as an abort does, then throws a DeadLayerError.
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
    let stop: DeadLayerAlarm | undefined;
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
      const raised = this.alarm.observe(s);
      if (raised.length) {
        s.alarms = raised;
        if (this.dead.stop) stop ??= raised[0];
      }
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
    while (this.step < end && !signal?.aborted && !stop) {
      const epoch = (lastEpoch = this.epoch);
      this.enqueueStep();
      const check = this.dead.policy !== 'keep' && this.step % this.windowSteps === 0;
      if (this.step % every === 0 || this.step === end || check) read(epoch);
      if (check) {
        // The window is complete: its steps finish, then the scan and the policy, before
        // the next step is queued (revive and prune rewrite the state on the device).
        const done: StepStats[] = [];
        while (pending.length) done.push(await settle());
        if (!stop) {
          const c = await this.deadCheck();
          const last = done[done.length - 1];
          last.deadCheck = c;
          if (c.alarms.length) {
            last.alarms = [...(last.alarms ?? []), ...c.alarms];
            if (this.dead.stop) stop = c.alarms[0];
          }
        }
        for (const s of done) yield s;
      } else if (pending.length > this.lag) yield await settle();
    }
    // Aborted (or stopping) between reads: the last step queued is still reported.
    if ((signal?.aborted || stop) && this.step !== lastRead) read(lastEpoch);
    while (pending.length) yield await settle();
    if (stop) throw new DeadLayerError(stop);
  }

  /**
   * One dead-unit check (policy revive or prune), between steps with nothing in flight:
   * scan the sample with the live weights, let the alarm judge the scan, then act on the
   * dead (and at τ > 0 dormant) units. With stopOnDeadLayer an alarm leaves the units as
   * they are, so that what is saved shows the layer as it died.
   */
  private async deadCheck(): Promise<DeadUnitCheck> {
    this.scanner ??= UnitScanner.create(
      this.backend,
      this.model,
      // A fixed sample (the permutation of "epoch −1", which no shuffle uses), so each check judges the same examples.
      sampleDataset(this.data, this.scanExamples, this.options.shuffleSeed * 1000003 - 1, `${this.data.name} (dead-unit sample)`),
      { prefix: 'dead.' },
    );
    const scan = await (await this.scanner).scan({ tau: this.dead.tau });
    const alarms = this.alarm.observeScan(scan, this.step);
    const zeros = () => scan.layers.map(() => 0);
    const check: DeadUnitCheck = {
      step: this.step,
      examples: scan.examples,
      dead: scan.layers.map((l) => l.dead),
      dormant: scan.layers.map((l) => l.dormant),
      revived: zeros(),
      pruned: zeros(),
      redied: zeros(),
      widths: this.model.hidden.slice(),
      alarms,
    };
    this.ledger.checks++;
    if (this.dead.stop && alarms.length) return check;
    const units = targetUnits(scan);
    if (!units.some((l) => l.length)) return check;
    if (this.dead.policy === 'revive') {
      check.redied = this.ledger.countRedied(units);
      // reviveUnits zeroes the optimiser state of exactly the entries it rewrites (incoming
      // row, bias, outgoing column): momentum's m, and for Adam both m and v; Adam's bias
      // correction stays global (its step count is not reset; see revive.ts for the bound).
      await reviveUnits(this, units, { seed: (this.model.seed * 1000003 + this.step) >>> 0 });
      check.revived = this.ledger.recordRevived(units);
      this.spare(units);
    } else if (this.dead.policy === 'prune') {
      const pruned = pruneUnits(await this.state(), units);
      await this.rebuild(pruned.model);
      this.restore(pruned.state);
      this.ledger.recordPruned(pruned.removed);
      check.pruned = pruned.removed;
      check.widths = pruned.model.hidden.slice();
    }
    return check;
  }

  /** Revived units skip the L1 penalty for the next reviveGrace steps (with l1 > 0). */
  private spare(units: UnitsByLayer): void {
    if (!this.plan.regions.l1Mask) return;
    const last = this.step + this.dead.grace;
    units.forEach((list, h) => list.forEach((j) => this.spared[h].set(j, last)));
    this.writeMask();
  }

  /** Writes the per-unit L1 factors: 0 for units still in their grace period, 1 for the rest. */
  private writeMask(): void {
    const mask = this.plan.regions.l1Mask;
    if (!mask) return;
    const host = new Float32Array(mask.all.length).fill(1);
    let next = Infinity;
    this.spared.forEach((units, h) => {
      for (const [j, last] of units) {
        // Spared for steps up to `last`: the step queued next is this.step + 1.
        if (last <= this.step) units.delete(j);
        else {
          host[mask.layers[h].offset + j] = 0;
          next = Math.min(next, last);
        }
      }
    });
    this.nextRelease = next;
    this.backend.writeF(mask.all, host);
  }

  /**
   * A new plan for a smaller model (pruned): the arenas whose sizes change are freed and
   * made again, the dataset stays on the device, and every other plan that read the old
   * parameters (predictor, scanner) is dropped, to be remade on demand. The caller restores
   * the state right after.
   */
  private async rebuild(model: ModelSpec): Promise<void> {
    const { backend } = this;
    const old = this.plan;
    const gone: string[] = [];
    const dropped = await Promise.all([this.predictor, this.scanner]);
    for (const p of dropped) if (p) gone.push(...Object.keys(p.plan.arenas));
    this.predictor = this.scanner = undefined;
    await backend.tune?.(matmulProducts(model, this.options.batch));
    const plan = planTraining(model, this.planConfig(), dataShape(this.data), backend.tuning, backend.limits);
    const same = (n: string) => old.arenas[n] === plan.arenas[n] && JSON.stringify(old.chunks[n]) === JSON.stringify(plan.chunks[n]);
    const keep = [plan.regions.images.arena, plan.regions.labels.arena, plan.regions.order.arena].filter(same);
    gone.push(...Object.keys(old.arenas).filter((n) => !keep.includes(n)));
    backend.free!(gone);
    this.currentModel = model;
    this.currentPlan = plan;
    this.orderEpoch = -1;
    await this.upload(keep);
    this.alarm.resize(model.hidden.slice());
  }

  /** What the trainer has done about dead units so far: per-layer totals and every alarm. */
  get deadUnitsReport(): DeadUnitsReport {
    const { dead, ledger } = this;
    return {
      policy: dead.policy,
      window: this.windowSteps * this.options.batch,
      scanned: dead.policy === 'keep' ? 0 : this.scanExamples,
      tau: dead.tau,
      grace: dead.grace,
      threshold: dead.threshold,
      checks: ledger.checks,
      revived: ledger.revived.slice(),
      pruned: ledger.pruned.slice(),
      redied: ledger.redied.slice(),
      widths: this.model.hidden.slice(),
      alarms: this.alarm.alarms.slice(),
    };
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
