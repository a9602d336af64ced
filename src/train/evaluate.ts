// Evaluation of the current parameters over a whole dataset on the device: loss, error,
// and the sparsity and dead units of each hidden layer over every evaluated example.
import type { Backend } from '../backend/backend.ts';
import { dataShape, validateDataset, type Dataset } from '../data/dataset.ts';
import { packBytes } from '../ops/gather.ts';
import type { View } from '../ops/op.ts';
import type { ModelSpec } from '../model/spec.ts';
import { planEval, type EvalPlan } from '../plan/eval-plan.ts';
import { matmulProducts } from '../plan/plan.ts';

export interface EvalResult {
  examples: number;
  loss: number;
  accuracy: number;
  error: number;
  /** Per hidden layer: exact zeros / (examples × units). */
  sparsity: number[];
  /** Per hidden layer: units exactly 0 for every evaluated example. */
  deadUnits: number[];
}

export const EVAL_BATCH = 500;

export class Evaluator {
  private constructor(
    readonly backend: Backend,
    readonly plan: EvalPlan,
    readonly model: ModelSpec,
    readonly data: Dataset,
    private readonly prefix: string,
    private readonly batch: number,
  ) {}

  /**
   * The same set evaluated for another model of the same inputs (a trainer's model after
   * pruning): this evaluator's arenas are freed and a new one made with the same names.
   * This one must not be used afterwards.
   */
  async remake(model: ModelSpec): Promise<Evaluator> {
    if (!this.backend.free) throw new Error(`the ${this.backend.kind} backend cannot free buffers, so the evaluation cannot be remade for another model`);
    this.backend.free(Object.keys(this.plan.arenas));
    return Evaluator.create(this.backend, model, this.data, this.prefix, this.batch);
  }

  /**
   * Uploads the dataset once. The parameters are read from the backend's `params` arena;
   * `prefix` names this evaluator's own arenas (one per evaluated set on a backend).
   */
  static async create(backend: Backend, model: ModelSpec, data: Dataset, prefix = 'eval.', batch = EVAL_BATCH): Promise<Evaluator> {
    validateDataset(data);
    if (data.features !== model.inputs) {
      throw new Error(`${data.name} has ${data.features} values per example but the model takes ${model.inputs} inputs`);
    }
    if (data.classes > model.classes) throw new Error(`${data.name} has ${data.classes} classes but the model outputs ${model.classes}`);
    await backend.tune?.(matmulProducts(model, Math.min(batch, data.examples)).filter((p) => p.op === 'forward'));
    const plan = planEval(model, batch, dataShape(data), prefix, backend.tuning, backend.limits);
    backend.allocate(plan.arenas);
    if (data.images instanceof Float32Array) backend.writeF(plan.regions.images, data.images);
    else backend.writeU(plan.regions.images, packBytes(data.images));
    backend.writeU(plan.regions.labels, Uint32Array.from(data.labels));
    backend.writeU(
      plan.regions.order,
      Uint32Array.from({ length: data.examples }, (_, i) => i),
    );
    await backend.prepare([...plan.full, ...(plan.remainder?.steps ?? []), ...plan.resetWindow]);
    return new Evaluator(backend, plan, model, data, prefix, batch);
  }

  async evaluate(): Promise<EvalResult> {
    const { backend, plan } = this;
    const values = { lr: 0, t: 0, batchStart: 0 };
    backend.run(plan.resetWindow, values);
    const batches: { rows: number; steps: typeof plan.full }[] = [];
    for (let i = 0; i + plan.batch <= plan.examples; i += plan.batch) batches.push({ rows: plan.batch, steps: plan.full });
    if (plan.remainder) batches.push(plan.remainder);
    const layers = plan.layout.layers;
    const hidden = layers.slice(0, -1);
    let lossSum = 0;
    let correct = 0;
    const zeros = hidden.map(() => 0);
    let last: View | undefined;
    // Two batches in flight at most: the staging ring holds three.
    const pending: { rows: number; view: Promise<View> }[] = [];
    const take = async () => {
      const p = pending.shift()!;
      const v = await p.view;
      lossSum += v.f[plan.stats.loss] * p.rows;
      correct += v.u[plan.stats.correct];
      plan.stats.hidden.forEach((s, h) => (zeros[h] += v.u[s.zeros]));
      last = v;
    };
    let start = 0;
    for (const b of batches) {
      values.batchStart = start;
      backend.run(b.steps, values);
      pending.push({ rows: b.rows, view: backend.snapshot(plan.regions.stats) });
      start += b.rows;
      if (pending.length > 2) await take();
    }
    while (pending.length) await take();
    const n = plan.examples;
    return {
      examples: n,
      loss: lossSum / n,
      accuracy: correct / n,
      error: 1 - correct / n,
      sparsity: hidden.map((l, h) => zeros[h] / (n * l.outputs)),
      deadUnits: plan.stats.hidden.map((s) => last!.u[s.dead]),
    };
  }
}
