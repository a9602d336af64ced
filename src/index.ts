// rectigrad: a WebGPU training engine for rectifier networks.
export { createBackend, BACKENDS, type BackendChoice } from './backend/create.ts';
export type { Backend } from './backend/backend.ts';
export { CpuBackend } from './backend/cpu/cpu-backend.ts';
export { WebGpuBackend } from './backend/webgpu/webgpu-backend.ts';
export { acquireGpu, adapterName } from './backend/webgpu/device.ts';
export { PAPER_MODEL, modelSpec, validateModel, describeModel, type ModelSpec } from './model/spec.ts';
export { paramLayout } from './model/layout.ts';
export { initialParams } from './model/init.ts';
export { planTraining, flopsPerExample, type TrainConfig } from './plan/plan.ts';
export { DEFAULT_OPTIMIZER, type OptimizerConfig } from './ops/optimizer.ts';
export { ACTIVATIONS, type Activation } from './ops/activations.ts';
export { Trainer, TrainingDivergedError, type TrainerOptions } from './train/trainer.ts';
export type { StepStats } from './train/telemetry.ts';
export { syntheticDataset } from './data/synthetic.ts';
export type { Dataset } from './data/dataset.ts';
