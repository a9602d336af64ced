// The pure pieces of the dead-units experiment: permuted-MNIST tasks, the choice of the
// least useful units (continual revival), the choice of E2's cell, and the rank
// correlation the report quotes.
import { describe, expect, it } from 'vitest';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { leastUseful, permuteImages, taskPermutation } from '../src/experiment/continual.ts';
import type { TrainResult, TrainSpec } from '../src/experiment/dead-runs.ts';
import { DEFAULT, e1Specs, e2Specs, e4Specs, finalDeadFraction, QUICK, worstFiniteCell } from '../src/experiment/dead-units.ts';
import { spearman } from '../src/experiment/dead-units-report.ts';

describe('permuted MNIST tasks', () => {
  it('gives each task its own fixed permutation of the pixels', () => {
    const a = taskPermutation(1, 1, 784);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 784 }, (_, i) => i));
    expect(taskPermutation(1, 1, 784)).toEqual(a);
    const b = taskPermutation(1, 2, 784);
    expect(b).not.toEqual(a);
    // Nearly every pixel moves between two tasks.
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(10);
    expect(taskPermutation(2, 1, 784)).not.toEqual(a);
  });

  it('reorders every image by the permutation and keeps the labels', () => {
    const d = syntheticDataset({ examples: 3, features: 4, classes: 2, seed: 3 });
    const perm = Uint32Array.from([2, 0, 3, 1]);
    const p = permuteImages(d, perm, 'task');
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 4; j++) expect(p.images[i * 4 + j]).toBe(d.images[i * 4 + perm[j]]);
    }
    expect(p.labels).toBe(d.labels);
    expect(p.name).toBe('task');
    expect(() => permuteImages(d, Uint32Array.from([0, 1]), 'x')).toThrow(/permutation of 2 pixels cannot reorder images of 4/);
  });
});

describe('leastUseful', () => {
  // Three units, two outputs: W is 2 × 3 (outputs × inputs).
  // Row 0 (output 0): 1, −2, 0.5; row 1 (output 1): −1, 0, 0.5.
  const W = Float32Array.from([1, -2, 0.5, -1, 0, 0.5]);
  it('ranks units by mean |activation| × Σ|outgoing weights|', () => {
    // Utilities: unit 0: 1 × 2 = 2; unit 1: 0.5 × 2 = 1; unit 2: 3 × 1 = 3.
    expect(leastUseful([1, 0.5, 3], W, 3)).toEqual([1, 0, 2]);
    expect(leastUseful([1, 0.5, 3], W, 1)).toEqual([1]);
  });
  it('skips the units not eligible (too young) and breaks ties by index', () => {
    expect(leastUseful([1, 0.5, 3], W, 1, (i) => i !== 1)).toEqual([0]);
    expect(leastUseful([0, 0, 0], W, 2)).toEqual([0, 1]);
    expect(() => leastUseful([1, 1, 1, 1], W, 1)).toThrow(/6 outgoing weights do not divide among 4 units/);
  });
});

const result = (key: string, dead: number[], widths: number[], diverged = false): TrainResult =>
  ({
    spec: { key } as TrainSpec,
    trace: [
      { examples: 0, epoch: 0, dead: [0, 0], dormant: [0, 0], widths },
      { examples: 10, epoch: 1, dead, dormant: dead, widths },
    ],
    diverged: diverged ? { step: 3, detail: 'the loss is NaN' } : undefined,
  }) as TrainResult;

describe("E2's cell", () => {
  it('is the finite run of the map with the largest dead fraction at its end', () => {
    const runs = [
      result('e1-relu-momentum-0.03', [1, 1], [10, 10]),
      result('e1-relu-momentum-0.3', [20, 20], [20, 20], true),
      result('e1-relu-adam-0.01', [5, 3], [10, 10]),
      result('e1-leaky_relu-adam-0.01', [4, 4], [10, 10]),
      result('e1x-relu-6x256-glorot-adam-0.01', [9, 9], [10, 10]),
    ];
    expect(finalDeadFraction(runs[2])).toBe(0.4);
    expect(finalDeadFraction(runs[1])).toBe(1);
    // The diverged cell and the extra (e1x) cells are not candidates; a tie goes to the earlier cell.
    expect(worstFiniteCell(runs)?.spec.key).toBe('e1-relu-adam-0.01');
    expect(worstFiniteCell(runs.slice(1, 2))).toBeUndefined();
  });

  it('runs the E1 cell again under each policy with the policy window', () => {
    const cell = e1Specs(DEFAULT)[2];
    const specs = e2Specs(DEFAULT, cell);
    expect(specs.map((s) => [s.key, s.policy, s.tau, s.window])).toEqual([
      ['e2-keep', 'keep', 0, 10_000],
      ['e2-revive0', 'revive', 0, 10_000],
      ['e2-revive0.025', 'revive', 0.025, 10_000],
      ['e2-prune', 'prune', 0, 10_000],
    ]);
    for (const s of specs) expect({ ...s, key: cell.key, policy: 'keep', tau: 0, window: cell.window }).toEqual(cell);
  });

  it('every run of either size has its own key', () => {
    for (const c of [DEFAULT, QUICK]) {
      const keys = [...e1Specs(c), ...e2Specs(c, e1Specs(c)[0]), ...e4Specs(c)].map((s) => s.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(e1Specs(DEFAULT)).toHaveLength(22);
  });
});

describe('spearman', () => {
  it('is 1 for any increasing relation, −1 for a decreasing one, and handles ties', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 25, 100])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // Ranks x: 1, 2.5, 2.5, 4; y: 1, 2, 3, 4 → ρ = 0.9487 (hand-computed).
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(0.948683, 5);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});
