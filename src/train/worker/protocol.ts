// The messages between a WorkerTrainer (page) and its worker (trainer-worker.ts). Every
// request carries an id; the worker answers it once with 'done' or 'error', and a 'run'
// request also gets one 'stats' message per step reported before its 'done'.
import type { BackendChoice } from '../../backend/create.ts';
import type { CpuBackendOptions } from '../../backend/cpu/cpu-backend.ts';
import type { Dataset } from '../../data/dataset.ts';
import type { CheckpointState } from '../../io/checkpoint.ts';
import type { ModelSpec } from '../../model/spec.ts';
import type { StepStats } from '../telemetry.ts';
import type { TrainerOptions } from '../trainer.ts';

export interface WorkerTrainerInit {
  backend: BackendChoice;
  /** Options of the CPU backend, when that is the one created (e.g. `sparse`, `threads`). */
  cpu?: CpuBackendOptions;
  model: ModelSpec;
  /** A numeric base learning rate (functions cannot cross to a worker; setLearningRate changes it), scaled by `lrSchedule` if given. */
  options: Omit<TrainerOptions, 'lr'> & { lr: number };
  train: Dataset;
  /** Evaluated by evaluate(). */
  test?: Dataset;
  /** Continue from this state (same model). */
  resume?: CheckpointState;
}

/** What the worker reports once the trainer is built. */
export interface WorkerTrainerInfo {
  step: number;
  stepsPerEpoch: number;
  backend: 'cpu' | 'webgpu';
  adapter: string;
  /** Which backend was chosen and why (for 'auto'). */
  note: string;
  /** On the CPU backend, why its matmuls run on one thread when more were wanted (e.g. the page is not cross-origin isolated). */
  threadNote?: string;
}

/** Trainer methods callable through the worker (arguments and results are structured-cloned). */
export const CALLS = ['evaluate', 'predict', 'state', 'restore', 'setLearningRate', 'activations', 'weights', 'activeInWindow', 'getParams'] as const;
export type Call = (typeof CALLS)[number];

export type Request =
  | { id: number; type: 'create'; init: WorkerTrainerInit }
  | { id: number; type: 'run'; steps: number }
  /** Stops the run of request `run` after its current step (answered by that run's 'done'). */
  | { id: number; type: 'abort'; run: number }
  | { id: number; type: 'call'; method: Call; args: unknown[] }
  /** Test hook: destroys the WebGPU device, as a driver reset or a GPU process crash would. */
  | { id: number; type: 'loseDevice' }
  | { id: number; type: 'destroy' };

export type Reply =
  | { id: number; type: 'done'; value: unknown }
  | { id: number; type: 'error'; message: string; diverged?: { step: number; detail: string }; deviceLost?: true }
  | { id: number; type: 'stats'; stats: StepStats };
