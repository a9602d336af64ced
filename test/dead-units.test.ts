// The trainer's dead-unit options end to end on real (small) networks: the alarm on a
// layer killed on purpose and not on a healthy run, revive and prune applied at the end
// of each window, the grace period without L1, stopOnDeadLayer, and a pruned model that
// saves, loads, resumes and evaluates alike on the CPU and on WebGPU.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { sampleDataset } from '../src/data/dataset.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/io/checkpoint.ts';
import { paramLayout } from '../src/model/layout.ts';
import { paramsArena } from '../src/plan/eval-plan.ts';
import { DeadLayerError } from '../src/train/dead-alarm.ts';
import { Evaluator } from '../src/train/evaluate.ts';
import { largestChange } from '../src/train/prune.ts';
import { trainRun } from '../src/train/run.ts';
import type { StepStats } from '../src/train/telemetry.ts';
import { Trainer, type TrainerOptions } from '../src/train/trainer.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallData, smallModel, trainerOptions } from './support/train.ts';

const data = smallData(512);
const test = syntheticDataset({ examples: 150, features: 20, classes: 5, seed: 3, split: 'test' });
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const inputs = Float32Array.from(data.images, (p) => p * data.scale + data.shift);

/** Sets these units' biases to −100: their pre-activation is below 0 on every example. */
async function kill(t: Trainer, layer: number, units: number[]): Promise<void> {
  const p = await t.getParams();
  const l = t.plan.layout.layers[layer];
  for (const j of units) p[l.bias + j] = -100;
  t.setParams(p);
}

const alarmsOf = (stats: StepStats[]) => stats.flatMap((s) => s.alarms ?? []);

describe('dead-layer alarm in the trainer', () => {
  it('fires once, naming the layer, the step, the fraction and the cause, on a layer killed on purpose', async () => {
    // A window of 4 steps: the units killed after step 6 are dead over the windows from step 9 on.
    const t = await Trainer.create(new CpuBackend(), smallModel(), trainerOptions({ deadWindow: 64 }), data);
    expect(alarmsOf(await collect(t.run(6)))).toEqual([]);
    await kill(
      t,
      1,
      Array.from({ length: 17 }, (_, j) => j),
    );
    const stats = await collect(t.run(30));
    const alarms = alarmsOf(stats);
    expect(alarms).toHaveLength(1);
    const [a] = alarms;
    expect(a.layer).toBe(2);
    expect(a.deadFraction).toBe(1);
    expect(a.cause).toBe('learning-rate');
    expect(a.reason).toBe('dead-units');
    expect(a.step).toBe(28); // 20 steps (settle) of windows all dead, from step 9
    expect(a.message).toMatch(/^hidden layer 2 at step \d+: .*17 of 17 units \(100%\).*likely cause: learning rate too high/);
    // On the step it was raised, and in the running account.
    expect(stats.find((s) => s.step === a.step)!.alarms).toEqual([a]);
    expect(t.deadUnitsReport.alarms).toEqual([a]);
    // Never again for layer 2; layer 1, cut off from every gradient since step 7, is named
    // once no gradient has reached it for 50 steps, blocked by layer 2.
    const later = alarmsOf(await collect(t.run(40)));
    expect(later.map((x) => [x.layer, x.reason, x.cause, x.step])).toEqual([[1, 'no-gradient', 'blocked', 56]]);
  });

  it('stays silent on a healthy run', async () => {
    const t = await Trainer.create(new CpuBackend(), smallModel(), trainerOptions({ deadWindow: 64 }), data);
    const stats = await collect(t.run(3 * t.stepsPerEpoch));
    expect(stats[stats.length - 1].loss).toBeLessThan(stats[0].loss);
    expect(alarmsOf(stats)).toEqual([]);
    expect(t.deadUnitsReport).toMatchObject({ policy: 'keep', checks: 0, alarms: [], revived: [0, 0], pruned: [0, 0] });
  });

  it('a lower deadAlarm threshold fires on a layer only partly killed', async () => {
    const run = async (deadAlarm?: number) => {
      const t = await Trainer.create(new CpuBackend(), smallModel(), trainerOptions({ deadAlarm }), data);
      await kill(
        t,
        0,
        Array.from({ length: 10 }, (_, j) => j),
      ); // 10 of 24: 42%
      return alarmsOf(await collect(t.run(30)));
    };
    expect(await run()).toEqual([]);
    expect((await run(0.4)).map((a) => a.layer)).toEqual([1]);
  });

  it('stopOnDeadLayer: trainRun ends with a DeadLayerError naming the layer, the trainer holding the state reached', async () => {
    let trainer: Trainer | undefined;
    const seen: StepStats[] = [];
    const err = await trainRun(
      new CpuBackend(),
      smallModel(),
      trainerOptions({ stopOnDeadLayer: true }),
      data,
      test,
      { steps: 200 },
      {
        onStart: (t) => {
          trainer = t;
        },
        onStep: async (s) => {
          seen.push(s);
          if (s.step === 5)
            await kill(
              trainer!,
              1,
              Array.from({ length: 17 }, (_, j) => j),
            );
        },
      },
    ).then(
      () => expect.unreachable('the run should have stopped'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeadLayerError);
    const alarm = (err as DeadLayerError).alarm;
    expect(alarm.layer).toBe(2);
    expect((err as Error).message).toMatch(/^hidden layer 2 at step \d+/);
    // Stopped soon after (the steps in flight finish and are handed out), not at 200.
    expect(trainer!.step).toBeLessThan(alarm.step + 5);
    expect(seen[seen.length - 1].step).toBe(trainer!.step);
    const state = await trainer!.state();
    expect(state.params.every(Number.isFinite)).toBe(true);
  });
});

describe('dead-unit policies in the trainer', () => {
  const windowed = (over: Partial<TrainerOptions>) => trainerOptions({ deadWindow: 8 * 16, ...over });

  it('revive: units killed mid-window come back at its end, the outputs bit-identical at that moment', async () => {
    const model = smallModel();
    const make = (o: Partial<TrainerOptions>) => Trainer.create(new CpuBackend(), model, windowed(o), data);
    const [t, twin] = await Promise.all([make({ deadUnits: 'revive' }), make({})]);
    for (const x of [t, twin]) {
      await collect(x.run(3));
      await kill(x, 0, [2, 5, 9]);
    }
    const stats = await collect(t.run(5));
    await collect(twin.run(5));
    const check = stats[stats.length - 1].deadCheck!;
    expect(check.step).toBe(8);
    expect(check.examples).toBe(128);
    expect(check.revived[0]).toBe(check.dead[0]);
    expect(check.revived[0]).toBeGreaterThanOrEqual(3);
    expect(check.redied).toEqual([0, 0]);
    // Revived: bias 0, outgoing column 0; the function computed is the same, to the bit.
    const p = await t.getParams();
    const [l0, l1] = t.plan.layout.layers;
    for (const j of [2, 5, 9]) {
      expect(p[l0.bias + j]).toBe(0);
      for (let i = 0; i < l1.outputs; i++) expect(p[l1.weight + i * l1.inputs + j]).toBe(0);
    }
    const [a, b] = await Promise.all([t.predict(inputs), twin.predict(inputs)]);
    expect(bits(a.probabilities)).toEqual(bits(b.probabilities));
    // They learn again: active in the next window, not found dead at its check.
    const more = await collect(t.run(8));
    const next = more[more.length - 1].deadCheck!;
    expect(next.step).toBe(16);
    expect(next.redied[0]).toBe(0);
    const active = await t.activeInWindow(0);
    for (const j of [2, 5, 9]) expect(active[j]).toBe(1);
    expect(t.deadUnitsReport).toMatchObject({ policy: 'revive', checks: 2, revived: [check.revived[0] + next.revived[0], check.revived[1] + next.revived[1]] });
  });

  it('revive with reviveGrace: no L1 on a revived unit for that many steps, then the penalty again', async () => {
    const model = smallModel();
    const run = async (reviveGrace: number) => {
      const t = await Trainer.create(new CpuBackend(), model, windowed({ deadUnits: 'revive', l1: 0.05, reviveGrace }), data);
      await collect(t.run(3));
      await kill(t, 0, [4]);
      await collect(t.run(5));
      const l0 = t.plan.layout.layers[0];
      const row = async () => (await t.getParams()).slice(l0.weight + 4 * l0.inputs, l0.weight + 5 * l0.inputs);
      const revived = await row();
      await collect(t.run(1));
      return { t, revived, after: await row() };
    };
    // The revived unit's outgoing weights are 0, so the loss sends nothing back to it on
    // the first step: only the L1 penalty moves its incoming row, unless spared.
    const spared = await run(3);
    expect(bits(spared.after)).toEqual(bits(spared.revived));
    const plain = await run(0);
    expect(bits(plain.after)).not.toEqual(bits(plain.revived));
    // The mask holds 0 for the unit until the grace ends, then 1 again.
    const mask = spared.t.plan.regions.l1Mask!.layers[0];
    expect((await spared.t.backend.readF(mask))[4]).toBe(0);
    await collect(spared.t.run(2)); // spared for steps 9, 10 and 11
    expect((await spared.t.backend.readF(mask))[4]).toBe(0);
    await collect(spared.t.run(1));
    expect(Array.from(await spared.t.backend.readF(mask)).every((x) => x === 1)).toBe(true);
  });

  it('prune: dead units removed for good, the plan rebuilt with smaller widths, training goes on', async () => {
    const model = smallModel();
    const make = (o: Partial<TrainerOptions>) => Trainer.create(new CpuBackend(), model, windowed(o), data);
    const [t, twin] = await Promise.all([
      make({ deadUnits: 'prune', optimizer: { ...trainerOptions().optimizer, kind: 'adam' }, lr: 0.003 }),
      make({ optimizer: { ...trainerOptions().optimizer, kind: 'adam' }, lr: 0.003 }),
    ]);
    for (const x of [t, twin]) {
      await collect(x.run(3));
      await kill(x, 0, [1, 4, 20]);
      await kill(x, 1, [0, 3, 6, 16]);
    }
    const stats = await collect(t.run(5));
    await collect(twin.run(5));
    const check = stats[stats.length - 1].deadCheck!;
    expect(check.pruned[0]).toBeGreaterThanOrEqual(3);
    expect(check.pruned[1]).toBeGreaterThanOrEqual(4);
    expect(check.widths).toEqual([24 - check.pruned[0], 17 - check.pruned[1]]);
    expect(t.model.hidden).toEqual(check.widths);
    expect(t.plan.layout.layers[0].outputs).toBe(check.widths[0]);
    // Same outputs (within rounding) as the unpruned twin.
    const [a, b] = await Promise.all([t.predict(inputs), twin.predict(inputs)]);
    expect(largestChange(a.probabilities, b.probabilities)).toBeLessThan(1e-5);
    const more = await collect(t.run(16));
    expect(more.every((s) => Number.isFinite(s.loss) && s.sparsity.length === 2)).toBe(true);
    expect(more[more.length - 1].step).toBe(24);
    expect(t.deadUnitsReport.pruned[0]).toBeGreaterThanOrEqual(check.pruned[0]);
    expect(t.deadUnitsReport.widths).toEqual(t.model.hidden);
  });

  it('trainRun with prune: the test set is evaluated with the pruned model; its state saves, loads and resumes', async () => {
    let trainer: Trainer | undefined;
    const backend = new CpuBackend();
    const r = await trainRun(
      backend,
      smallModel(),
      trainerOptions({ deadUnits: 'prune', deadWindow: 160 }),
      data,
      test,
      { steps: 64 },
      {
        onStart: (t) => {
          trainer = t;
        },
        onStep: async (s) => {
          if (s.step === 3) await kill(trainer!, 1, [2, 7]);
        },
      },
    );
    expect(r.checks.length).toBe(6);
    expect(r.deadUnits.pruned[1]).toBeGreaterThanOrEqual(2);
    expect(r.epochs[1].widths).toEqual(r.trainer.model.hidden);
    expect(r.epochs[1].widths[1]).toBeLessThanOrEqual(15);
    expect(r.testSet.model).toBe(r.trainer.model);
    const ev = await r.testSet.evaluate();
    expect(ev.loss).toBeCloseTo(r.final!.testLoss, 6);

    // The checkpoint records the smaller widths (in its model and its tensors' shapes).
    const ck = decodeCheckpoint(encodeCheckpoint(await r.trainer.state({ note: 'pruned' })));
    expect(ck.model.hidden).toEqual(r.trainer.model.hidden);
    expect(ck.params.length).toBe(paramLayout(ck.model).size);
    const resumed = await trainRun(new CpuBackend(), ck.model, trainerOptions({ deadUnits: 'prune', deadWindow: 160 }), data, test, { steps: 96, resume: ck });
    expect(resumed.epochs.map((e) => e.epoch)).toEqual([3]);
    expect(Number.isFinite(resumed.final!.testLoss)).toBe(true);
    expect(resumed.trainer.step).toBe(96);
  });

  it('refuses bad settings with a message naming the option', async () => {
    const bad: [Partial<TrainerOptions>, RegExp][] = [
      [{ deadUnits: 'zap' as never }, /deadUnits must be one of keep, revive, prune, got "zap"/],
      [{ deadWindow: 0.5 }, /deadWindow must be a positive whole number of examples/],
      [{ deadUnits: 'revive', dormantTau: -1 }, /dormantTau must be a finite number ≥ 0/],
      [{ dormantTau: 0.1 }, /dormantTau .* needs deadUnits 'revive' or 'prune', not 'keep'/],
      [{ deadUnits: 'revive', reviveGrace: 1.5 }, /reviveGrace must be a whole number of steps ≥ 0/],
      [{ deadUnits: 'prune', reviveGrace: 5 }, /reviveGrace applies to revived units: it needs deadUnits 'revive', not 'prune'/],
      [{ deadAlarm: 0 }, /deadAlarm must be a fraction in \(0, 1\]/],
      [{ deadAlarm: 1.5 }, /deadAlarm must be a fraction in \(0, 1\]/],
      [{ stopOnDeadLayer: 'yes' as never }, /stopOnDeadLayer must be true or false/],
    ];
    for (const [over, msg] of bad) await expect(Trainer.create(new CpuBackend(), smallModel(), trainerOptions(over), data)).rejects.toThrow(msg);
    await expect(Trainer.create(new CpuBackend(), smallModel({ hidden: [] }), trainerOptions({ deadUnits: 'revive' }), data)).rejects.toThrow(
      /deadUnits 'revive' needs hidden layers/,
    );
  });
});

describe('a pruned checkpoint', () => {
  it('trained with prune on WebGPU, evaluates the same on the CPU and on WebGPU', async () => {
    const gpu = await gpuBackend();
    let trainer: Trainer | undefined;
    const r = await trainRun(
      gpu,
      smallModel(),
      trainerOptions({ deadUnits: 'prune', deadWindow: 128 }),
      data,
      test,
      { steps: 40 },
      {
        onStart: (t) => {
          trainer = t;
        },
        onStep: async (s) => {
          if (s.step === 2) await kill(trainer!, 0, [0, 11, 23]);
        },
      },
    );
    expect(r.deadUnits.pruned[0]).toBeGreaterThanOrEqual(3);
    const ck = decodeCheckpoint(encodeCheckpoint(await r.trainer.state()));
    expect(ck.model.hidden[0]).toBeLessThanOrEqual(21);
    const evaluate = async (backend: Backend) => {
      const own = paramsArena(ck.model, backend.limits);
      backend.allocate(own.arenas, own.chunks);
      backend.writeF(own.params, ck.params);
      const ev = await (await Evaluator.create(backend, ck.model, test)).evaluate();
      backend.destroy();
      return ev;
    };
    const [onCpu, onGpu] = [await evaluate(new CpuBackend()), await evaluate(await gpuBackend())];
    expect(onGpu.error).toBe(onCpu.error);
    expect(onGpu.deadUnits).toEqual(onCpu.deadUnits);
    expect(Math.abs(onGpu.loss - onCpu.loss)).toBeLessThan(1e-5);
    // And as the run's own last evaluation on WebGPU.
    expect(Math.abs(r.final!.testLoss - onCpu.loss)).toBeLessThan(1e-5);
    gpu.destroy();
  });
});

describe('sampleDataset', () => {
  it('draws distinct examples, kept in order with their labels; the whole set when asked for as many', () => {
    const d = syntheticDataset({ examples: 50, features: 4, classes: 3, seed: 2 });
    const s = sampleDataset(d, 12, 9);
    expect(s.examples).toBe(12);
    const rows = Array.from({ length: 12 }, (_, k) => Array.from(s.images.subarray(k * 4, k * 4 + 4)).join());
    const index = rows.map((row, k) =>
      Array.from({ length: 50 }, (_, i) => i).find((i) => Array.from(d.images.subarray(i * 4, i * 4 + 4)).join() === row && d.labels[i] === s.labels[k])!,
    );
    expect(index.every((i) => i !== undefined)).toBe(true);
    expect([...index].sort((a, b) => a - b)).toEqual(index);
    expect(sampleDataset(d, 12, 9).images).toEqual(s.images);
    expect(sampleDataset(d, 12, 10).images).not.toEqual(s.images);
    expect(sampleDataset(d, 50, 9)).toBe(d);
    expect(() => sampleDataset(d, 0, 9)).toThrow(/positive whole number/);
  });
});
