// Dropout in training: the planner's backward pass with a fixed mask against float64
// central differences, dropout 0 as no dropout at all, a resumed run equal to the
// uninterrupted one, WebGPU and the CPU (dense, sparse and reference paths) following each
// other, evaluation untouched, and clear messages for rates that are not probabilities.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/io/checkpoint.ts';
import { initialParams } from '../src/model/init.ts';
import { modelSpec } from '../src/model/spec.ts';
import { packBytes } from '../src/ops/gather.ts';
import { isClear, type PlanItem, type PlanStep } from '../src/ops/op.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { planEval } from '../src/plan/eval-plan.ts';
import { UNLIMITED } from '../src/plan/limits.ts';
import { planTraining } from '../src/plan/plan.ts';
import { isSplit } from '../src/plan/split.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

const dropout = { hidden: 0.5, input: 0.2 };

describe('network gradient check under dropout (float64, central differences, a fixed mask)', () => {
  it.each([
    ['relu', 0],
    ['relu', 0.01],
    ['tanh', 0.01],
  ] as const)('%s, L1 λ = %s, hidden 0.5, input 0.3', async (activation, l1) => {
    const B = 5;
    const data = syntheticDataset({ examples: 7, features: 6, classes: 3, seed: 4 });
    const model = modelSpec({ inputs: 6, classes: 3, hidden: [5, 4], activation, init: 'he', seed: 2 });
    const plan = planTraining(model, { batch: B, l1, telemetry: false, optimizer: { ...DEFAULT_OPTIMIZER }, dropout: { hidden: 0.5, input: 0.3 } }, data);
    const cpu = new CpuBackend('float64');
    cpu.allocate(plan.arenas);
    cpu.writeU(plan.regions.images, packBytes(data.images));
    cpu.writeU(plan.regions.labels, Uint32Array.from(data.labels));
    cpu.writeU(
      plan.regions.order,
      Uint32Array.from({ length: data.examples }, (_, i) => i),
    );
    const p0 = Float64Array.from(initialParams(model));
    for (const l of plan.layout.layers) for (let j = 0; j < l.outputs; j++) p0[l.bias + j] = 0.05 * Math.sin(j + 1);
    cpu.writeF(plan.regions.params, p0);

    // The mask depends on the step, not on the parameters: every evaluation at t = 3 draws the same one.
    const values = { lr: 0, t: 3, batchStart: 0 };
    const steps = plan.step.filter((s): s is PlanStep => !isClear(s));
    expect(steps.filter((s) => s.op.shader === 'dropout').map((s) => s.label)).toEqual([
      'dropout 0',
      'dropout 1',
      'dropout 2',
      'dropout backward 2',
      'dropout backward 1',
    ]);
    const forwardEnd = steps.findIndex((s) => s.label === 'softmax cross-entropy') + 1;
    const backward = steps.filter((s) => s.label !== 'update');
    const hiddenA = plan.tensors.a.slice(0, -1);
    const objective = async (): Promise<number> => {
      cpu.run(steps.slice(0, forwardEnd), values);
      const ce = (await cpu.readF(plan.regions.stats))[plan.stats.loss];
      // The L1 term is on the undropped activations.
      let pen = 0;
      for (const r of hiddenA) for (const v of await cpu.readF(r)) pen += Math.abs(v);
      return ce + (l1 / B) * pen;
    };

    cpu.run(backward, values);
    // The mask drops something in every dropped tensor, and keeps something.
    for (const [i, r] of plan.tensors.inputs.entries()) {
      const src = await cpu.readF(i === 0 ? plan.tensors.x : plan.tensors.a[i - 1]);
      const got = await cpu.readF(r);
      const droppedHere = [...got.keys()].filter((k) => got[k] === 0 && src[k] !== 0).length;
      expect(droppedHere, `layer ${i}`).toBeGreaterThan(0);
      expect(got.some((v) => v !== 0)).toBe(true);
    }
    const grads = await cpu.readF(plan.regions.grads);
    const h = 1e-6;
    let worst = 0;
    for (let i = 0; i < plan.layout.size; i++) {
      if (!plan.layout.layers.some((l) => (i >= l.weight && i < l.weight + l.inputs * l.outputs) || (i >= l.bias && i < l.bias + l.outputs))) continue;
      const p = p0.slice();
      p[i] = p0[i] + h;
      cpu.writeF(plan.regions.params, p);
      const up = await objective();
      p[i] = p0[i] - h;
      cpu.writeF(plan.regions.params, p);
      const down = await objective();
      const fd = (up - down) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - grads[i]) / Math.max(1e-3, Math.abs(fd) + Math.abs(grads[i])));
    }
    expect(worst).toBeLessThan(1e-5);
  });
});

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('training with dropout', () => {
  it('dropout 0 is no dropout: the same plan and, bit for bit, the same trajectory', async () => {
    const plain = trainerOptions();
    const zero = trainerOptions({ dropout: { hidden: 0, input: 0 } });
    const data = smallData();
    expect(planTraining(smallModel(), zero, data).step).toEqual(planTraining(smallModel(), plain, data).step);
    const a = await trainer(new CpuBackend(), smallModel(), plain);
    const b = await trainer(new CpuBackend(), smallModel(), zero);
    const sa = await collect(a.run(40));
    const sb = await collect(b.run(40));
    expect(sb.map((s) => s.loss)).toEqual(sa.map((s) => s.loss));
    expect(bits(await b.getParams())).toEqual(bits(await a.getParams()));
    // And dropout on takes another path.
    const c = await trainer(new CpuBackend(), smallModel(), trainerOptions({ dropout }));
    await collect(c.run(40));
    expect(bits(await c.getParams())).not.toEqual(bits(await a.getParams()));
    // The telemetry reads the activations undropped: with the pixels kept, the first step's
    // first hidden layer is what it is without dropout (only the layer after it reads a dropped input).
    const h = await trainer(new CpuBackend(), smallModel(), trainerOptions({ dropout: { hidden: 0.5 } }));
    const [first] = await collect(h.run(1));
    expect(first.sparsity[0]).toBe(sa[0].sparsity[0]);
    expect(first.sparsity[1]).not.toBe(sa[0].sparsity[1]);
  });

  it('a resumed run follows the uninterrupted one exactly (CPU and WebGPU, momentum, mid-epoch)', async () => {
    const opts = trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'momentum' }, lr: 0.02, dropout });
    for (const make of [async () => new CpuBackend(), gpuBackend]) {
      const whole = await trainer(await make(), smallModel(), opts);
      const ws = await collect(whole.run(50));
      const first = await trainer(await make(), smallModel(), opts);
      await collect(first.run(20)); // 32 steps per epoch
      const second = await trainer(await make(), smallModel(), opts);
      second.restore(decodeCheckpoint(encodeCheckpoint(await first.state())));
      const rest = await collect(second.run(30));
      expect(rest.map((s) => s.loss)).toEqual(ws.slice(20).map((s) => s.loss));
      expect(bits(await second.getParams())).toEqual(bits(await whole.getParams()));
    }
  });

  it('WebGPU and the CPU (dense, sparse, reference) follow each other, and the telemetry reads the undropped activations', async () => {
    const opts = trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'momentum' }, lr: 0.02, l1: 1e-3, dropout });
    const runs = await Promise.all(
      [
        gpuBackend(),
        new CpuBackend('float32', { sparse: 'off' }),
        new CpuBackend('float32', { sparse: 'on' }),
        new CpuBackend('float32', { reference: true }),
      ].map(async (b) => {
        const t = await trainer(await b, smallModel(), opts);
        return { stats: await collect(t.run(30)), params: await t.getParams() };
      }),
    );
    const [gpu, ...cpus] = runs;
    for (const cpu of cpus) {
      let worst = 0;
      for (let i = 0; i < 30; i++) worst = Math.max(worst, Math.abs(gpu.stats[i].loss - cpu.stats[i].loss) / Math.max(1, cpu.stats[i].loss));
      expect(worst).toBeLessThan(1e-4);
      let pw = 0;
      for (let i = 0; i < gpu.params.length; i++) pw = Math.max(pw, Math.abs(gpu.params[i] - cpu.params[i]));
      expect(pw).toBeLessThan(1e-4);
    }
    // Sparsity counts the hidden outputs as they are (about half zeros after a glorot init),
    // not as the next layer reads them (another half dropped on top).
    for (const r of runs) expect(Math.max(...r.stats[0].sparsity)).toBeLessThan(0.7);
  });

  it('a layer split over several bindings drops its input as a whole one does (CPU, the split plan)', async () => {
    // The CPU backend holds each arena whole, so it runs the split plan's steps as planned here.
    class SplitCpu extends CpuBackend {
      readonly limits = { ...UNLIMITED, bindingBytes: 16384, bufferBytes: 16384, source: 'test' };
    }
    const model = smallModel({ hidden: [64, 160] }); // layer 1 (64 → 160) split, its input dropped
    const data = smallData(256);
    const opts = trainerOptions({ batch: 8, dropout });
    const whole = await trainer(new CpuBackend('float32', { reference: true }), model, opts, data);
    const split = await trainer(new SplitCpu('float32', { reference: true }), model, opts, data);
    expect(isSplit(split.plan.layout)).toBe(true);
    expect(isSplit(whole.plan.layout)).toBe(false);
    const a = await collect(whole.run(20));
    const b = await collect(split.run(20));
    for (let i = 0; i < 20; i++) expect(Math.abs(a[i].loss - b[i].loss) / Math.max(1, a[i].loss)).toBeLessThan(1e-5);
  });

  it('evaluation never drops: the evaluation plan has no dropout step', () => {
    const plan = planEval(smallModel(), 100, { examples: 512, features: 20, scale: 1, shift: 0 });
    const items: PlanItem[] = [...plan.full, ...(plan.remainder?.steps ?? [])];
    expect(items.some((s) => !isClear(s) && s.op.shader === 'dropout')).toBe(false);
    expect(items.some((s) => !isClear(s) && s.op.shader === 'matmul')).toBe(true);
  });

  it.each([
    [{ hidden: 1 }, /dropout\.hidden must be a drop probability in \[0, 1\).*got 1/],
    [{ hidden: -0.5 }, /dropout\.hidden must be a drop probability in \[0, 1\).*got -0\.5/],
    [{ hidden: NaN }, /dropout\.hidden must be a drop probability.*got NaN/],
    [{ hidden: 0.5, input: 1.2 }, /dropout\.input must be a drop probability.*got 1\.2/],
    [{ hidden: 0.5, seed: -1 }, /dropout\.seed must be a whole number ≥ 0/],
  ])('refuses %o with a clear message', async (d, message) => {
    await expect(trainer(new CpuBackend(), smallModel(), trainerOptions({ dropout: d }))).rejects.toThrow(message);
  });
});
