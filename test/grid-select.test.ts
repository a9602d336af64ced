// Recipe `best`'s choice of setting on synthetic validation results, its grid, and the
// recipes' settings as the flags make them.
import { describe, expect, it } from 'vitest';
import { recipeFromFlags } from '../src/cli/experiment.ts';
import { RECIPES, VARIANTS, type EpochResult, type Progress } from '../src/experiment/glorot2011.ts';
import { selectSetting, standardError, summarize, sweepSpecs, trialKey, type TrialSummary } from '../src/experiment/grid.ts';
import type { EvalResult } from '../src/train/evaluate.ts';

let n = 0;
/** A finished run of the grid with the given validation error and validation sparsity. */
function trial(validError: number, validSparsity: number, over: Partial<TrialSummary> = {}): TrialSummary {
  n++;
  return {
    key: `t${n}`,
    variant: 'rectifier',
    lr: 0.01 * n,
    l1: 1e-4,
    seed: 1,
    bestEpoch: 7,
    epochsDone: 30,
    validError,
    validSparsity,
    testError: validError + 0.001,
    testSparsity: validSparsity,
    testExamples: 10_000,
    diverged: false,
    ...over,
  };
}

const band: [number, number] = [0.8, 0.87];

describe('selectSetting', () => {
  it('takes the lowest validation error among the settings inside the sparsity band, not the lowest overall', () => {
    const outsideBetter = trial(0.012, 0.95);
    const inA = trial(0.016, 0.81);
    const inB = trial(0.014, 0.86);
    const below = trial(0.013, 0.7);
    const s = selectSetting([outsideBetter, inA, inB, below], band);
    expect(s.chosen).toBe(inB);
    expect(s.inBand).toBe(true);
    expect(s.eligible).toBe(2);
    // Without a band (tanh, softplus): the lowest validation error.
    expect(selectSetting([outsideBetter, inA, inB, below]).chosen).toBe(outsideBetter);
  });

  it('counts the band’s edges as inside', () => {
    const lo = trial(0.02, 0.8);
    const hi = trial(0.019, 0.87);
    const justOut = trial(0.01, 0.8701);
    expect(selectSetting([lo, hi, justOut], band).chosen).toBe(hi);
    expect(selectSetting([lo, justOut], band).chosen).toBe(lo);
  });

  it('never chooses a diverged run or one that finished no epoch', () => {
    const diverged = trial(0.001, 0.83, { diverged: true });
    const empty = trial(0.001, 0.83, { bestEpoch: 0 });
    const ok = trial(0.03, 0.84);
    expect(selectSetting([diverged, empty, ok], band).chosen).toBe(ok);
  });

  it('when none lies in the band: the closest to it, then the lower validation error; said to be outside', () => {
    const far = trial(0.01, 0.6);
    const near = trial(0.03, 0.9); // 0.03 above the band
    const nearToo = trial(0.02, 0.77); // 0.03 below: the same distance, lower error
    const s = selectSetting([far, near, nearToo], band);
    expect(s.chosen).toBe(nearToo);
    expect(s.inBand).toBe(false);
    expect(s.eligible).toBe(0);
  });

  it('breaks ties by grid order', () => {
    const first = trial(0.015, 0.82);
    const second = trial(0.015, 0.85);
    expect(selectSetting([first, second], band).chosen).toBe(first);
    expect(selectSetting([second, first], band).chosen).toBe(second);
  });

  it('with nothing usable, says so and what to try', () => {
    expect(() => selectSetting([trial(1, 0, { diverged: true, key: 'a' }), trial(1, 0, { bestEpoch: 0, key: 'b' })], band)).toThrow(
      /^no usable run among a, b: every one diverged or finished no epoch; try lower learning rates \(--lr-grid\)$/,
    );
  });
});

describe('the grid', () => {
  const ev = (error: number, sparsity: number[]): EvalResult => ({ examples: 10_000, loss: 0.1, accuracy: 1 - error, error, sparsity, deadUnits: [0, 0] });
  const epoch = (k: number, valid: number, test: number, s: number[]): EpochResult => ({
    epoch: k,
    trainLoss: 0.1,
    valid: ev(valid, s),
    test: ev(test, s),
    seconds: 1,
    examplesPerSecond: 1,
  });

  it('summarize reads the best-validation epoch: its errors and mean exact zeros', () => {
    const v = { ...VARIANTS[0], l1: 3e-4 };
    const p: Progress = {
      variant: v,
      recipe: 'best',
      model: { inputs: 784, hidden: [10, 10], classes: 10, activation: 'relu', alpha: 0.01, init: 'glorot', initScale: 0.05, seed: 2 },
      sweep: [],
      lr: 0.03,
      epochs: [epoch(1, 0.05, 0.051, [0.6, 0.7]), epoch(2, 0.02, 0.025, [0.8, 0.9]), epoch(3, 0.03, 0.02, [0.9, 0.9])],
      samples: [],
      key: 'k',
      seed: 2,
      plannedEpochs: 3,
    };
    expect(summarize(p)).toMatchObject({
      key: 'k',
      lr: 0.03,
      l1: 3e-4,
      seed: 2,
      bestEpoch: 2,
      validError: 0.02,
      testError: 0.025,
      epochsDone: 3,
      diverged: false,
    });
    expect(summarize(p).validSparsity).toBeCloseTo(0.85, 12);
  });

  it('the rectifier sweeps λ × learning rate; tanh and softplus the learning rate alone, without a penalty', () => {
    const r = RECIPES.best;
    const rect = sweepSpecs(
      r,
      VARIANTS.find((v) => v.name === 'rectifier')!,
      1,
    );
    expect(rect).toHaveLength(r.l1Grid.length * r.lrGrid.length);
    expect(new Set(rect.map((s) => s.variant.l1))).toEqual(new Set([3e-5, 1e-4, 3e-4, 1e-3]));
    expect(rect.every((s) => s.epochs === 30 && s.seed === 1)).toBe(true);
    const tanh = sweepSpecs(
      r,
      VARIANTS.find((v) => v.name === 'tanh')!,
      1,
    );
    expect(tanh.map((s) => [s.lr, s.variant.l1])).toEqual(r.lrGrid.map((lr) => [lr, 0]));
    expect(trialKey(rect[0])).toBe('rectifier_lr0.1_l1_0.00003_seed1_e30');
  });

  it('standard error of a test error: √(e(1 − e)/n)', () => {
    expect(standardError(0.0143, 10_000)).toBeCloseTo(Math.sqrt((0.0143 * 0.9857) / 10_000), 15);
    expect(standardError(0.02, 10_000)).toBeCloseTo(0.0014, 4);
  });
});

describe('recipes from the flags', () => {
  it('paper: the paper’s grid, mini-batches of 10, plain SGD', () => {
    const r = recipeFromFlags({ recipe: 'paper' });
    expect(r).toMatchObject({ name: 'paper', batch: 10, lrGrid: [0.1, 0.01, 0.001, 0.0001], optimizer: { kind: 'sgd' } });
  });

  it('best: momentum 0.9, batch 64, 30 epochs, the λ grid; --sweep-epochs defaults to --epochs', () => {
    expect(recipeFromFlags({ recipe: 'best' })).toMatchObject({
      batch: 64,
      optimizer: { kind: 'momentum', momentum: 0.9 },
      epochs: 30,
      sweepEpochs: 30,
      seeds: 2,
      l1Grid: [3e-5, 1e-4, 3e-4, 1e-3],
      sparsityBand: [0.8, 0.87],
    });
    expect(recipeFromFlags({ recipe: 'best', epochs: 12 })).toMatchObject({ epochs: 12, sweepEpochs: 12 });
    expect(recipeFromFlags({ recipe: 'best', epochs: 12, sweepEpochs: 6, lrGrid: [0.05], l1Grid: [0, 1e-3], seeds: 3 })).toMatchObject({
      epochs: 12,
      sweepEpochs: 6,
      lrGrid: [0.05],
      l1Grid: [0, 1e-3],
      seeds: 3,
    });
  });

  it('refuses the flags of another recipe, naming the flag', () => {
    expect(() => recipeFromFlags({ recipe: 'best', sweepExamples: 100 })).toThrow(/--sweep-examples applies to recipes fast and paper/);
    expect(() => recipeFromFlags({ recipe: 'fast', l1Grid: [1e-3] })).toThrow(/^--l1-grid applies to --recipe best only \(this run's recipe is fast\)$/);
    expect(() => recipeFromFlags({ recipe: 'paper', seeds: 2 })).toThrow(/--seeds applies to --recipe best only/);
    expect(() => recipeFromFlags({ recipe: 'best', epochs: 1 })).toThrow(/--epochs and --sweep-epochs must be at least 2/);
  });
});
