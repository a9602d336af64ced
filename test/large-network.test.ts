// Networks larger than one binding: the plan-time limit check, and a network whose weights
// exceed the binding budget trained split over several dispatches and buffers.
import { afterEach, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { modelSpec } from '../src/model/spec.ts';
import { paramLayout } from '../src/model/layout.ts';
import { limitsOf, PlanLimitError, UNLIMITED, type PlanLimits } from '../src/plan/limits.ts';
import { planTraining } from '../src/plan/plan.ts';
import { planEval } from '../src/plan/eval-plan.ts';
import { SOFTWARE_TUNING } from '../src/ops/tuning.ts';
import { Evaluator } from '../src/train/evaluate.ts';
import { collect, trainer, trainerOptions } from './support/train.ts';
import { gpu } from './support/gpu.ts';

const MiB = 2 ** 20;
const saved = process.env.RECTIGRAD_MAX_BINDING_BYTES;
afterEach(() => {
  if (saved === undefined) delete process.env.RECTIGRAD_MAX_BINDING_BYTES;
  else process.env.RECTIGRAD_MAX_BINDING_BYTES = saved;
});

/** A WebGPU backend on the real adapter with the binding budget lowered to `bytes`. */
async function budgetBackend(bytes: number): Promise<WebGpuBackend> {
  process.env.RECTIGRAD_MAX_BINDING_BYTES = String(bytes);
  return new WebGpuBackend(await gpu());
}

const budget = (bytes: number): PlanLimits => ({ ...UNLIMITED, bindingBytes: bytes, bufferBytes: bytes, source: 'test' });
const mnistLike = (hidden: number[]) => modelSpec({ inputs: 784, classes: 10, hidden, activation: 'relu', seed: 4 });
const shape = { examples: 64, features: 784, scale: 1 / 255, shift: 0 };

describe('limits when the plan is built', () => {
  it('RECTIGRAD_MAX_BINDING_BYTES lowers the adapter budget; bad values are refused', () => {
    const dev = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 31, maxStorageBuffersPerShaderStage: 8, maxComputeWorkgroupsPerDimension: 65535 };
    expect(limitsOf(dev).bindingBytes).toBe(2 ** 30);
    expect(limitsOf(dev, '1M')).toMatchObject({ bindingBytes: MiB, bufferBytes: MiB });
    expect(limitsOf(dev, '4G').bindingBytes).toBe(2 ** 30); // never above the adapter's
    expect(() => limitsOf(dev, 'lots')).toThrow(/RECTIGRAD_MAX_BINDING_BYTES="lots" is not a size/);
  });

  it('a layer whose 64 rows of weights exceed one binding is refused in model terms', () => {
    const cfg = { ...trainerOptions(), batch: 16 };
    const run = () => planTraining(mnistLike([1000, 10]), cfg, shape, SOFTWARE_TUNING, budget(64 * 1024));
    expect(run).toThrow(PlanLimitError);
    expect(run).toThrow(
      /dense layer 0 \(784 → 1000\).* would need 196\.0 KiB in one binding.* at most 64\.0 KiB \(test\): its 784 inputs are too many .* at most 256 values/,
    );
  });

  it('a batch whose activations exceed one binding is refused with the batch that would fit', () => {
    const cfg = { ...trainerOptions(), batch: 600 };
    expect(() => planTraining(mnistLike([1024]), cfg, { ...shape, examples: 1000 }, SOFTWARE_TUNING, budget(MiB))).toThrow(
      /the batch of 600 inputs of 784 values would need 1\.8 MiB in one binding .*: lower the batch to at most 334 \(it is 600\)/,
    );
  });

  it('a training set larger than one binding is refused with how many examples fit', () => {
    const cfg = { ...trainerOptions(), batch: 16 };
    expect(() => planTraining(mnistLike([100]), cfg, { ...shape, examples: 60000 }, SOFTWARE_TUNING, budget(8 * MiB))).toThrow(
      /the training set on the device \(60000 examples × 784 bytes\) would need 44\.9 MiB .*: use at most 10699 examples \(--train-limit\)/,
    );
  });

  it('the evaluation batch shrinks until its activations fit one binding', () => {
    const plan = planEval(mnistLike([1024, 1024]), 1000, { ...shape, examples: 600 }, 'eval.', SOFTWARE_TUNING, budget(MiB));
    expect(plan.batch).toBe(256);
    expect(plan.remainder?.rows).toBe(600 - 2 * 256);
  });

  it('on the real adapter the refusal comes before any buffer is allocated', async () => {
    const backend = await budgetBackend(64 * 1024);
    const data = syntheticDataset({ examples: 64, features: 784, classes: 10, seed: 2 });
    await expect(trainer(backend, mnistLike([1000, 10]), trainerOptions(), data)).rejects.toThrow(/dense layer 0 \(784 → 1000\)/);
    expect(backend.counters.buffers).toBe(0);
    expect(backend.memory().buffers).toBe(0);
  });

  it('the layout splits by rows of 64 and cuts the arena between pieces, offsets unchanged', () => {
    const model = mnistLike([1024, 1024]);
    const flat = paramLayout(model);
    const split = paramLayout(model, MiB);
    expect(split.size).toBe(flat.size);
    expect(split.layers.map((l) => l.weight)).toEqual(flat.layers.map((l) => l.weight));
    expect(split.layers[0].chunks.map((c) => c.rows)).toEqual([320, 320, 320, 64]);
    expect(split.layers[1].chunks.map((c) => c.rows)).toEqual([256, 256, 256, 256]);
    expect(split.layers[2].chunks).toEqual([{ row0: 0, rows: 10 }]);
    for (const b of split.buffers) expect(b.length * 4).toBeLessThanOrEqual(MiB);
    expect(split.buffers.reduce((s, b) => s + b.length, 0)).toBe(split.size);
  });
});

describe('a network larger than one binding', () => {
  it('784-1024-1024-10 with 1 MiB bindings trains the CPU trajectory, with a constant object count', async () => {
    const model = mnistLike([1024, 1024]);
    const data = syntheticDataset({ examples: 64, features: 784, classes: 10, seed: 2 });
    const opts = trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'adam' }, lr: 1e-3 });
    const steps = 10;
    const cpu = await collect((await trainer(new CpuBackend(), model, opts, data)).run(steps));

    const backend = await budgetBackend(MiB);
    const t = await trainer(backend, model, opts, data);
    const { plan } = t;
    // Weights, gradients and both moments are several buffers each; no binding above 1 MiB.
    expect(plan.chunks.params.length).toBeGreaterThan(1);
    expect(plan.chunks.opt.length).toBe(2 * plan.chunks.params.length);
    expect(plan.memory.largestBindingBytes).toBeLessThanOrEqual(MiB);
    expect(plan.memory.totalBytes).toBeGreaterThan(3 * plan.layout.size * 4);
    expect(plan.step.filter((s) => 'op' in s && s.op.shader === 'optimizer')).toHaveLength(plan.layout.buffers.length);

    const gpuRun = [...(await collect(t.run(1)))];
    const after1 = { ...backend.counters };
    gpuRun.push(...(await collect(t.run(steps - 1)))); // 4 steps per epoch: crosses two epochs
    expect(backend.counters).toEqual(after1);
    expect(backend.memory()).toMatchObject({ buffers: plan.memory.buffers, totalBytes: plan.memory.totalBytes });
    expect(backend.memory().largestBindingBytes).toBeLessThanOrEqual(MiB);

    // Same tolerance as the unsplit trajectory test (test/training.test.ts).
    for (let i = 0; i < steps; i++) {
      expect(gpuRun[i].step).toBe(cpu[i].step);
      expect(Math.abs(gpuRun[i].loss - cpu[i].loss) / Math.max(1, cpu[i].loss)).toBeLessThan(1e-3);
      for (let l = 0; l < 3; l++) {
        expect(Math.abs(gpuRun[i].gradNorm[l] - cpu[i].gradNorm[l]) / Math.max(1e-3, cpu[i].gradNorm[l])).toBeLessThan(1e-3);
      }
    }
    expect(gpuRun[steps - 1].loss).toBeLessThan(gpuRun[0].loss);
    // Parameters and moments read back whole across the buffers.
    const state = await t.state();
    expect(state.params.length).toBe(plan.layout.size);
    expect(state.v!.length).toBe(plan.layout.size);
    expect(state.v!.some((x) => x > 0)).toBe(true);
    // Evaluation runs the split forward pass over the same parameter buffers.
    const cpuTrainer = await trainer(new CpuBackend(), model, opts, data);
    await collect(cpuTrainer.run(steps));
    const cpuEval = await (await Evaluator.create(cpuTrainer.backend, model, data)).evaluate();
    const gpuEval = await (await Evaluator.create(backend, model, data)).evaluate();
    expect(Math.abs(gpuEval.loss - cpuEval.loss) / Math.max(1, cpuEval.loss)).toBeLessThan(1e-3);
    backend.destroy();
  }, 300_000);
});
