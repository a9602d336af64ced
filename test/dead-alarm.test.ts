// The dead-layer alarm on real training runs (a layer killed on purpose, a learning rate
// far too high, a healthy run) and on hand-made stats sequences.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { Backend } from '../src/backend/backend.ts';
import { DeadAlarm, DeadLayerError, type DeadLayerAlarm } from '../src/train/dead-alarm.ts';
import type { StepStats } from '../src/train/telemetry.ts';
import type { Trainer } from '../src/train/trainer.ts';
import { scanUnits } from '../src/train/unit-scan.ts';
import { gpuBackend } from './support/gpu.ts';
import { smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

async function watch(t: Trainer, steps: number, alarm: DeadAlarm): Promise<DeadLayerAlarm[]> {
  const out: DeadLayerAlarm[] = [];
  for await (const s of t.run(steps)) out.push(...alarm.observe(s));
  return out;
}

async function killLayer2(backend: Backend) {
  const model = smallModel({ hidden: [24, 17] });
  const t = await trainer(backend, model, trainerOptions({ lr: 0.05 }));
  const p = await t.getParams();
  const l = t.plan.layout.layers[1];
  for (let j = 0; j < l.outputs; j++) p[l.bias + j] = -100;
  t.setParams(p);
  return { t, model };
}

describe('dead-layer alarm on training runs', () => {
  for (const kind of ['cpu', 'webgpu'] as const) {
    it(`${kind}: hidden layer 2 killed on purpose (biases −100) is named, and layer 1 then gets no gradient`, async () => {
      const { t, model } = await killLayer2(kind === 'cpu' ? new CpuBackend() : await gpuBackend());
      const alarm = new DeadAlarm(model.hidden);
      const raised = await watch(t, 60, alarm);
      expect(raised.map((a) => [a.layer, a.reason, a.step, a.cause])).toEqual([
        [2, 'dead-units', 20, 'initialisation'],
        [1, 'no-gradient', 50, 'blocked'],
      ]);
      expect(raised[0]).toMatchObject({ units: 17, deadUnits: 17, deadFraction: 1, since: 1 });
      expect(raised[0].message).toMatch(/^hidden layer 2 at step 20: 17 of 17 units \(100%\) dead .* likely cause: initialisation/);
      expect(raised[1].message).toMatch(/hidden layer 1 at step 50: no gradient .* hidden layer 2 is entirely dead/);
      // Once per layer: nothing more, however long it stays dead.
      expect(await watch(t, 20, alarm)).toEqual([]);
      expect(alarm.alarms).toEqual(raised);
      expect(JSON.parse(JSON.stringify(raised))).toEqual(raised);
    });
  }

  it('a learning rate far too high kills the layer during training: cause learning rate', async () => {
    const model = smallModel({ hidden: [64] });
    const t = await trainer(new CpuBackend(), model, trainerOptions({ lr: 10 }));
    const raised = await watch(t, 100, new DeadAlarm(model.hidden));
    expect(raised.length).toBeGreaterThanOrEqual(1);
    expect(raised[0]).toMatchObject({ layer: 1, reason: 'dead-units', cause: 'learning-rate' });
    expect(raised[0].deadFraction).toBeGreaterThanOrEqual(0.5);
    expect(raised[0].message).toMatch(/learning rate too high: the units died during training \(before that the gradient norm peaked at/);
  });

  it('stays silent on a healthy run', async () => {
    const model = smallModel({ hidden: [24, 17] });
    const t = await trainer(new CpuBackend(), model, trainerOptions({ lr: 0.05 }), smallData(512));
    const alarm = new DeadAlarm(model.hidden, { threshold: 0.1 });
    expect(await watch(t, 150, alarm)).toEqual([]);
  });

  it('fatal: throws the alarm as a DeadLayerError, so training stops there', async () => {
    const { t, model } = await killLayer2(new CpuBackend());
    const err = await watch(t, 60, new DeadAlarm(model.hidden, { fatal: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadLayerError);
    expect((err as DeadLayerError).alarm).toMatchObject({ layer: 2, step: 20 });
    expect((err as Error).message).toMatch(/^hidden layer 2 at step 20/);
  });
});

describe('dead-layer alarm from a full-set scan', () => {
  it('fires at once on a layer dead on the scanned set, which the epoch-long window does not see yet', async () => {
    const model = smallModel({ hidden: [24, 17] });
    const data = smallData(512);
    const t = await trainer(new CpuBackend(), model, trainerOptions({ lr: 0.05 }), data);
    const alarm = new DeadAlarm(model.hidden);
    expect(await watch(t, 10, alarm)).toEqual([]);
    const healthy = await scanUnits(t.backend, model, await t.getParams(), data);
    expect(alarm.observeScan(healthy, t.step)).toEqual([]);
    // 14 of 24 units of layer 1 die mid-window.
    const p = await t.getParams();
    for (let j = 0; j < 14; j++) p[t.plan.layout.layers[0].bias + j] = -100;
    t.setParams(p);
    const window = await watch(t, 5, alarm);
    expect(window).toEqual([]);
    const scan = await scanUnits(t.backend, model, await t.getParams(), data);
    const [a] = alarm.observeScan(scan, t.step);
    expect(a).toMatchObject({ layer: 1, step: 15, since: 15, reason: 'dead-on-set', deadUnits: 14, units: 24, cause: 'learning-rate' });
    expect(a.message).toMatch(/^hidden layer 1 at step 15: 14 of 24 units \(58%\) dead on all 512 scanned examples/);
    // Once per layer, whichever signal raised it.
    expect(alarm.observeScan(scan, t.step)).toEqual([]);
    expect(await watch(t, 25, alarm)).toEqual([]);
  });
});

const stats = (step: number, dead: number[], grad: number[], batchDead = dead): StepStats => ({
  step,
  epoch: 0,
  loss: 1,
  accuracy: 0.5,
  sparsity: dead.map(() => 0.5),
  deadUnits: dead,
  batchDead,
  gradNorm: [...grad, 1],
  biasGradNorm: [...grad, 1],
  deltaNorm: [...grad, 1],
  examplesPerSecond: 1,
});

describe('dead-layer alarm, stats sequences', () => {
  it('a window-start spike that clears within `settle` steps does not fire', () => {
    const alarm = new DeadAlarm([10], { settle: 5 });
    for (let step = 1; step <= 40; step++) {
      // Each 10-step window begins with 8 of 10 units silent in its first batch, then 1.
      const dead = step % 10 === 1 || step % 10 === 2 ? 8 : 1;
      expect(alarm.observe(stats(step, [dead], [0.3]))).toEqual([]);
    }
  });

  it('fires after `settle` consecutive steps at or above the threshold, naming the step it began', () => {
    const alarm = new DeadAlarm([10], { settle: 3, threshold: 0.5 });
    const seq = [1, 2, 5, 6, 4, 5, 5, 5, 9];
    const fired = seq.flatMap((d, i) => alarm.observe(stats(i + 1, [d], [0.3 + i], [0])));
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ layer: 1, step: 8, since: 6, deadUnits: 5, deadFraction: 0.5, cause: 'learning-rate' });
    expect(fired[0].message).toContain('before that the gradient norm peaked at 4.30 at step 5');
  });

  it('no gradient for `noGradSteps` steps fires even while few units are dead', () => {
    const alarm = new DeadAlarm([10, 10], { noGradSteps: 4 });
    const fired = [1, 2, 3, 4, 5].flatMap((step) => alarm.observe(stats(step, [1, 1], [step === 1 ? 0.5 : 0, 0.5])));
    expect(fired.map((a) => [a.layer, a.reason, a.step, a.since])).toEqual([[1, 'no-gradient', 5, 2]]);
  });

  it('ignores steps without telemetry and names bad options', () => {
    const alarm = new DeadAlarm([10]);
    expect(alarm.observe({ ...stats(1, [10], [0]), deadUnits: [], gradNorm: [] })).toEqual([]);
    expect(() => new DeadAlarm([10], { threshold: 0 })).toThrow(/threshold must be a fraction in \(0, 1\]/);
    expect(() => new DeadAlarm([10], { settle: 0 })).toThrow(/settle must be a positive whole number/);
  });
});
