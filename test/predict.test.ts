// predict(): class probabilities and hidden activations for a batch of float inputs, on
// the CPU backend and on WebGPU (SwiftShader here), against a plain float64 forward pass
// written out below; and a trainer's predictions agree with its evaluator.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { datasetFromArrays } from '../src/data/dataset.ts';
import { paramLayout } from '../src/model/layout.ts';
import { initialParams } from '../src/model/init.ts';
import type { ModelSpec } from '../src/model/spec.ts';
import { Evaluator } from '../src/train/evaluate.ts';
import { Predictor } from '../src/train/predict.ts';
import { Trainer } from '../src/train/trainer.ts';
import { Rng } from '../src/util/rng.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallData, smallModel, trainerOptions } from './support/train.ts';

/** rows × classes probabilities and per-hidden-layer activations, in float64. */
function reference(model: ModelSpec, params: Float32Array, inputs: Float32Array) {
  const layout = paramLayout(model);
  const rows = inputs.length / model.inputs;
  let x: number[][] = Array.from({ length: rows }, (_, r) => Array.from(inputs.subarray(r * model.inputs, (r + 1) * model.inputs)));
  const hidden: number[][][] = [];
  for (const l of layout.layers) {
    const out = x.map((row) =>
      Array.from({ length: l.outputs }, (_, o) => {
        let z = params[l.bias + o];
        for (let i = 0; i < l.inputs; i++) z += row[i] * params[l.weight + o * l.inputs + i];
        return l.index === layout.layers.length - 1 ? z : model.activation === 'relu' ? Math.max(0, z) : Math.tanh(z);
      }),
    );
    if (l.index < layout.layers.length - 1) hidden.push(out);
    x = out;
  }
  const probs = x.map((z) => {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  return { probs, hidden };
}

const rng = new Rng(5);
const backends: [string, () => Promise<Backend>][] = [
  ['cpu', async () => new CpuBackend()],
  ['webgpu', gpuBackend],
];

describe('predict', () => {
  for (const [name, make] of backends) {
    it(`a Predictor gives the forward pass's probabilities and hidden activations (${name})`, async () => {
      const model = smallModel({ activation: 'tanh' });
      const params = initialParams(model);
      // 300 rows: a full pass of 256 and a padded one of 44.
      const inputs = new Float32Array(300 * model.inputs).map(() => rng.uniform(-1, 1));
      const backend = await make();
      try {
        const p = await Predictor.create(backend, model, params);
        const out = await p.predict(inputs, { hidden: true });
        const ref = reference(model, params, inputs);
        expect(out.rows).toBe(300);
        expect(out.classes).toBe(5);
        let err = 0;
        for (let r = 0; r < 300; r++) {
          let sum = 0;
          for (let c = 0; c < 5; c++) {
            sum += out.probabilities[r * 5 + c];
            err = Math.max(err, Math.abs(out.probabilities[r * 5 + c] - ref.probs[r][c]));
          }
          expect(sum).toBeCloseTo(1, 5);
        }
        expect(err).toBeLessThan(1e-5);
        expect(out.hidden!.map((h) => h.length)).toEqual([300 * 24, 300 * 17]);
        for (let h = 0; h < 2; h++) {
          for (const r of [0, 255, 256, 299]) {
            for (let u = 0; u < model.hidden[h]; u++) expect(Math.abs(out.hidden![h][r * model.hidden[h] + u] - ref.hidden[h][r][u])).toBeLessThan(1e-5);
          }
        }
        // The probabilities do not depend on the batch they came in.
        const one = await p.predict(inputs.subarray(299 * model.inputs));
        expect(one.hidden).toBeUndefined();
        for (let c = 0; c < 5; c++) expect(one.probabilities[c]).toBeCloseTo(out.probabilities[299 * 5 + c], 6);
      } finally {
        backend.destroy();
      }
    });
  }

  it('refuses inputs of the wrong shape or with NaN, and params of the wrong size', async () => {
    const backend = new CpuBackend();
    try {
      const model = smallModel();
      await expect(Predictor.create(backend, model, new Float32Array(3))).rejects.toThrow(/params must be a Float32Array of \d+ values for 20-24-17-5, got 3/);
      const p = await Predictor.create(backend, model, initialParams(model));
      await expect(p.predict(new Float32Array(30))).rejects.toThrow(/30 input values are not a whole number of rows of 20/);
      const x = new Float32Array(40).fill(0.1);
      x[25] = Infinity;
      await expect(p.predict(x)).rejects.toThrow(/input 5 of row 1 is Infinity/);
    } finally {
      backend.destroy();
    }
  });

  it("a trainer's predictions after training agree with its evaluator (cpu)", async () => {
    const backend = new CpuBackend();
    try {
      const px = smallData(256);
      const floats = Float32Array.from(px.images, (b) => b * px.scale + px.shift);
      const data = datasetFromArrays({ inputs: floats, labels: px.labels, features: px.features, classes: px.classes });
      const t = await Trainer.create(backend, smallModel(), trainerOptions(), data);
      const before = await t.predict(floats);
      await collect(t.run(40));
      const ev = await (await Evaluator.create(backend, t.model, data)).evaluate();
      const after = await t.predict(floats);
      let correct = 0;
      let changed = 0;
      for (let r = 0; r < data.examples; r++) {
        const row = after.probabilities.subarray(r * 5, r * 5 + 5);
        if (row.indexOf(Math.max(...row)) === data.labels[r]) correct++;
        if (Math.abs(row[0] - before.probabilities[r * 5]) > 1e-6) changed++;
      }
      expect(changed).toBeGreaterThan(200);
      expect(correct / data.examples).toBeCloseTo(ev.accuracy, 6);
      expect(ev.accuracy).toBeGreaterThan(0.5);
    } finally {
      backend.destroy();
    }
  });
});
