// rectigrad: a WebGPU training engine for rectifier networks.
// The declarations use WebGPU's types (GPUDevice, …): the reference is kept in index.d.ts so
// a consumer's type check finds them without listing @webgpu/types itself.
/// <reference types="@webgpu/types" preserve="true" />
export { createBackend, BACKENDS, type BackendChoice, type CreateBackendOptions, type CreatedBackend } from './backend/create.ts';
export type { Backend } from './backend/backend.ts';
export { CpuBackend, type CpuBackendOptions } from './backend/cpu/cpu-backend.ts';
export { SPARSE_MODES, type SparseMode, type SparsePathStat } from './backend/cpu/sparse-matmul.ts';
export { WebGpuBackend } from './backend/webgpu/webgpu-backend.ts';
export { DeviceLostError } from './backend/webgpu/lost.ts';
export { acquireGpu, adapterName } from './backend/webgpu/device.ts';
export { PAPER_MODEL, modelSpec, validateModel, describeModel, type ModelSpec } from './model/spec.ts';
export { paramLayout } from './model/layout.ts';
export { initialParams } from './model/init.ts';
export { planTraining, flopsPerExample, type TrainConfig, type DropoutConfig } from './plan/plan.ts';
export { DEFAULT_LR, DEFAULT_OPTIMIZER, type OptimizerConfig } from './ops/optimizer.ts';
export { scheduledLr, validateSchedule, describeSchedule, LR_SCHEDULES, CONSTANT_LR, type LrSchedule, type LrScheduleKind } from './ops/lr-schedule.ts';
export { ACTIVATIONS, type Activation } from './ops/activations.ts';
export { Trainer, TrainingDivergedError, type TrainerOptions } from './train/trainer.ts';
export type { StepStats } from './train/telemetry.ts';
export { syntheticDataset } from './data/synthetic.ts';
export { datasetFromArrays, type Dataset, type PixelDataset, type ArraysDataset } from './data/dataset.ts';
export { Evaluator, type EvalResult } from './train/evaluate.ts';
export { trainRun, type EpochRecord, type RunResult, type RunHooks } from './train/run.ts';
export { Predictor, PREDICT_ROWS, type Prediction, type PredictOptions } from './train/predict.ts';
export { WorkerTrainer, defaultWorker, type WorkerTrainerInit, type WorkerTrainerInfo } from './train/worker/worker-trainer.ts';
export { UnitScanner, scanUnits, DEFAULT_TAU, type UnitScanResult, type LayerActivity } from './train/unit-scan.ts';
export { DeadAlarm, DeadLayerError, type DeadAlarmOptions, type DeadLayerAlarm, type DeadLayerCause } from './train/dead-alarm.ts';
export { reviveUnits, unitsFromScan, type UnitsByLayer } from './train/revive.ts';
export { pruneUnits, largestChange, type PruneResult } from './train/prune.ts';
export { checkDeadUnits, type DeadCheck } from './train/dead-check.ts';
export { DEAD_UNIT_POLICIES, type DeadUnitPolicy, type DeadUnitOptions, type DeadUnitCheck, type DeadUnitsReport } from './train/dead-units.ts';
export { encodeCheckpoint, decodeCheckpoint, type CheckpointState } from './io/checkpoint.ts';
export { runConfig, parseRunConfig, type RunConfig, type RunDeadUnits, type RunDropout } from './io/checkpoint-config.ts';
export { limitDataset, sliceDataset, sampleDataset, validateDataset } from './data/dataset.ts';
export { parseIdx, imagesAndLabels } from './data/idx.ts';
export { fetchIdxSplit } from './data/fetch-idx.ts';
