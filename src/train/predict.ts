// Class probabilities (and, on request, every hidden layer's activations) for a batch of
// inputs, on a backend: the forward pass runs on the device, the softmax of the few
// logits per row on the host.
import type { Backend } from '../backend/backend.ts';
import { validateModel, type ModelSpec } from '../model/spec.ts';
import { planPredict, type PredictPlan } from '../plan/predict-plan.ts';

export interface Prediction {
  rows: number;
  classes: number;
  /** rows × classes, each row summing to 1. */
  probabilities: Float32Array;
  /** With `hidden: true`: per hidden layer, rows × units post-activation values. */
  hidden?: Float32Array[];
}

export interface PredictOptions {
  /** Also return each hidden layer's activations. */
  hidden?: boolean;
}

/** Rows per forward pass: larger inputs run in passes of this many rows. */
export const PREDICT_ROWS = 256;

export class Predictor {
  private constructor(
    readonly backend: Backend,
    readonly model: ModelSpec,
    readonly plan: PredictPlan,
  ) {}

  /**
   * A predictor on `backend`. With `params` (the flat parameter vector: a trainer's
   * getParams(), a checkpoint's params) it holds its own copy on the device, so the
   * backend must be one without a trainer; without, it reads the backend's `params`
   * arena, i.e. the live weights of the trainer on that backend (what Trainer.predict
   * does). `prefix` names its arenas: one prefix per predictor on a backend.
   */
  static async create(backend: Backend, model: ModelSpec, params?: Float32Array, opts: { rows?: number; prefix?: string } = {}): Promise<Predictor> {
    validateModel(model);
    const prefix = opts.prefix ?? 'predict.';
    const plan = planPredict(model, opts.rows ?? PREDICT_ROWS, prefix, backend.tuning);
    if (params) {
      if (!(params instanceof Float32Array) || params.length !== plan.layout.size) {
        throw new Error(
          `params must be a Float32Array of ${plan.layout.size} values for ${[model.inputs, ...model.hidden, model.classes].join('-')}, got ${params?.length ?? params}`,
        );
      }
      backend.allocate({ params: plan.layout.size, ...plan.arenas });
      backend.writeF(plan.regions.params, params);
    } else {
      backend.allocate(plan.arenas);
    }
    await backend.prepare(plan.step);
    return new Predictor(backend, model, plan);
  }

  /**
   * Class probabilities for `inputs`: rows × model.inputs values, row-major. Passes are
   * queued after whatever the backend has queued (e.g. training steps), so they see the
   * parameters as those steps leave them.
   */
  async predict(inputs: Float32Array, opts: PredictOptions = {}): Promise<Prediction> {
    const { backend, model, plan } = this;
    const width = model.inputs;
    if (!(inputs instanceof Float32Array)) throw new Error(`inputs must be a Float32Array of rows × ${width} values`);
    if (inputs.length === 0 || inputs.length % width !== 0) {
      throw new Error(`${inputs.length} input values are not a whole number of rows of ${width}: the model takes ${width} inputs per row`);
    }
    const bad = inputs.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`input ${bad % width} of row ${Math.floor(bad / width)} is ${inputs[bad]}: inputs must be finite numbers`);
    const rows = inputs.length / width;
    const C = model.classes;
    const probabilities = new Float32Array(rows * C);
    const hidden = opts.hidden ? model.hidden.map((u) => new Float32Array(rows * u)) : undefined;
    const chunk = new Float32Array(plan.rows * width);
    const values = { lr: 0, t: 0, batchStart: 0 };
    const L = plan.layout.layers.length;
    for (let r0 = 0; r0 < rows; r0 += plan.rows) {
      const n = Math.min(plan.rows, rows - r0);
      // A short last pass runs the full rows over zero padding (one pipeline per shape).
      chunk.fill(0);
      chunk.set(inputs.subarray(r0 * width, (r0 + n) * width));
      backend.writeF(plan.regions.x, chunk);
      backend.run(plan.step, values);
      const logits = await backend.readF({ ...plan.regions.a[L - 1], length: n * C });
      for (let r = 0; r < n; r++) {
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, logits[r * C + c]);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += Math.exp(logits[r * C + c] - max);
        for (let c = 0; c < C; c++) probabilities[(r0 + r) * C + c] = Math.exp(logits[r * C + c] - max) / sum;
      }
      if (hidden) {
        for (let h = 0; h < hidden.length; h++) {
          const u = model.hidden[h];
          hidden[h].set(await backend.readF({ ...plan.regions.a[h], length: n * u }), r0 * u);
        }
      }
    }
    return { rows, classes: C, probabilities, hidden };
  }
}
