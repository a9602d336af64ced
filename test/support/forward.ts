// A direct float64 forward pass over a dataset (no plan, no backend): the reference the
// dead-unit suites check the engine's scans and logits against.
import type { Dataset } from '../../src/data/dataset.ts';
import { paramLayout } from '../../src/model/layout.ts';
import type { ModelSpec } from '../../src/model/spec.ts';
import { activate, activationId } from '../../src/ops/activations.ts';

export interface Forward64 {
  /** Per hidden layer, per unit: max z over the set, mean |a| over the set. */
  maxZ: number[][];
  meanAbs: number[][];
  /** examples × classes. */
  logits: Float64Array;
}

export function forward64(model: ModelSpec, params: ArrayLike<number>, data: Dataset): Forward64 {
  const layers = paramLayout(model).layers;
  const H = layers.length - 1;
  const act = activationId(model.activation);
  const maxZ = layers.slice(0, H).map((l) => new Array<number>(l.outputs).fill(-Infinity));
  const sumAbs = layers.slice(0, H).map((l) => new Array<number>(l.outputs).fill(0));
  const logits = new Float64Array(data.examples * model.classes);
  for (let e = 0; e < data.examples; e++) {
    let x = Array.from(data.images.subarray(e * data.features, (e + 1) * data.features), (b) => b * data.scale + data.shift);
    for (const l of layers) {
      const out = new Array<number>(l.outputs);
      for (let j = 0; j < l.outputs; j++) {
        let z = params[l.bias + j];
        for (let k = 0; k < l.inputs; k++) z += params[l.weight + j * l.inputs + k] * x[k];
        if (l.index < H) {
          maxZ[l.index][j] = Math.max(maxZ[l.index][j], z);
          out[j] = activate(act, model.alpha, z);
          sumAbs[l.index][j] += Math.abs(out[j]);
        } else {
          out[j] = z;
        }
      }
      x = out;
    }
    logits.set(x, e * model.classes);
  }
  return { maxZ, meanAbs: sumAbs.map((s) => s.map((v) => v / data.examples)), logits };
}
