import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import type { PlanItem } from '../src/ops/op.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { layerStats } from '../src/ops/layer-stats.ts';
import type { StepValues } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { gpuBackend } from './support/gpu.ts';
import { regions } from './support/op-harness.ts';

const STATS = 16;
const values: StepValues = { lr: 0.01, t: 1, batchStart: 0 };

interface Case {
  rows: number;
  cols: number;
  batches: Float32Array[];
  slots: { zeros: number; batchDead: number; dead: number };
  active0: Uint32Array;
  stats0: Uint32Array;
}

/** Relu-like data: many exact zeros (some −0), per-column bias so zero rates vary, forced dead columns. */
function makeCase(rng: Rng, rows: number, cols: number, nBatches: number, randomFlags: boolean): Case {
  const bias = Array.from({ length: cols }, () => rng.uniform(-2.5, 1));
  const deadAlways = new Set<number>();
  for (let k = 0; k < Math.max(1, Math.floor(cols / 8)); k++) deadAlways.add(rng.int(cols));
  const batches: Float32Array[] = [];
  for (let b = 0; b < nBatches; b++) {
    const deadNow = new Set<number>();
    for (let k = 0; k < Math.max(1, Math.floor(cols / 10)); k++) deadNow.add(rng.int(cols));
    const a = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        let v = Math.max(0, rng.normal() + bias[j]);
        if (deadAlways.has(j) || deadNow.has(j)) v = 0;
        if (v === 0 && rng.next() < 0.1) v = -0;
        a[i * cols + j] = v;
      }
    }
    batches.push(a);
  }
  const perm = rng.shuffle(Uint32Array.from({ length: STATS }, (_, k) => k));
  const active0 = new Uint32Array(cols);
  if (randomFlags) for (let j = 0; j < cols; j++) active0[j] = rng.next() < 0.3 ? 1 : 0;
  const stats0 = Uint32Array.from({ length: STATS }, () => rng.int(100000));
  return { rows, cols, batches, slots: { zeros: perm[0], batchDead: perm[1], dead: perm[2] }, active0, stats0 };
}

/** Runs every batch in turn on one backend; returns (active, stats) after each batch. */
async function runCase(b: Backend, c: Case) {
  const [a] = regions('a', [c.rows * c.cols]);
  const [active, stats] = regions('st', [c.cols, STATS]);
  b.allocate({ a: a.length, st: stats.offset + stats.length });
  b.writeU(active, c.active0);
  b.writeU(stats, c.stats0);
  const items: PlanItem[] = [layerStats('stats', c.rows, c.cols, c.slots, { a, active, stats })];
  await b.prepare(items);
  const out: { active: Uint32Array; stats: Uint32Array }[] = [];
  for (const batch of c.batches) {
    b.writeF(a, batch);
    b.run(items, values);
    out.push({ active: await b.readU(active), stats: await b.readU(stats) });
  }
  b.destroy();
  return out;
}

/** The definitions, counted directly: row by row, in float64. */
function reference(c: Case) {
  const everActive = Array.from(c.active0, (f) => f !== 0);
  const stats = Array.from(c.stats0);
  const out: { active: number[]; stats: number[] }[] = [];
  for (const batch of c.batches) {
    const x = Float64Array.from(batch);
    const nonzeroInBatch = new Array<boolean>(c.cols).fill(false);
    let zeros = 0;
    x.forEach((v, k) => {
      if (v === 0) zeros++;
      else nonzeroInBatch[k % c.cols] = true;
    });
    nonzeroInBatch.forEach((nz, j) => nz && (everActive[j] = true));
    stats[c.slots.zeros] += zeros;
    stats[c.slots.batchDead] += nonzeroInBatch.filter((nz) => !nz).length;
    stats[c.slots.dead] += everActive.filter((e) => !e).length;
    out.push({ active: everActive.map(Number), stats: stats.slice() });
  }
  return out;
}

const rng = new Rng(2011);
const shapes: [number, number][] = [
  [1, 1],
  [1, 7],
  [3, 1],
  [64, 64],
  [65, 63],
  [2, 257],
  [1, 1000],
  [128, 300],
];
while (shapes.length < 24) shapes.push([1 + rng.int(200), 1 + rng.int(700)]);
const cases = shapes.map(([r, c], k) => makeCase(rng, r, c, k % 4 === 3 ? 2 : 3, k % 3 === 2));

describe('layer_stats on the GPU matches its CPU twin over consecutive batches', () => {
  it.each(cases.map((c, k) => [c.rows, c.cols, c.batches.length, k] as const))('%i rows × %i cols, %i batches', async (_r, _c, _b, k) => {
    const c = cases[k];
    const cpu = await runCase(new CpuBackend(), c);
    const gpu = await runCase(await gpuBackend(), c);
    expect(gpu).toEqual(cpu);
    // The twin agrees with a direct count of the definitions.
    const ref = reference(c);
    for (let s = 0; s < ref.length; s++) {
      expect(Array.from(cpu[s].active)).toEqual(ref[s].active);
      expect(Array.from(cpu[s].stats)).toEqual(ref[s].stats);
    }
  });
});

describe('layer_stats CPU twin', () => {
  it('gives the same counts in float64 mode', async () => {
    for (const k of [0, 4, 5, 9, 14]) {
      const f64 = await runCase(new CpuBackend('float64'), cases[k]);
      const ref = reference(cases[k]);
      expect(f64.map((s) => ({ active: Array.from(s.active), stats: Array.from(s.stats) }))).toEqual(ref);
    }
  });

  it('counts ±0 as zero and subnormals as non-zero on both backends', async () => {
    const batch = Float32Array.from([1e-40, 0, 1e-45, -0, 1e-38, -1e-40]);
    const c: Case = {
      rows: 1,
      cols: 6,
      batches: [batch],
      slots: { zeros: 3, batchDead: 4, dead: 5 },
      active0: new Uint32Array(6),
      stats0: new Uint32Array(STATS),
    };
    for (const b of [new CpuBackend(), await gpuBackend()]) {
      const [s] = await runCase(b, c);
      expect(Array.from(s.active)).toEqual([1, 0, 1, 0, 1, 1]);
      expect(Array.from(s.stats.slice(3, 6))).toEqual([2, 2, 2]);
    }
  });

  it('counts a hand-made 3 × 4 example', async () => {
    // col 0 live in batch 1, col 1 dead in both batches, col 2 live only in batch 2, col 3 live in both
    const b1 = Float32Array.from([1, 0, 0, 2, 0, 0, -0, 0, 0.5, 0, 0, 0]);
    const b2 = Float32Array.from([0, 0, 0, 1, 0, 0, 3, 1, 0, -0, 0, 0]);
    const c: Case = {
      rows: 3,
      cols: 4,
      batches: [b1, b2],
      slots: { zeros: 0, batchDead: 1, dead: 2 },
      active0: new Uint32Array(4),
      stats0: new Uint32Array(STATS),
    };
    for (const b of [new CpuBackend(), await gpuBackend()]) {
      const [s1, s2] = await runCase(b, c);
      expect(Array.from(s1.active)).toEqual([1, 0, 0, 1]);
      expect(Array.from(s1.stats.slice(0, 3))).toEqual([9, 2, 2]);
      expect(Array.from(s2.active)).toEqual([1, 0, 1, 1]);
      expect(Array.from(s2.stats.slice(0, 3))).toEqual([9 + 9, 2 + 2, 2 + 1]);
    }
  });
});
