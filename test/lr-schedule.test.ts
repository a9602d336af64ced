// Learning-rate schedules: the rate at chosen steps equals the formula, the trainer applies
// it, and a run resumed from a checkpoint mid-warm-up or mid-cosine is the uninterrupted run.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/io/checkpoint.ts';
import { parseRunConfig, runConfig } from '../src/io/checkpoint-config.ts';
import { scheduledLr, validateSchedule, type LrSchedule } from '../src/ops/lr-schedule.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import type { Trainer } from '../src/train/trainer.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';

describe('scheduledLr', () => {
  it('cosine: linear warm-up from base/W to base, half of base at the midpoint, 0 at the last step and after', () => {
    const s: LrSchedule = { kind: 'cosine', warmup: 10, total: 110 };
    expect(scheduledLr(s, 0.2, 1)).toBeCloseTo(0.02, 15); // warm-up start: base · 1/W
    expect(scheduledLr(s, 0.2, 5)).toBeCloseTo(0.1, 15);
    expect(scheduledLr(s, 0.2, 10)).toBe(0.2); // warm-up end: base
    expect(scheduledLr(s, 0.2, 11)).toBeCloseTo(0.2 * 0.5 * (1 + Math.cos(Math.PI / 100)), 15);
    expect(scheduledLr(s, 0.2, 60)).toBeCloseTo(0.1, 15); // cosine midpoint: (10 + 110) / 2
    expect(scheduledLr(s, 0.2, 85)).toBeCloseTo(0.2 * 0.5 * (1 + Math.cos(Math.PI * 0.75)), 15);
    expect(scheduledLr(s, 0.2, 110)).toBe(0); // the end
    expect(scheduledLr(s, 0.2, 111)).toBe(0);
    // Monotone: up through the warm-up, down after it.
    const lrs = Array.from({ length: 110 }, (_, i) => scheduledLr(s, 0.2, i + 1));
    for (let t = 1; t < 10; t++) expect(lrs[t]).toBeGreaterThan(lrs[t - 1]);
    for (let t = 10; t < 110; t++) expect(lrs[t]).toBeLessThan(lrs[t - 1]);
  });

  it('cosine without warm-up starts at the base rate', () => {
    const s: LrSchedule = { kind: 'cosine', warmup: 0, total: 4 };
    expect([1, 2, 3, 4].map((t) => scheduledLr(s, 1, t))).toEqual([0.5 * (1 + Math.cos(Math.PI / 4)), 0.5, 0.5 * (1 + Math.cos((3 * Math.PI) / 4)), 0]);
  });

  it('step: base for the first `every` steps, then × gamma at each boundary', () => {
    const s: LrSchedule = { kind: 'step', every: 100, gamma: 0.5 };
    expect(scheduledLr(s, 0.08, 1)).toBe(0.08);
    expect(scheduledLr(s, 0.08, 100)).toBe(0.08);
    expect(scheduledLr(s, 0.08, 101)).toBe(0.04);
    expect(scheduledLr(s, 0.08, 200)).toBe(0.04);
    expect(scheduledLr(s, 0.08, 201)).toBe(0.02);
    expect(scheduledLr(s, 0.08, 1001)).toBeCloseTo(0.08 / 1024, 18);
  });

  it('constant is the base rate at every step', () => {
    for (const t of [1, 2, 1e6]) expect(scheduledLr({ kind: 'constant' }, 0.03, t)).toBe(0.03);
  });

  it('refuses unusable schedules with a message naming the field', () => {
    expect(() => validateSchedule({ kind: 'cosine', warmup: 10, total: 10 })).toThrow(/warm-up \(10 steps\) must be shorter than the run \(10 steps\)/);
    expect(() => validateSchedule({ kind: 'cosine', warmup: -1, total: 10 })).toThrow(/"warmup" must be a whole number of steps ≥ 0, got -1/);
    expect(() => validateSchedule({ kind: 'cosine', warmup: 0, total: 0 })).toThrow(/"total" must be a positive whole number/);
    expect(() => validateSchedule({ kind: 'step', every: 0, gamma: 0.1 })).toThrow(/"every" must be a positive whole number of steps, got 0/);
    expect(() => validateSchedule({ kind: 'step', every: 5, gamma: 1.5 })).toThrow(/"gamma" .* must lie in \(0, 1\], got 1\.5/);
    expect(() => validateSchedule({ kind: 'step', every: 5, gamma: NaN })).toThrow(/"gamma"/);
    expect(() => validateSchedule({ kind: 'exp' } as unknown as LrSchedule)).toThrow(/unknown learning-rate schedule "exp" \(use constant, step, cosine\)/);
  });
});

describe('schedules in the run config', () => {
  it('round-trips through JSON; a config written before schedules reads as constant', () => {
    const c = runConfig({ data: 'synthetic', lrSchedule: { kind: 'cosine', warmup: 50, total: 900 } });
    expect(parseRunConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(runConfig({ data: 'synthetic' }).lrSchedule).toEqual({ kind: 'constant' });
    const old = JSON.parse(JSON.stringify(runConfig({ data: 'synthetic' })));
    delete old.lrSchedule;
    expect(parseRunConfig(old).lrSchedule).toEqual({ kind: 'constant' });
  });

  it('names the wrong schedule field', () => {
    const bad = (lrSchedule: unknown) => () => parseRunConfig({ ...JSON.parse(JSON.stringify(runConfig({ data: 'synthetic' }))), lrSchedule }, 'ck');
    expect(bad('cosine')).toThrow(/^ck: its run config has lrSchedule = "cosine" \(expected an object\)$/);
    expect(bad({ kind: 'linear' })).toThrow(/has lrSchedule\.kind = "linear" \(expected one of constant, step, cosine\)/);
    expect(bad({ kind: 'cosine', warmup: 5 })).toThrow(/lacks lrSchedule\.total \(expected a whole number ≥ 1\)/);
    expect(bad({ kind: 'cosine', warmup: 50, total: 50 })).toThrow(/has lrSchedule\.warmup = 50 \(expected fewer steps than lrSchedule\.total \(50\)\)/);
    expect(bad({ kind: 'step', every: 10, gamma: 2 })).toThrow(/has lrSchedule\.gamma = 2 \(expected a number in \(0, 1\]\)/);
    expect(bad({ kind: 'step', every: 2.5, gamma: 0.5 })).toThrow(/has lrSchedule\.every = 2\.5/);
  });
});

describe('the trainer under a schedule (CPU backend)', () => {
  // 512 examples at batch 16: 32 steps per epoch, so the interruptions below fall mid-epoch too.
  const cosine: LrSchedule = { kind: 'cosine', warmup: 12, total: 60 };
  const opts = trainerOptions({ optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 }, lr: 0.05, lrSchedule: cosine });

  const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

  /** Runs the remaining steps to `end` on a fresh trainer restored from a checkpoint of `from`. */
  async function resumed(from: Trainer, end: number) {
    const state = decodeCheckpoint(encodeCheckpoint(await from.state({ ...runConfig({ data: 'synthetic', lr: 0.05, lrSchedule: cosine }) })));
    expect(parseRunConfig(state.config).lrSchedule).toEqual(cosine);
    const t = await trainer(new CpuBackend(), smallModel(), { ...opts, lrSchedule: parseRunConfig(state.config).lrSchedule });
    t.restore(state);
    return { t, stats: await collect(t.run(end - state.step)) };
  }

  it('the last step of a cosine schedule (rate 0) leaves the parameters as they were; a constant rate does not', async () => {
    const t = await trainer(new CpuBackend(), smallModel(), { ...opts, lrSchedule: { kind: 'cosine', warmup: 2, total: 8 } });
    await collect(t.run(7));
    const before = await t.getParams();
    await collect(t.run(1));
    expect(bits(await t.getParams()).equals(bits(before))).toBe(true);
    const c = await trainer(new CpuBackend(), smallModel(), { ...opts, lrSchedule: undefined });
    await collect(c.run(7));
    const cBefore = await c.getParams();
    await collect(c.run(1));
    expect(bits(await c.getParams()).equals(bits(cBefore))).toBe(false);
  });

  it('resumed mid-warm-up and again mid-cosine, it follows the uninterrupted run bit for bit', async () => {
    // Bit-identical, not within a tolerance: the rate is a pure function of the step, the
    // checkpoint restores params, momentum, window flags and step exactly (float32), and the
    // CPU kernels run the same arithmetic in the same order, so nothing can drift.
    const whole = await trainer(new CpuBackend(), smallModel(), opts);
    const all = await collect(whole.run(60));
    const wholeParams = await whole.getParams();

    const first = await trainer(new CpuBackend(), smallModel(), opts);
    const a = await collect(first.run(5)); // mid-warm-up (warm-up: steps 1–12)
    const second = await resumed(first, 37); // mid-cosine (steps 13–60)
    const third = await resumed(second.t, 60);
    const pieced = [...a, ...second.stats, ...third.stats];

    expect(pieced.map((s) => s.step)).toEqual(all.map((s) => s.step));
    expect(pieced.map((s) => s.loss)).toEqual(all.map((s) => s.loss));
    expect(pieced.map((s) => s.deltaNorm)).toEqual(all.map((s) => s.deltaNorm));
    expect(bits(await third.t.getParams()).equals(bits(wholeParams))).toBe(true);

    // And the schedule mattered: at a constant rate the same steps end elsewhere.
    const constant = await trainer(new CpuBackend(), smallModel(), { ...opts, lrSchedule: undefined });
    const c = await collect(constant.run(60));
    expect(c[10].loss).not.toBe(all[10].loss);
  });

  it('a schedule needs a numeric base rate', async () => {
    await expect(trainer(new CpuBackend(), smallModel(), { ...opts, lr: () => 0.1 })).rejects.toThrow(/lrSchedule scales a numeric lr/);
    await expect(trainer(new CpuBackend(), smallModel(), { ...opts, lrSchedule: { kind: 'step', every: 0, gamma: 0.5 } })).rejects.toThrow(/"every" must be/);
  });

  it('on WebGPU too: the rate reaches the kernel through the step values (0 at the end), and a resume mid-cosine is exact', async () => {
    const ends: LrSchedule = { kind: 'cosine', warmup: 4, total: 20 };
    const o = { ...opts, lrSchedule: ends };
    const whole = await trainer(await gpuBackend(), smallModel(), o);
    const all = await collect(whole.run(19));
    const before = await whole.getParams();
    all.push(...(await collect(whole.run(1))));
    expect(bits(await whole.getParams()).equals(bits(before))).toBe(true); // step 20 ran at rate 0
    const first = await trainer(await gpuBackend(), smallModel(), o);
    const a = await collect(first.run(9));
    const second = await trainer(await gpuBackend(), smallModel(), o);
    second.restore(decodeCheckpoint(encodeCheckpoint(await first.state())));
    const b = await collect(second.run(11));
    expect([...a, ...b].map((s) => s.loss)).toEqual(all.map((s) => s.loss));
    expect(bits(await second.getParams()).equals(bits(await whole.getParams()))).toBe(true);
  });
});
