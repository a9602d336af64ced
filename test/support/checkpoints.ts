// Seeded checkpoint states for the file-format suites (no training needed: the readers
// only care that every value is distinct and finite).
import type { CheckpointState } from '../../src/io/checkpoint.ts';
import { align, paramLayout } from '../../src/model/layout.ts';
import { modelSpec, type ModelSpec } from '../../src/model/spec.ts';

/** mulberry32: a tiny seeded generator, so fixtures are the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function filled(n: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

/** A complete state of `model`: parameters, optionally Adam moments, and window flags. */
export function seededState(model: ModelSpec, opts: { step: number; seed: number; adam?: boolean }): CheckpointState {
  const next = rng(opts.seed);
  const size = paramLayout(model).size;
  const flagsLen = model.hidden.reduce((at, h) => align(at + h), 0);
  return {
    model,
    step: opts.step,
    config: { batch: 32, lr: 0.05, note: `seed ${opts.seed}` },
    params: filled(size, next),
    m: opts.adam ? filled(size, next) : undefined,
    v: opts.adam ? filled(size, next).map(Math.abs) : undefined,
    flags: Uint32Array.from(filled(flagsLen, next), (x) => (x < 0 ? 1 : 0)),
  };
}

export const tinyModel = (over: Partial<ModelSpec> = {}) => modelSpec({ inputs: 6, classes: 3, hidden: [5, 4], seed: 2, ...over });

/**
 * The two states the crash test's child saves in turn: different models, steps and
 * optimisers, so the two files differ in size and in every byte of their headers.
 */
export function crashStates(): [CheckpointState, CheckpointState] {
  return [
    seededState(modelSpec({ inputs: 784, classes: 10, hidden: [128], seed: 1 }), { step: 100, seed: 1 }),
    seededState(modelSpec({ inputs: 784, classes: 10, hidden: [160, 32], seed: 2 }), { step: 200, seed: 2, adam: true }),
  ];
}
