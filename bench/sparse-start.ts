// The sparse workload's start weights: the paper network trained with the L1 activation
// penalty until most hidden outputs are exact zeros, as a user of the sparse path has it.
// `bench --from FILE` names a checkpoint; without it the bench trains one on MNIST with
// START_RECIPE (spec.ts; the library's trainRun on the CPU backend, as `rectigrad train` does) and
// keeps it in the cache directory under a name made from the recipe, so that a changed
// recipe trains anew and an unchanged one is reused. Node only (files, the cache).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { PixelDataset } from '../src/data/dataset.ts';
import { runConfig } from '../src/io/checkpoint-config.ts';
import type { CheckpointState } from '../src/io/checkpoint.ts';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.ts';
import { widths, type ModelSpec } from '../src/model/spec.ts';
import { DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { Predictor } from '../src/train/predict.ts';
import { trainRun } from '../src/train/run.ts';
import { cacheDir } from '../src/util/cache-dir.ts';
import { START_RECIPE, type StartZeros } from './spec.ts';

export type StartRecipe = { optimizer: 'momentum'; momentum: number; lr: number; l1: number; batch: number; epochs: number; seed: number };

/** Below this mean fraction of exact zeros in the hidden layers a start checkpoint is run, with a warning. */
export const MIN_START_ZEROS = 0.85;

/** Where the bench keeps the checkpoint a recipe trains (a changed recipe, or model, gets a new file). */
export function startCachePath(model: ModelSpec, recipe: StartRecipe = START_RECIPE, dir = cacheDir()): string {
  const key = createHash('sha256').update(JSON.stringify({ model, recipe })).digest('hex').slice(0, 12);
  return join(dir, `bench-sparse-start-${key}.safetensors`);
}

/** Why a checkpoint's network cannot start the workload's model (undefined when it can). */
export function startModelProblem(have: ModelSpec, want: ModelSpec): string | undefined {
  const a = widths(have).join('-');
  const b = widths(want).join('-');
  if (a !== b || have.activation !== want.activation)
    return `it holds a ${a} ${have.activation} network, and the sparse workload trains the paper network ${b} ${want.activation}: give a checkpoint of that network (rectigrad train --l1 0.001 --optimizer momentum --save FILE trains one)`;
  return undefined;
}

/** Fractions of exact zeros of the input and of each hidden layer's outputs over `rows` examples (x: rows × inputs). */
export async function startZeros(model: ModelSpec, params: Float32Array, x: Float32Array): Promise<StartZeros> {
  const backend = new CpuBackend('float32');
  try {
    const p = await Predictor.create(backend, model, params);
    const { hidden } = await p.predict(x, { hidden: true });
    const frac = (a: Float32Array) => a.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / a.length;
    const h = hidden!.map(frac);
    return { pixels: frac(x), hidden: h, hiddenMean: h.reduce((s, v) => s + v, 0) / Math.max(1, h.length) };
  } finally {
    backend.destroy();
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
export const describeZeros = (z: StartZeros) => `${z.hidden.map(pct).join(' / ')} of the hidden outputs zero (mean ${pct(z.hiddenMean)})`;

export interface SparseStartWeights {
  params: Float32Array;
  /** The checkpoint file. */
  from: string;
}

/**
 * The start weights: `from`'s, checked against `model`, or the cached checkpoint of
 * START_RECIPE, trained first where there is none. `sample` (training images, rows ×
 * inputs, as the network reads them) measures the zeros the one line says; `log` gets it,
 * and a warning when a given checkpoint has fewer than MIN_START_ZEROS.
 */
export async function sparseStartWeights(
  model: ModelSpec,
  mnist: () => { train: PixelDataset; test: PixelDataset },
  sample: Float32Array,
  o: { from?: string; log: (line: string) => void; cacheDir?: string; recipe?: StartRecipe },
): Promise<SparseStartWeights> {
  if (o.from) {
    const s = loadCheckpoint(o.from);
    const bad = startModelProblem(s.model, model);
    if (bad) throw new Error(`--from ${o.from}: ${bad}`);
    const z = await startZeros(model, s.params, sample);
    o.log(`sparse workload: start weights from ${o.from}: ${describeZeros(z)}`);
    if (z.hiddenMean < MIN_START_ZEROS)
      o.log(
        `warning: ${o.from} has ${pct(z.hiddenMean)} of its hidden outputs zero, under the ${pct(MIN_START_ZEROS)} the sparse workload stands for: running it anyway`,
      );
    return { params: s.params, from: o.from };
  }
  const r: StartRecipe = o.recipe ?? START_RECIPE;
  const path = startCachePath(model, r, o.cacheDir);
  // A cached file that cannot be read (cut off, another format) is only a cache: trained again.
  const cached = existsSync(path) ? tryLoad(path) : undefined;
  if (cached) {
    const s = cached;
    if (!startModelProblem(s.model, model)) {
      const z = await startZeros(model, s.params, sample);
      o.log(`sparse workload: reused the start weights in ${path}: ${describeZeros(z)}`);
      return { params: s.params, from: path };
    }
  }
  const { train, test } = mnist();
  const what = `${r.optimizer} ${r.momentum} lr ${r.lr}, L1 ${r.l1}, batch ${r.batch}, ${r.epochs} epochs`;
  o.log(`sparse workload: training its start weights on ${train.name} (${what}; once, then cached)…`);
  const backend = new CpuBackend('float32');
  const t0 = performance.now();
  try {
    // Recorded as `rectigrad train` records its settings (so --resume could carry on from it).
    const config = runConfig({ lr: r.lr, l1: r.l1, batch: r.batch, seed: r.seed, epochs: r.epochs, optimizer: { kind: r.optimizer, momentum: r.momentum } });
    const result = await trainRun(
      backend,
      model,
      {
        batch: r.batch,
        l1: r.l1,
        telemetry: false,
        optimizer: { ...DEFAULT_OPTIMIZER, kind: r.optimizer, momentum: r.momentum },
        lr: r.lr,
        shuffleSeed: r.seed,
      },
      train,
      test,
      { steps: r.epochs * Math.floor(train.examples / r.batch) },
    );
    // The weights only (no momentum): all the bench reads.
    const state = { ...(await result.trainer.state({ ...config })), m: undefined, v: undefined, flags: undefined };
    mkdirSync(dirname(path), { recursive: true });
    saveCheckpoint(path, state);
    const z = await startZeros(model, state.params, sample);
    const err = result.final ? `, test error ${(100 * result.final.testError).toFixed(2)} %` : '';
    o.log(`sparse workload: trained its start weights in ${((performance.now() - t0) / 1000).toFixed(0)} s${err}: ${describeZeros(z)}; cached in ${path}`);
    return { params: state.params, from: path };
  } finally {
    backend.destroy();
  }
}

function tryLoad(path: string): CheckpointState | undefined {
  try {
    return loadCheckpoint(path);
  } catch {
    return undefined;
  }
}
