// The worker side of WorkerTrainer: builds the backend and trainer inside a dedicated
// worker and runs requests from the page, so training never blocks the page's main
// thread. WebGPU works here too (navigator.gpu exists in dedicated workers).
import { createBackend } from '../../backend/create.ts';
import type { Backend } from '../../backend/backend.ts';
import { CpuBackend } from '../../backend/cpu/cpu-backend.ts';
import { DeviceLostError, lostWatch } from '../../backend/webgpu/lost.ts';
import type { WebGpuBackend } from '../../backend/webgpu/webgpu-backend.ts';
import { CONSTANT_LR, scheduledLr, validateSchedule } from '../../ops/lr-schedule.ts';
import { Evaluator } from '../evaluate.ts';
import { Trainer, TrainingDivergedError } from '../trainer.ts';
import { CALLS, type Reply, type Request } from './protocol.ts';

interface WorkerScope {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(msg: Reply, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

let backend: Backend | undefined;
let trainer: Trainer | undefined;
let evaluator: Evaluator | undefined;
let lr = 0;
const runs = new Map<number, AbortController>();

/** Lets queued messages (an abort, a read-back) in between steps: a task, not a microtask. */
const nextTask = () =>
  new Promise<void>((resolve) => {
    const c = new MessageChannel();
    c.port1.onmessage = () => {
      c.port1.close();
      resolve();
    };
    c.port2.postMessage(0);
  });

const post = (msg: Reply) => scope.postMessage(msg);

function need(): Trainer {
  if (!trainer) throw new Error('the worker has no trainer yet: create it first');
  return trainer;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.type) {
    case 'create': {
      if (trainer) throw new Error('this worker already holds a trainer: make one WorkerTrainer per worker');
      const { init } = req;
      const created = await createBackend(init.backend, { cpu: init.cpu });
      backend = created.backend;
      lr = init.options.lr;
      try {
        // setLearningRate changes the base rate; the schedule (if any) still scales it by step.
        const schedule = init.options.lrSchedule ?? CONSTANT_LR;
        validateSchedule(schedule);
        trainer = await Trainer.create(backend, init.model, { ...init.options, lrSchedule: undefined, lr: (t) => scheduledLr(schedule, lr, t) }, init.train);
        if (init.resume) trainer.restore(init.resume);
        if (init.test) evaluator = await Evaluator.create(backend, init.model, init.test, 'eval.');
      } catch (e) {
        backend.destroy();
        backend = trainer = evaluator = undefined;
        throw e;
      }
      const threadNote = backend instanceof CpuBackend ? backend.threadNote : undefined;
      return { step: trainer.step, stepsPerEpoch: trainer.stepsPerEpoch, backend: backend.kind, adapter: backend.adapter, note: created.note, threadNote };
    }
    case 'run': {
      const t = need();
      const ac = new AbortController();
      runs.set(req.id, ac);
      try {
        for await (const stats of t.run(req.steps, { signal: ac.signal })) {
          post({ id: req.id, type: 'stats', stats });
          await nextTask();
        }
      } finally {
        runs.delete(req.id);
      }
      return t.step;
    }
    case 'abort':
      runs.get(req.run)?.abort();
      return undefined;
    case 'call': {
      const t = need();
      const args = req.args as never[];
      switch (req.method) {
        case 'evaluate':
          if (!evaluator) throw new Error('no test set was given: pass `test` when creating the WorkerTrainer');
          // Pruned since (deadUnits 'prune'): the test set is evaluated with the smaller model.
          if (evaluator.model !== t.model) evaluator = await evaluator.remake(t.model);
          return evaluator.evaluate();
        case 'setLearningRate':
          if (!(typeof args[0] === 'number' && Number.isFinite(args[0]) && args[0] > 0))
            throw new Error(`the learning rate must be a positive number, got ${args[0]}`);
          lr = args[0];
          return undefined;
        default: {
          if (!CALLS.includes(req.method)) throw new Error(`unknown call ${req.method}`);
          const fn = t[req.method] as (...a: never[]) => unknown;
          return await fn.apply(t, args);
        }
      }
    }
    case 'loseDevice':
      if (backend?.kind !== 'webgpu') throw new Error('only a WebGPU device can be lost: this trainer runs on the CPU');
      (backend as WebGpuBackend).ctx.device.destroy();
      return undefined;
    case 'destroy':
      for (const ac of runs.values()) ac.abort();
      await backend?.finish().catch(() => undefined);
      backend?.destroy();
      backend = trainer = evaluator = undefined;
      return undefined;
  }
}

/**
 * Why the device was lost, or undefined. A loss can surface first as the browser's own
 * error (a failed map), before device.lost settles: give it a moment to, as the CLI does.
 */
async function lostReason(err: unknown): Promise<string | undefined> {
  if (err instanceof DeviceLostError) return err.message;
  if (backend?.kind !== 'webgpu') return undefined;
  const device = (backend as WebGpuBackend).ctx.device;
  const watch = lostWatch(device);
  if (watch.reason === undefined) await Promise.race([device.lost, new Promise((r) => setTimeout(r, 200))]);
  return watch.reason;
}

scope.onmessage = (e) => {
  const req = e.data;
  handle(req).then(
    (value) => post({ id: req.id, type: 'done', value }),
    async (err: unknown) => {
      const lost = await lostReason(err);
      post({
        id: req.id,
        type: 'error',
        message: lost ?? (err instanceof Error ? err.message : String(err)),
        diverged: err instanceof TrainingDivergedError ? { step: err.step, detail: err.detail } : undefined,
        deviceLost: lost !== undefined || undefined,
      });
    },
  );
};
