// The planner's whole backward pass (every layer, every activation, with the L1 penalty)
// against float64 central differences of the training objective, on the CPU backend in
// float64 mode: the same plan and the same op twins the GPU kernels are checked against.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { isClear, type PlanItem } from '../src/ops/op.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { initialParams } from '../src/model/init.ts';
import { modelSpec } from '../src/model/spec.ts';
import { ACTIVATIONS } from '../src/ops/activations.ts';
import { packBytes } from '../src/ops/gather.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { planTraining } from '../src/plan/plan.ts';

const hiddenActs = ACTIVATIONS.filter((a) => a !== 'linear');

describe('network gradient check (float64, central differences)', () => {
  it.each(
    hiddenActs.flatMap(
      (a) =>
        [
          [a, 0],
          [a, 0.01],
        ] as const,
    ),
  )('%s, L1 λ = %s', async (activation, l1) => {
    const B = 5;
    const data = syntheticDataset({ examples: 7, features: 6, classes: 3, seed: 4 });
    const model = modelSpec({ inputs: 6, classes: 3, hidden: [5, 4], activation, alpha: 0.1, init: 'he', seed: 2 });
    const plan = planTraining(model, { batch: B, l1, telemetry: false, optimizer: { ...DEFAULT_OPTIMIZER } }, data);
    const cpu = new CpuBackend('float64');
    cpu.allocate(plan.arenas);
    cpu.writeU(plan.regions.images, packBytes(data.images));
    cpu.writeU(plan.regions.labels, Uint32Array.from(data.labels));
    cpu.writeU(
      plan.regions.order,
      Uint32Array.from({ length: data.examples }, (_, i) => i),
    );
    const p0 = Float64Array.from(initialParams(model));
    // Non-zero biases so no unit sits exactly at a kink.
    for (const l of plan.layout.layers) for (let j = 0; j < l.outputs; j++) p0[l.bias + j] = 0.05 * Math.sin(j + 1);
    cpu.writeF(plan.regions.params, p0);

    const values = { lr: 0, t: 1, batchStart: 0 };
    const steps = plan.step.filter((s): s is Exclude<PlanItem, { clear: unknown }> => !isClear(s));
    const forwardEnd = steps.findIndex((s) => s.label === 'softmax cross-entropy') + 1;
    const backward = steps.filter((s) => s.label !== 'update');
    const hiddenA = plan.tensors.a.slice(0, -1);

    const objective = async (): Promise<number> => {
      cpu.run(steps.slice(0, forwardEnd), values);
      const ce = (await cpu.readF(plan.regions.stats))[plan.stats.loss];
      let pen = 0;
      for (const r of hiddenA) for (const v of await cpu.readF(r)) pen += Math.abs(v);
      return ce + (l1 / B) * pen;
    };

    cpu.run(backward, values);
    const grads = await cpu.readF(plan.regions.grads);
    const h = 1e-6;
    let worst = 0;
    let checked = 0;
    for (const l of plan.layout.layers) {
      const idx = [...Array(l.inputs * l.outputs).keys()].map((k) => l.weight + k).concat([...Array(l.outputs).keys()].map((k) => l.bias + k));
      for (const i of idx) {
        const p = p0.slice();
        p[i] = p0[i] + h;
        cpu.writeF(plan.regions.params, p);
        const up = await objective();
        p[i] = p0[i] - h;
        cpu.writeF(plan.regions.params, p);
        const down = await objective();
        const fd = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - grads[i]) / Math.max(1e-3, Math.abs(fd) + Math.abs(grads[i])));
        checked++;
      }
    }
    expect(checked).toBe(plan.layout.count);
    expect(worst).toBeLessThan(1e-5);
  });
});
