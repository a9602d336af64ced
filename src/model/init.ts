// Seeded initialisation, computed on the host so every backend starts from the same bits.
import { Rng } from '../util/rng.ts';
import { paramLayout } from './layout.ts';
import type { ModelSpec } from './spec.ts';

/** The flat parameter buffer (padding zero) for a model's seed and init. */
export function initialParams(m: ModelSpec): Float32Array {
  const layout = paramLayout(m);
  const p = new Float32Array(layout.size);
  const rng = new Rng(m.seed);
  for (const l of layout.layers) {
    const n = l.inputs * l.outputs;
    const draw = weightSampler(m, l.inputs, l.outputs);
    for (let i = 0; i < n; i++) p[l.weight + i] = draw(rng);
    // Biases start at zero (the paper's choice; the 50% sparsity at init relies on it).
  }
  return p;
}

/** One initial weight of a dense layer (inputs → outputs) under the model's init, from rng. */
export function weightSampler(m: ModelSpec, inputs: number, outputs: number): (rng: Rng) => number {
  if (m.init === 'he') {
    const std = Math.sqrt(2 / inputs);
    return (rng) => std * rng.normal();
  }
  const r = m.init === 'glorot' ? Math.sqrt(6 / (inputs + outputs)) : m.initScale;
  return (rng) => rng.uniform(-r, r);
}
