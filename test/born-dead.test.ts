// The born-dead computation of the dead-units experiment (E0): hand-checked networks,
// the exact one-image death probability against many seeds, and reading a deep network at
// a shallower depth against drawing the shallow one.
import { describe, expect, it } from 'vitest';
import { bornDead, BornDeadTally, pointDeathProbability } from '../src/experiment/born-dead.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { modelSpec, type ModelSpec } from '../src/model/spec.ts';

/** A model with its weights set by hand (rows = output units), biases 0. */
function handNet(inputs: number, weights: number[][][]): { model: ModelSpec; params: Float32Array } {
  const hidden = weights.map((w) => w.length);
  const model = modelSpec({ inputs, classes: 1, hidden, activation: 'relu', seed: 1 });
  const params = new Float32Array(paramLayout(model).size);
  paramLayout(model).layers.forEach((l, i) => {
    const w = weights[i];
    if (w) w.forEach((row, j) => row.forEach((v, k) => (params[l.weight + j * l.inputs + k] = v)));
  });
  return { model, params };
}

// Three inputs of two features: (1, 0), (0, 1), (1, 1).
const X = Float32Array.from([1, 0, 0, 1, 1, 1]);
// Layer 1: unit 0 computes x₁ − x₂, unit 1 computes −x₁ − x₂ (dead everywhere).
// Only (1, 0) keeps a non-zero output there, a = (1, 0); (0, 1) gives z = (−1, −1) and
// (1, 1) gives z = (0, −2): both all 0 at layer 1 (z = 0 passes nothing).
const W1 = [
  [1, -1],
  [-1, -1],
];

describe('bornDead', () => {
  it('counts dead units, the layer each image dies at, and a network alive on one image', () => {
    // Layer 2 on a = (1, 0): z = (−1, 2) → unit 1 lives.
    const { model, params } = handNet(2, [
      W1,
      [
        [-1, 5],
        [2, 0],
      ],
    ]);
    expect(bornDead(model, params, X)).toEqual({ examples: 3, deadUnits: [1, 1], diedAt: [2, 0], deadLayer: 0 });
  });

  it('finds the layer that kills the last image, and counts every later unit dead', () => {
    // Layer 2 on a = (1, 0): z = (−1, −2): all 0; layer 3 never sees a non-zero input.
    const { model, params } = handNet(2, [
      W1,
      [
        [-1, 5],
        [-2, 0],
      ],
      [
        [3, 3],
        [1, 1],
      ],
    ]);
    expect(bornDead(model, params, X)).toEqual({ examples: 3, deadUnits: [1, 2, 2], diedAt: [2, 1, 0], deadLayer: 2 });
  });

  it('refuses a network with a non-zero hidden bias: an all-zero layer would not stay dead', () => {
    const { model, params } = handNet(2, [W1, [[-1, 0]]]);
    params[paramLayout(model).layers[1].bias] = 0.5;
    expect(() => bornDead(model, params, X)).toThrow(/bias-free networks, but unit 0 of hidden layer 2 has bias 0.5/);
  });

  it('refuses a network of another activation, and inputs of the wrong length', () => {
    const m = modelSpec({ inputs: 2, classes: 1, hidden: [2], activation: 'tanh', seed: 1 });
    expect(() => bornDead(m, initialParams(m), X)).toThrow(/relu networks, not tanh/);
    const r = modelSpec({ inputs: 4, classes: 1, hidden: [2], activation: 'relu', seed: 1 });
    expect(() => bornDead(r, initialParams(r), X)).toThrow(/6 input values are not a whole number of rows of 4/);
  });
});

describe('the one-image death probability', () => {
  it('is 1 − (1 − 2^−w)^L', () => {
    expect(pointDeathProbability(1, 1)).toBe(0.5);
    expect(pointDeathProbability(2, 3)).toBeCloseTo(1 - 0.75 ** 3, 12);
    expect(pointDeathProbability(32, 32)).toBeLessThan(1e-8);
  });

  it('matches the fraction of 600 seeded networks dead at one input, for either initialiser', () => {
    const x = Float32Array.from([0.2, 0.9, 0.4, 0.7, 0.1]);
    for (const init of ['glorot', 'he'] as const) {
      const tally = new BornDeadTally(init, 2, [1, 3]);
      for (let s = 1; s <= 600; s++) {
        const m = modelSpec({ inputs: 5, classes: 2, hidden: [2, 2, 2], activation: 'relu', init, seed: s });
        tally.add(bornDead(m, initialParams(m), x));
      }
      for (const c of tally.result()) {
        // One input: dead at it is born dead; the standard error of a proportion over 600 seeds is ≤ 0.021.
        expect(c.deadAtImage).toBe(c.bornDead / c.seeds);
        expect(Math.abs(c.deadAtImage - c.theory)).toBeLessThan(0.07);
      }
    }
  });
});

describe('BornDeadTally', () => {
  it('reads a deep network at a shallower depth as the shallow network of the same seed', () => {
    const x = Float32Array.from({ length: 30 }, (_, i) => ((i * 7) % 11) / 10);
    for (const init of ['glorot', 'he'] as const) {
      const deep = new BornDeadTally(init, 3, [2, 6]);
      const shallow = new BornDeadTally(init, 3, [2]);
      for (let s = 1; s <= 80; s++) {
        const d = modelSpec({ inputs: 10, classes: 2, hidden: [3, 3, 3, 3, 3, 3], activation: 'relu', init, seed: s });
        const m = modelSpec({ inputs: 10, classes: 2, hidden: [3, 3], activation: 'relu', init, seed: s });
        deep.add(bornDead(d, initialParams(d), x));
        shallow.add(bornDead(m, initialParams(m), x));
      }
      const [d2, d6] = deep.result();
      const [s2] = shallow.result();
      expect(d2).toEqual(s2);
      // Deeper can only be deader, and some of these narrow networks die.
      expect(d6.bornDead).toBeGreaterThanOrEqual(d2.bornDead);
      expect(d6.bornDead).toBeGreaterThan(0);
      expect(d6.deadFraction).toHaveLength(6);
    }
  });

  it('averages the dead fraction per layer over the networks not born dead separately', () => {
    const t = new BornDeadTally('he', 2, [2]);
    t.add({ examples: 3, deadUnits: [1, 2], diedAt: [0, 3], deadLayer: 2 });
    t.add({ examples: 3, deadUnits: [0, 1], diedAt: [0, 0], deadLayer: 0 });
    const [c] = t.result();
    expect(c).toMatchObject({ seeds: 2, bornDead: 1, deadAtImage: 0.5, deadFraction: [0.25, 0.75], deadFractionAlive: [0, 0.5] });
  });
});
