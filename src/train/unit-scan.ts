// Full-set scan for dead and dormant units: one pass over a dataset on the device with
// the weights frozen (see docs/dead-units.md).
//
//   dead on a set D     the unit's pre-activation z ≤ 0 for every example of D. For relu
//                       its output is then exactly 0 on all of D and no gradient reaches
//                       its incoming weights from D; the test on z (not on a = 0) makes the
//                       count comparable across leaky_relu, whose output is αz ≠ 0.
//   dormant (τ)         Sokar et al. 2023 (ReDo): s_i = E|a_i| / mean_k E|a_k| ≤ τ over D,
//                       the mean over the units k of the same layer. A layer whose units are
//                       all exactly 0 has s_i = 0 for every unit.
import type { Backend } from '../backend/backend.ts';
import { dataShape, validateDataset, type Dataset } from '../data/dataset.ts';
import { packBytes } from '../ops/gather.ts';
import type { ModelSpec } from '../model/spec.ts';
import { matmulProducts } from '../plan/plan.ts';
import { planScan, type ScanPlan } from '../plan/scan-plan.ts';

/** Default dormancy threshold τ: a unit at ≤ 2.5% of its layer's mean activity. */
export const DEFAULT_TAU = 0.025;
export const SCAN_BATCH = 500;

export interface LayerActivity {
  /** 1-based hidden layer. */
  layer: number;
  units: number;
  /** Units with z ≤ 0 on every example of the set. */
  dead: number;
  /** Units with s_i ≤ τ. */
  dormant: number;
  /** Their indices (0-based, ascending). */
  deadUnits: number[];
  dormantUnits: number[];
  /** Per unit: max z over the set. */
  maxZ: Float32Array;
  /** Per unit: E|a| over the set. */
  meanAbs: Float64Array;
  /** Per unit: s_i = E|a_i| / mean_k E|a_k| (0 for every unit if the whole layer is 0). */
  score: Float64Array;
}

export interface UnitScanResult {
  examples: number;
  tau: number;
  layers: LayerActivity[];
  /** examples × classes logits, when asked for (scan({ logits: true })). */
  logits?: Float32Array;
}

export interface ScannerOptions {
  /** Names this scanner's arenas (one scanner per set on a backend). Default 'scan.'. */
  prefix?: string;
  batch?: number;
  /**
   * 'shared' (default): read the backend's `params` arena, i.e. a Trainer's live weights.
   * 'own': the scanner keeps a parameter arena of its own, written by scan({ params }).
   */
  params?: 'shared' | 'own';
}

export class UnitScanner {
  private constructor(
    readonly backend: Backend,
    readonly model: ModelSpec,
    readonly plan: ScanPlan,
    readonly ownParams: boolean,
  ) {}

  /** Uploads the dataset once; allocates the scanner's arenas on the backend. */
  static async create(backend: Backend, model: ModelSpec, data: Dataset, opts: ScannerOptions = {}): Promise<UnitScanner> {
    validateDataset(data);
    if (data.features !== model.inputs) {
      throw new Error(`${data.name} has ${data.features} values per example but the model takes ${model.inputs} inputs`);
    }
    if (model.hidden.length === 0) throw new Error('the model has no hidden layer to scan');
    const prefix = opts.prefix ?? 'scan.';
    const batch = opts.batch ?? SCAN_BATCH;
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`scan batch must be a positive whole number, got ${batch}`);
    const own = opts.params === 'own';
    await backend.tune?.(matmulProducts(model, Math.min(batch, data.examples)).filter((p) => p.op === 'forward'));
    const plan = planScan(model, batch, dataShape(data), { prefix, paramsArena: own ? `${prefix}params` : 'params', tuning: backend.tuning });
    backend.allocate(plan.arenas);
    if (data.images instanceof Float32Array) backend.writeF(plan.regions.images, data.images);
    else backend.writeU(plan.regions.images, packBytes(data.images));
    backend.writeU(plan.regions.labels, Uint32Array.from(data.labels));
    backend.writeU(
      plan.regions.order,
      Uint32Array.from({ length: data.examples }, (_, i) => i),
    );
    await backend.prepare([...plan.start, ...plan.full, ...(plan.remainder?.steps ?? [])]);
    return new UnitScanner(backend, model, plan, own);
  }

  /**
   * One pass over the set. `params` (the engine's flat layout) is required for a scanner
   * with its own parameter arena and refused for one reading the shared arena.
   */
  async scan(opts: { tau?: number; params?: Float32Array; logits?: boolean } = {}): Promise<UnitScanResult> {
    const { backend, plan } = this;
    const tau = opts.tau ?? DEFAULT_TAU;
    if (!(tau >= 0) || !Number.isFinite(tau)) throw new Error(`the dormancy threshold τ must be a finite number ≥ 0, got ${tau}`);
    if (this.ownParams) {
      if (!opts.params) throw new Error('this scanner keeps its own parameters: pass scan({ params })');
      if (opts.params.length !== plan.layout.size) throw new Error(`expected ${plan.layout.size} parameter values, got ${opts.params.length}`);
      backend.writeF(plan.regions.params, opts.params);
    } else if (opts.params) {
      throw new Error("this scanner reads the backend's shared params arena: create it with { params: 'own' } to scan other parameters");
    }
    const values = { lr: 0, t: 0, batchStart: 0 };
    backend.writeF(plan.regions.maxzAll, new Float32Array(plan.regions.maxzAll.length).fill(-Infinity));
    backend.run(plan.start, values);
    const classes = this.model.classes;
    const logits = opts.logits ? new Float32Array(plan.examples * classes) : undefined;
    for (let start = 0; start < plan.examples;) {
      const last = start + plan.batch > plan.examples;
      const { rows, steps } = last ? plan.remainder! : { rows: plan.batch, steps: plan.full };
      values.batchStart = start;
      backend.run(steps, values);
      if (logits) logits.set((await backend.readF({ ...plan.logits, length: rows * classes })).subarray(0, rows * classes), start * classes);
      start += rows;
    }
    const n = plan.examples;
    const layers: LayerActivity[] = [];
    for (let h = 0; h < plan.regions.maxz.length; h++) {
      const maxZ = Float32Array.from(await backend.readF(plan.regions.maxz[h]));
      const sums = await backend.readF(plan.regions.sumabs[h]);
      layers.push(
        activity(
          h + 1,
          maxZ,
          Float64Array.from(sums, (s) => s / n),
          tau,
        ),
      );
    }
    return { examples: n, tau, layers, logits };
  }
}

/** Dead and dormant units of one layer from its per-unit max z and E|a|. */
export function activity(layer: number, maxZ: Float32Array, meanAbs: Float64Array, tau: number): LayerActivity {
  const units = maxZ.length;
  const mean = meanAbs.reduce((s, x) => s + x, 0) / units;
  const score = Float64Array.from(meanAbs, (x) => (mean > 0 ? x / mean : 0));
  const deadUnits: number[] = [];
  const dormantUnits: number[] = [];
  for (let j = 0; j < units; j++) {
    if (maxZ[j] <= 0) deadUnits.push(j);
    if (score[j] <= tau) dormantUnits.push(j);
  }
  return { layer, units, dead: deadUnits.length, dormant: dormantUnits.length, deadUnits, dormantUnits, maxZ, meanAbs, score };
}

let scans = 0;

/**
 * One-off scan of `params` (or, when undefined, the backend's shared `params` arena) over
 * `data`. Each call allocates arenas of its own on the backend: keep a UnitScanner for
 * repeated scans.
 */
export async function scanUnits(
  backend: Backend,
  model: ModelSpec,
  params: Float32Array | undefined,
  data: Dataset,
  opts: { tau?: number; batch?: number; logits?: boolean } = {},
): Promise<UnitScanResult> {
  const scanner = await UnitScanner.create(backend, model, data, { prefix: `scan${scans++}.`, batch: opts.batch, params: params ? 'own' : 'shared' });
  return scanner.scan({ tau: opts.tau, params, logits: opts.logits });
}
