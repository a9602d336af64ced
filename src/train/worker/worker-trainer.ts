// A Trainer that lives in a dedicated Web Worker: the page keeps its main thread free
// (no step, however long, blocks input or painting) and gets the same stats stream.
// Browser only (it needs `Worker`). WebGPU works in the worker where the browser offers
// navigator.gpu to workers (Chromium does); the CPU backend works everywhere.
import { DeviceLostError } from '../../backend/webgpu/lost.ts';
import type { Dataset } from '../../data/dataset.ts';
import type { CheckpointState } from '../../io/checkpoint.ts';
import type { EvalResult } from '../evaluate.ts';
import type { Prediction, PredictOptions } from '../predict.ts';
import type { StepStats } from '../telemetry.ts';
import { TrainingDivergedError } from '../trainer.ts';
import type { Call, Reply, Request, WorkerTrainerInit, WorkerTrainerInfo } from './protocol.ts';

export type { WorkerTrainerInit, WorkerTrainerInfo } from './protocol.ts';

type Pending = { resolve(v: unknown): void; reject(e: Error): void; onStats?(s: StepStats): void };
type Body<T = Request> = T extends Request ? Omit<T, 'id'> : never;

/**
 * The library's worker entry, for bundlers that follow `new URL(…, import.meta.url)`
 * (Vite, webpack, Parcel). Elsewhere, start the entry yourself (the package exports it as
 * `rectigrad/worker`, e.g. Vite's `import TrainerWorker from 'rectigrad/worker?worker'`)
 * and pass it to WorkerTrainer.create as `worker`.
 */
export function defaultWorker(): Worker {
  if (typeof Worker === 'undefined') throw new Error('WorkerTrainer needs Web Workers (a browser); elsewhere use Trainer directly');
  return new Worker(new URL('./trainer-worker.js', import.meta.url), { type: 'module', name: 'rectigrad trainer' });
}

export class WorkerTrainer {
  /** Steps completed (as last reported by the worker). */
  step: number;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private dead?: string;

  private constructor(
    private readonly worker: Worker,
    readonly info: WorkerTrainerInfo,
  ) {
    this.step = info.step;
  }

  /**
   * Start a worker (`worker`, or the library's own entry) and build the trainer in it.
   * The datasets are copied to the worker (structured clone); the caller keeps its own.
   */
  static async create(init: WorkerTrainerInit, opts: { worker?: Worker } = {}): Promise<WorkerTrainer> {
    const worker = opts.worker ?? defaultWorker();
    const boot = new Boot(worker);
    try {
      // A view (limitDataset, sliceDataset) would clone its whole underlying buffer, e.g.
      // all of MNIST: send compact copies instead, moved rather than cloned.
      const transfer: Transferable[] = [];
      const own = (d: Dataset): Dataset => {
        const images = d.images.slice();
        const labels = d.labels.slice();
        transfer.push(images.buffer as ArrayBuffer, labels.buffer as ArrayBuffer);
        return { ...d, images, labels };
      };
      const sent: WorkerTrainerInit = { ...init, train: own(init.train), test: init.test && own(init.test) };
      const info = (await boot.request({ type: 'create', init: sent }, transfer)) as WorkerTrainerInfo;
      const t = new WorkerTrainer(worker, info);
      boot.handOver(t);
      return t;
    } catch (e) {
      worker.terminate();
      throw e;
    }
  }

  get stepsPerEpoch(): number {
    return this.info.stepsPerEpoch;
  }
  get epoch(): number {
    return Math.floor(this.step / this.info.stepsPerEpoch);
  }

  /** @internal */
  receive(msg: Reply): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'stats') {
      this.step = Math.max(this.step, msg.stats.step);
      p.onStats?.(msg.stats);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === 'done') p.resolve(msg.value);
    else if (msg.diverged) p.reject(new TrainingDivergedError(msg.diverged.step, msg.diverged.detail));
    // Parameters live on the lost device: only a state kept earlier (state()) can continue.
    else p.reject(msg.deviceLost ? new DeviceLostError(msg.message) : new Error(msg.message));
  }

  /** @internal */
  fail(message: string): void {
    this.dead = message;
    for (const p of this.pending.values()) p.reject(new Error(message));
    this.pending.clear();
  }

  private send(body: Body, onStats?: (s: StepStats) => void): { id: number; done: Promise<unknown> } {
    const id = this.nextId++;
    const done = new Promise<unknown>((resolve, reject) => {
      if (this.dead) return reject(new Error(this.dead));
      this.pending.set(id, { resolve, reject, onStats });
      this.worker.postMessage({ ...body, id } as Request);
    });
    return { id, done };
  }

  private call<T>(method: Call, ...args: unknown[]): Promise<T> {
    return this.send({ type: 'call', method, args }).done as Promise<T>;
  }

  /**
   * Train for `steps` steps in the worker, yielding every reported step's stats as
   * Trainer.run does. `signal` aborts as there: the worker stops after its current step,
   * the stats of the steps it ran still arrive, and the generator then ends normally.
   */
  async *run(steps: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<StepStats> {
    const queue: StepStats[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const { id, done } = this.send({ type: 'run', steps }, (s) => {
      queue.push(s);
      wake?.();
    });
    done
      .then(
        () => (finished = true),
        (e) => {
          failure = e;
          finished = true;
        },
      )
      .finally(() => wake?.());
    const abort = () => {
      if (!this.dead) this.worker.postMessage({ id: this.nextId++, type: 'abort', run: id } satisfies Request);
    };
    opts.signal?.addEventListener('abort', abort, { once: true });
    if (opts.signal?.aborted) abort();
    try {
      for (;;) {
        if (queue.length) {
          yield queue.shift()!;
          continue;
        }
        if (finished) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (failure) throw failure;
      this.step = Math.max(this.step, (await done) as number);
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      // A consumer that stops iterating early stops the worker's run as well.
      if (!finished) abort();
    }
  }

  /** The test set's loss, error, sparsity and dead units (needs `test` at creation). */
  evaluate(): Promise<EvalResult> {
    return this.call('evaluate');
  }
  predict(inputs: Float32Array, opts: PredictOptions = {}): Promise<Prediction> {
    return this.call('predict', inputs, opts);
  }
  /** Everything needed to continue exactly (see Trainer.state). */
  state(config: Record<string, unknown> = {}): Promise<CheckpointState> {
    return this.call('state', config);
  }
  async restore(s: CheckpointState): Promise<void> {
    await this.call('restore', s);
    this.step = s.step;
  }
  /** The learning rate from the next step queued on. */
  setLearningRate(lr: number): Promise<void> {
    return this.call('setLearningRate', lr);
  }
  getParams(): Promise<Float32Array> {
    return this.call('getParams');
  }
  activations(): Promise<Float32Array[]> {
    return this.call('activations');
  }
  weights(layer: number, units?: number): Promise<Float32Array> {
    return this.call('weights', layer, units);
  }
  activeInWindow(hiddenLayer: number): Promise<Uint8Array> {
    return this.call('activeInWindow', hiddenLayer);
  }

  /** Test hook: destroys the worker's WebGPU device, as a driver reset would; later calls fail with DeviceLostError. */
  loseDevice(): Promise<void> {
    return this.send({ type: 'loseDevice' }).done as Promise<void>;
  }

  /** Stops any run, frees the device and ends the worker. */
  async destroy(): Promise<void> {
    if (!this.dead) await this.send({ type: 'destroy' }).done.catch(() => undefined);
    this.fail('the WorkerTrainer was destroyed');
    this.worker.terminate();
  }
}

/** Routes the worker's messages before the WorkerTrainer exists, then to it. */
class Boot {
  private target?: WorkerTrainer;
  private waiting?: { resolve(v: unknown): void; reject(e: Error): void };

  constructor(worker: Worker) {
    worker.onmessage = (e: MessageEvent<Reply>) => {
      if (this.target) return this.target.receive(e.data);
      const w = this.waiting;
      this.waiting = undefined;
      if (e.data.type === 'done') w?.resolve(e.data.value);
      else if (e.data.type === 'error') w?.reject(new Error(e.data.message));
    };
    const fail = (what: string) => {
      const msg = `the training worker failed: ${what}`;
      if (this.target) this.target.fail(msg);
      else this.waiting?.reject(new Error(msg));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      fail(e.message || 'its script could not be loaded or threw at start-up');
    };
    worker.onmessageerror = () => fail('a message could not be decoded');
    this.worker = worker;
  }
  private worker: Worker;

  request(body: Body, transfer: Transferable[] = []): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage({ ...body, id: 0 } as Request, transfer);
    });
  }

  handOver(t: WorkerTrainer): void {
    this.target = t;
  }
}
