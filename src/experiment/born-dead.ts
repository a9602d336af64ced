// Part E0 of the dead-units experiment: relu networks "born dead", with no training. A
// bias-free relu network is constant on a set of inputs as soon as one hidden layer outputs
// 0 for every one of them (every later layer then sees 0, and the output is its bias).
// Lu, Shin, Su & Karniadakis (2019, "Dying ReLU and Initialization") prove that at a fixed
// width the probability of this tends to 1 as the depth grows, for weights drawn from any
// symmetric distribution.
//
// The forward pass here is plain TypeScript on the host (no backend): it skips zero inputs
// (most MNIST pixels, half the relu outputs) and drops an example as soon as a layer is all
// zero at it, so narrow deep networks cost little. With zero biases the scale of a layer's
// weights cannot change the sign of any pre-activation, so death depends only on the signs
// the initialiser draws: the first L layers of a deeper network drawn with the same seed are
// the depth-L network as far as death goes (model/init.ts draws layer after layer from one
// seeded generator; only a layer's scale depends on its fan-out), and one deep pass gives
// every shallower depth.
import { paramLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';

export interface BornDead {
  examples: number;
  /** Per hidden layer: units whose pre-activation z ≤ 0 on every example. */
  deadUnits: number[];
  /**
   * Per hidden layer ℓ (0-based): examples at which ℓ is the first hidden layer whose
   * outputs are all 0. The network is dead at those examples from layer ℓ on.
   */
  diedAt: number[];
  /** 1-based first hidden layer that is all 0 on every example (the network is constant); 0 if none. */
  deadLayer: number;
}

/**
 * One bias-free relu network's death on a set of inputs (`inputs`: examples × model.inputs,
 * row-major). `params` is the engine's flat layout (model/layout.ts); its hidden biases
 * must be 0 (as initialisation leaves them): only then does an image stay dead once a
 * layer is all 0 at it, which is what lets the pass drop it.
 */
export function bornDead(model: ModelSpec, params: Float32Array, inputs: Float32Array): BornDead {
  if (model.activation !== 'relu') throw new Error(`born-dead counts relu networks, not ${model.activation}`);
  const layers = paramLayout(model).layers;
  const H = model.hidden.length;
  const n = inputs.length / model.inputs;
  if (!Number.isInteger(n)) throw new Error(`${inputs.length} input values are not a whole number of rows of ${model.inputs}`);
  for (let h = 0; h < H; h++) {
    const l = layers[h];
    const j = params.subarray(l.bias, l.bias + l.outputs).findIndex((b) => b !== 0);
    if (j >= 0) throw new Error(`born-dead counts bias-free networks, but unit ${j} of hidden layer ${h + 1} has bias ${params[l.bias + j]}`);
  }
  const deadUnits = new Array<number>(H).fill(0);
  const diedAt = new Array<number>(H).fill(0);
  let deadLayer = 0;
  // The live examples' activations (rows × width of the layer below), dense.
  let live = n;
  let act = inputs;
  let width = model.inputs;
  for (let h = 0; h < H; h++) {
    const l = layers[h];
    const out = l.outputs;
    if (live === 0) {
      // Every example already died below: z = 0 ≤ 0 for every unit.
      deadUnits[h] = out;
      continue;
    }
    // Weights transposed (inputs × outputs), so the inner loop runs over contiguous outputs.
    const wt = new Float32Array(width * out);
    for (let j = 0; j < out; j++) for (let k = 0; k < width; k++) wt[k * out + j] = params[l.weight + j * width + k];
    const maxZ = new Float64Array(out).fill(-Infinity);
    const next = new Float32Array(live * out);
    const z = new Float64Array(out);
    let kept = 0;
    for (let i = 0; i < live; i++) {
      z.fill(0);
      const row = i * width;
      for (let k = 0; k < width; k++) {
        const a = act[row + k];
        if (a === 0) continue;
        const base = k * out;
        for (let j = 0; j < out; j++) z[j] += a * wt[base + j];
      }
      let any = false;
      const dst = kept * out;
      for (let j = 0; j < out; j++) {
        const v = z[j];
        if (v > maxZ[j]) maxZ[j] = v;
        if (v > 0) {
          next[dst + j] = v;
          any = true;
        }
      }
      if (any) kept++;
      else diedAt[h]++;
    }
    for (let j = 0; j < out; j++) if (maxZ[j] <= 0) deadUnits[h]++;
    live = kept;
    act = next.subarray(0, kept * out);
    width = out;
    if (live === 0 && !deadLayer) deadLayer = h + 1;
  }
  return { examples: n, deadUnits, diedAt, deadLayer };
}

/**
 * P(some hidden layer is all 0 at one input x ≠ 0) for a bias-free relu network of `depth`
 * hidden layers of `width` units, weights independent, continuous and symmetric about 0:
 * given a non-zero input, each unit's z is symmetric and continuous, so it is ≤ 0 with
 * probability ½ independently of the others, and the layer is all 0 with probability 2^−width.
 * Dead on a whole set needs this at every input of it, so it bounds P(born dead on a set) from above.
 */
export function pointDeathProbability(width: number, depth: number): number {
  return 1 - (1 - 2 ** -width) ** depth;
}

/** What E0 keeps for one (initialiser, width, depth) over its seeds. */
export interface BornDeadCell {
  init: string;
  width: number;
  depth: number;
  seeds: number;
  /** Networks constant on the whole image set (some hidden layer all 0 on every image). */
  bornDead: number;
  /** Mean over seeds and images of "some hidden layer is all 0 at this image". */
  deadAtImage: number;
  /** pointDeathProbability(width, depth): the exact expectation of deadAtImage. */
  theory: number;
  /** Per hidden layer: mean over seeds of the fraction of its units dead on every image. */
  deadFraction: number[];
  /** The same over the networks that are not born dead (empty entries: none). */
  deadFractionAlive: (number | null)[];
}

/** Accumulates the bornDead results of seeds, each network read at every depth of `depths` (its first `depth` layers). */
export class BornDeadTally {
  private readonly cells: { bornDead: number; deadAt: number; dead: number[]; deadAlive: number[]; alive: number }[];
  private seeds = 0;

  constructor(
    readonly init: string,
    readonly width: number,
    readonly depths: number[],
  ) {
    this.cells = depths.map((d) => ({ bornDead: 0, deadAt: 0, dead: new Array(d).fill(0), deadAlive: new Array(d).fill(0), alive: 0 }));
  }

  add(r: BornDead): void {
    this.seeds++;
    this.depths.forEach((depth, c) => {
      if (depth > r.deadUnits.length) throw new Error(`a network of ${r.deadUnits.length} hidden layers cannot be read at depth ${depth}`);
      const cell = this.cells[c];
      const dead = r.deadLayer > 0 && r.deadLayer <= depth;
      if (dead) cell.bornDead++;
      else cell.alive++;
      let diedAt = 0;
      for (let h = 0; h < depth; h++) {
        diedAt += r.diedAt[h];
        const f = r.deadUnits[h] / this.width;
        cell.dead[h] += f;
        if (!dead) cell.deadAlive[h] += f;
      }
      cell.deadAt += diedAt / r.examples;
    });
  }

  result(): BornDeadCell[] {
    return this.depths.map((depth, c) => {
      const cell = this.cells[c];
      return {
        init: this.init,
        width: this.width,
        depth,
        seeds: this.seeds,
        bornDead: cell.bornDead,
        deadAtImage: cell.deadAt / Math.max(1, this.seeds),
        theory: pointDeathProbability(this.width, depth),
        deadFraction: cell.dead.map((x) => x / Math.max(1, this.seeds)),
        deadFractionAlive: cell.deadAlive.map((x) => (cell.alive ? x / cell.alive : null)),
      };
    });
  }
}
