// The bench's sparse workload: its start weights (a checkpoint given with --from, or one
// trained by recipe and cached), the cells that carry them with their batches, L1 term and
// momentum, the zeros they start with, and the --from errors.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { makeCells } from '../bench/run.ts';
import { sparseStartWeights, startCachePath, type StartRecipe } from '../bench/sparse-start.ts';
import { cellParams, cellUnsupported, START_RECIPE, TRAIN_WORKLOADS, type TrainCell } from '../bench/spec.ts';
import { loadIdxSplit, mnistDir } from '../src/data/idx-files.ts';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import { PAPER_MODEL, type ModelSpec } from '../src/model/spec.ts';
import { matmulCpu } from '../src/ops/matmul.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-bench-start-'));
const RECTIFIER = 'docs/glorot2011/rectifier.safetensors';

/** Zeros of each hidden layer's relu outputs, by a plain forward pass (not the Predictor the bench uses). */
function hiddenZeros(model: ModelSpec, p: Float32Array, x: Float32Array, rows: number): number[] {
  let a = x;
  return paramLayout(model)
    .layers.slice(0, model.hidden.length)
    .map((l) => {
      const z = new Float32Array(rows * l.outputs);
      matmulCpu(rows, l.outputs, l.inputs, false, true, a, p.subarray(l.weight, l.weight + l.inputs * l.outputs), z);
      a = z.map((v, i) => Math.max(0, v + p[l.bias + (i % l.outputs)]));
      return a.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / a.length;
    });
}

/** Bit-for-bit equal float arrays (toEqual walks millions of elements slowly). */
const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const failure = (args: string[]) =>
  run(process.execPath, ['bin/rectigrad.js', 'bench', ...args], { timeout: 60_000 }).then(
    () => expect.unreachable('should have failed'),
    (e: { stderr: string }) => e.stderr,
  );

describe('the sparse workload’s cells', () => {
  it('carry the checkpoint, 8 distinct batches, the L1 term and momentum, and the zeros they start with', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const cells = (await makeCells({ workloads: ['sparse', 'paper'], batches: [8], from: RECTIFIER, log: (l) => lines.push(l) })) as TrainCell[];
    const [sparse, paper] = cells;
    expect(sparse.workload).toBe('sparse');
    expect(sparse).toMatchObject({ batch: 8, batches: 8, l1: START_RECIPE.l1, momentum: START_RECIPE.momentum, lr: START_RECIPE.lr });
    expect(sparse.labels).toHaveLength(64);
    // MNIST's first 64 training examples, in order.
    const mnist = loadIdxSplit(mnistDir(), 'train', 'MNIST');
    expect(sparse.labels).toEqual(Array.from(mnist.labels.subarray(0, 64)));
    // The checkpoint's weights, not the seeded initialisation.
    const ckpt = loadCheckpoint(RECTIFIER);
    const p = cellParams(sparse);
    expect(same(p, ckpt.params)).toBe(true);
    expect(same(p, initialParams(PAPER_MODEL))).toBe(false);
    // Its zeros on the cell's 64 examples, as a plain forward pass counts them.
    const x = Float32Array.from(mnist.images.subarray(0, 64 * 784), (v) => v * mnist.scale + mnist.shift);
    const want = hiddenZeros(PAPER_MODEL, ckpt.params, x, 64);
    const z = sparse.startZeros!;
    z.hidden.forEach((f, h) => expect(f, `layer ${h}`).toBeCloseTo(want[h], 6));
    expect(z.hiddenMean).toBeCloseTo((want[0] + want[1] + want[2]) / 3, 6);
    expect(z.hiddenMean).toBeGreaterThan(0.75);
    expect(z.pixels).toBeCloseTo(x.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / x.length, 10);
    expect(z.from).toBe(RECTIFIER);
    // The committed rectifier is under 85 % zeros: said once, and run anyway.
    expect(lines.join('\n')).toMatch(/start weights from docs\/glorot2011\/rectifier.safetensors: [\d.]+ % \/ [\d.]+ % \/ [\d.]+ % of the hidden outputs zero/);
    expect(lines.filter((l) => l.startsWith('warning:'))).toEqual([
      expect.stringMatching(/^warning: docs\/glorot2011\/rectifier.safetensors has 8\d\.\d % of its hidden outputs zero, under the 85\.0 %/),
    ]);
    // TensorFlow.js and jax-js, not given L1 and momentum, stay off it; not off the others.
    for (const k of ['tfjs-cpu', 'tfjs-webgpu', 'jax-wasm'] as const) {
      expect(cellUnsupported(k, sparse)).toMatch(/^skipped: not given the sparse workload's L1 term and momentum/);
      expect(cellUnsupported(k, paper)).toBeUndefined();
    }
    for (const k of ['rectigrad-cpu', 'rectigrad-webgpu', 'pytorch-cpu'] as const) expect(cellUnsupported(k, sparse)).toBeUndefined();
    // The other workloads: one batch, plain SGD, the seeded weights.
    expect(paper.labels).toHaveLength(8);
    expect([paper.batches, paper.l1, paper.momentum, paper.params, paper.startZeros]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(same(cellParams(paper), initialParams(PAPER_MODEL))).toBe(true);
  });

  it('trains its start by the recipe once, caches it under the recipe, and reuses it', { timeout: 120_000 }, async () => {
    // A small network and a short recipe on a slice of MNIST stand in for the paper network's minutes.
    const model: ModelSpec = { ...PAPER_MODEL, hidden: [32, 32] };
    const recipe: StartRecipe = { ...START_RECIPE, epochs: 1, l1: 0.01 };
    const full = loadIdxSplit(mnistDir(), 'train', 'MNIST');
    const slice = (n: number) => ({ ...full, examples: n, images: full.images.subarray(0, n * 784), labels: full.labels.subarray(0, n) });
    let loads = 0;
    const mnist = () => (loads++, { train: slice(1024), test: slice(256) });
    const sample = Float32Array.from(full.images.subarray(0, 128 * 784), (v) => v * full.scale + full.shift);
    const cache = join(dir, 'cache');
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const first = await sparseStartWeights(model, mnist, sample, { log, cacheDir: cache, recipe });
    expect(first.from).toBe(startCachePath(model, recipe, cache));
    expect(statSync(first.from).isFile()).toBe(true);
    expect(lines.at(-1)).toMatch(
      /^sparse workload: trained its start weights in \d+ s, test error [\d.]+ %: [\d.]+ % \/ [\d.]+ % of the hidden outputs zero \(mean [\d.]+ %\); cached in /,
    );
    // Trained: not the seeded initialisation.
    expect(same(first.params, initialParams(model))).toBe(false);
    const again = await sparseStartWeights(model, mnist, sample, { log, cacheDir: cache, recipe });
    expect(loads).toBe(1);
    expect(same(again.params, first.params)).toBe(true);
    expect(lines.at(-1)).toMatch(/^sparse workload: reused the start weights in .*: [\d.]+ % \/ [\d.]+ % of the hidden outputs zero/);
    // A cached file cut short is only a cache: trained again, not an error.
    writeFileSync(first.from, 'not a checkpoint');
    const retrained = await sparseStartWeights(model, mnist, sample, { log, cacheDir: cache, recipe });
    expect(loads).toBe(2);
    expect(lines.at(-1)).toMatch(/^sparse workload: trained its start weights/);
    expect(loadCheckpoint(retrained.from).params.length).toBe(first.params.length);
    // Another recipe (or model) is another file: it would train anew.
    expect(startCachePath(model, { ...recipe, l1: 0.02 }, cache)).not.toBe(first.from);
    expect(startCachePath(PAPER_MODEL, recipe, cache)).not.toBe(first.from);
    // RECTIGRAD_CACHE_DIR chooses the directory.
    const before = process.env.RECTIGRAD_CACHE_DIR;
    process.env.RECTIGRAD_CACHE_DIR = cache;
    try {
      expect(startCachePath(model, recipe)).toBe(first.from);
    } finally {
      if (before === undefined) delete process.env.RECTIGRAD_CACHE_DIR;
      else process.env.RECTIGRAD_CACHE_DIR = before;
    }
  });

  it('refuses a --from checkpoint of another network, naming the file and what is wrong', { timeout: 120_000 }, async () => {
    const small = join(dir, 'small.safetensors');
    const model: ModelSpec = { ...PAPER_MODEL, hidden: [64] };
    saveCheckpoint(small, { model, step: 0, config: {}, params: initialParams(model) });
    const wrong = await failure(['--engines', 'rectigrad-cpu@node', '--workload', 'sparse', '--from', small]);
    expect(wrong).toContain(`--from ${small}: it holds a 784-64-10 relu network, and the sparse workload trains the paper network 784-1000-1000-1000-10 relu`);
    const missing = await failure(['--engines', 'rectigrad-cpu@node', '--workload', 'sparse', '--from', join(dir, 'nothing.safetensors')]);
    expect(missing).toMatch(/cannot read checkpoint .*nothing\.safetensors: no such file/);
    const noSparse = await failure(['--engines', 'rectigrad-cpu@node', '--workload', 'paper', '--from', RECTIFIER]);
    expect(noSparse).toMatch(/--from docs\/glorot2011\/rectifier.safetensors gives the sparse workload its start weights.*add --workload sparse/);
    for (const e of [wrong, missing, noSparse]) expect(e).not.toMatch(/\n\s+at /);
    // A copy of the paper network is taken (the copy's name in the report).
    const copy = join(dir, 'copy.safetensors');
    copyFileSync(RECTIFIER, copy);
    const [cell] = (await makeCells({ workloads: ['sparse'], batches: [4], from: copy, log: () => {} })) as TrainCell[];
    expect(cell.startZeros?.from).toBe(copy);
    expect(TRAIN_WORKLOADS.sparse.trained?.stepBatches).toBe(8);
  });
});
