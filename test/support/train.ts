// Small seeded training setups shared by the engine-level suites.
import type { Backend } from '../../src/backend/backend.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { modelSpec, type ModelSpec } from '../../src/model/spec.ts';
import { DEFAULT_OPTIMIZER } from '../../src/ops/optimizer.ts';
import { Trainer, type TrainerOptions } from '../../src/train/trainer.ts';

export const smallData = (examples = 512, features = 20) => syntheticDataset({ examples, features, classes: 5, seed: 3 });

export function smallModel(over: Partial<ModelSpec> = {}): ModelSpec {
  return modelSpec({ inputs: 20, classes: 5, hidden: [24, 17], activation: 'relu', seed: 11, ...over });
}

export function trainerOptions(over: Partial<TrainerOptions> = {}): TrainerOptions {
  return { batch: 16, l1: 0, telemetry: true, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' }, lr: 0.05, shuffleSeed: 5, ...over };
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function trainer(backend: Backend, model = smallModel(), opts = trainerOptions(), data = smallData()) {
  return Trainer.create(backend, model, opts, data);
}
