// The two-pass reductions (src/ops/reductions-tiled.ts) on the GPU against their CPU twins
// and against the one-pass ops they stand in for; the sums of squares run twice on the GPU
// give the same bits.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import type { PlanItem } from '../src/ops/op.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { biasGrad } from '../src/ops/bias-grad.ts';
import { layerStats } from '../src/ops/layer-stats.ts';
import type { BufRange, StepValues } from '../src/ops/op.ts';
import { biasGradScratch, biasGradTiled, layerStatsScratch, layerStatsTiled, sumsqScratch, sumsqTwoPass } from '../src/ops/reductions-tiled.ts';
import { segmentTable, sumsq, type Segment } from '../src/ops/sumsq.ts';
import { Rng } from '../src/util/rng.ts';
import { gpuBackend } from './support/gpu.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

const values: StepValues = { lr: 0.01, t: 1, batchStart: 0 };
const rng = new Rng(4242);

// ---------------------------------------------------------------------------------------
// Sums of squares

const STATS = 64;
const SENTINEL = 0xdead0000;

interface SumsqCase {
  x: Float32Array;
  segments: Segment[];
  groups: number;
}

function sumsqCase(lengths: number[], groups: number): SumsqCase {
  const slots = rng.shuffle(Uint32Array.from({ length: STATS }, (_, k) => k));
  const segments: Segment[] = [];
  let end = rng.int(50);
  lengths.forEach((length, k) => {
    const offset = end + rng.int(70);
    segments.push({ offset, length, slot: slots[k] });
    end = offset + length;
  });
  return { x: rng.fill(end + rng.int(30), -2, 2), segments, groups };
}

/** Runs the two-pass plan `repeats` times on one backend (or the one-pass op), reading stats each time. */
async function runSumsq(b: Backend, c: SumsqCase, repeats = 1, onePass = false) {
  const table = segmentTable(c.segments);
  const x: BufRange = { arena: 'x', offset: 0, length: c.x.length };
  const segs: BufRange = { arena: 'segs', offset: 0, length: table.length };
  const stats: BufRange = { arena: 'stats', offset: 64, length: STATS };
  const partials: BufRange = { arena: 'scratch', offset: 0, length: sumsqScratch(c.segments.length, c.groups) };
  const n = c.segments.length;
  const items: PlanItem[] = onePass ? [sumsq('sumsq', n, { x, segs, stats })] : sumsqTwoPass('sumsq', n, { x, segs, stats, partials }, c.groups);
  b.allocate({ x: x.length, segs: segs.length, stats: stats.offset + STATS, scratch: partials.length });
  b.writeF(x, c.x);
  b.writeU(segs, table);
  b.writeU(
    stats,
    Uint32Array.from({ length: STATS }, (_, k) => SENTINEL + k),
  );
  await b.prepare(items);
  const out: { f: Float32Array | Float64Array; u: Uint32Array }[] = [];
  for (let r = 0; r < repeats; r++) {
    b.run(items, values);
    out.push({ f: await b.readF(stats), u: await b.readU(stats) });
  }
  b.destroy();
  return out;
}

const pick = (a: ArrayLike<number>, slots: number[]) => slots.map((k) => a[k]);

const special = [0, 1, 2, 63, 64, 65, 255, 256, 257, 4097];
const sumsqCases: SumsqCase[] = [
  sumsqCase([1], 64),
  sumsqCase([0, 5, 0], 64),
  sumsqCase([63, 64, 65], 64), // pieces of one element and empty pieces
  sumsqCase([784_000, 1000, 250_000, 10], 64),
  sumsqCase([100_003], 1),
  sumsqCase([100_003, 17], 256),
  sumsqCase([50_000, 3], 7),
];
while (sumsqCases.length < 14) {
  const n = 1 + rng.int(6);
  sumsqCases.push(
    sumsqCase(
      Array.from({ length: n }, () => (rng.next() < 0.4 ? special[rng.int(special.length)] : 1 + rng.int(30000))),
      [1, 3, 16, 64, 200][rng.int(5)],
    ),
  );
}

describe('two-pass sums of squares', () => {
  it.each(sumsqCases.map((c, k) => [c.segments.map((s) => s.length).join(','), c.groups, k] as const))(
    'segments %s, %i groups: GPU = CPU twin = one-pass op',
    async (_, __, k) => {
      const c = sumsqCases[k];
      const slots = c.segments.map((s) => s.slot);
      const [cpu] = await runSumsq(new CpuBackend(), c);
      const [gpu] = await runSumsq(await gpuBackend(), c);
      const [one] = await runSumsq(new CpuBackend('float64'), c, 1, true);
      expect(maxRelErr(pick(one.f, slots), pick(cpu.f, slots))).toBeLessThan(1e-6);
      expect(maxRelErr(pick(cpu.f, slots), pick(gpu.f, slots))).toBeLessThan(1e-5);
      for (let s = 0; s < STATS; s++) if (!slots.includes(s)) expect(gpu.u[s]).toBe(SENTINEL + s);
    },
  );

  it('gives bit-identical results when run twice on the same data on the GPU', async () => {
    const c = sumsqCases[3];
    const slots = c.segments.map((s) => s.slot);
    const b = await gpuBackend();
    const runs = await runSumsq(b, c, 3);
    expect(pick(runs[0].u, slots).every((u, i) => u !== SENTINEL + slots[i])).toBe(true);
    expect(pick(runs[1].u, slots)).toEqual(pick(runs[0].u, slots));
    expect(pick(runs[2].u, slots)).toEqual(pick(runs[0].u, slots));
    // And in a separately prepared backend.
    const [again] = await runSumsq(await gpuBackend(), c);
    expect(pick(again.u, slots)).toEqual(pick(runs[0].u, slots));
  });

  it('rejects a short partials region or too many groups', () => {
    const r = (n: number): BufRange => ({ arena: 'p', offset: 0, length: n });
    expect(() => sumsqTwoPass('s', 2, { x: r(10), segs: r(6), stats: r(4), partials: r(127) })).toThrow(/partials/);
    expect(() => sumsqTwoPass('s', 2, { x: r(10), segs: r(6), stats: r(4), partials: r(10000) }, 257)).toThrow(/groups/);
  });
});

// ---------------------------------------------------------------------------------------
// Bias gradients

describe('tiled bias gradient (column sums)', () => {
  const cases: [number, number, number][] = [
    [1, 1, 16],
    [1, 7, 16],
    [3, 1, 1],
    [64, 64, 16],
    [65, 63, 16],
    [300, 10, 7],
    [17, 200, 16],
    [1000, 3, 32],
  ];
  for (let i = 0; i < 12; i++) cases.push([1 + rng.int(300), 1 + rng.int(300), [1, 4, 16, 64][rng.int(4)]]);
  it.each(cases)('%i rows × %i cols, %i rows per chunk: GPU = CPU twin = one-pass op', async (rows, cols, chunkRows) => {
    const [dz] = regions('dz', [rows * cols]);
    const [out] = regions('out', [cols]);
    const [partials] = regions('scratch', [Math.max(1, biasGradScratch(rows, cols, chunkRows))]);
    const data = rng.fill(rows * cols);
    const steps = biasGradTiled('db', rows, cols, dz, out, partials, chunkRows);
    expect(steps.length).toBe(Math.ceil(rows / chunkRows) > 1 ? 2 : 1);
    const [res] = await runBoth(steps, [{ range: dz, data }], [out]);
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
    const one = new CpuBackend();
    one.allocate({ dz: dz.length, out: out.length });
    one.writeF(dz, data);
    const plan = [biasGrad('db', rows, cols, dz, out)];
    await one.prepare(plan);
    one.run(plan, values);
    expect(maxRelErr(await one.readF(out), res.cpu.f)).toBeLessThan(1e-5);
  });
});

// ---------------------------------------------------------------------------------------
// Layer telemetry

describe('tiled layer stats', () => {
  const STATS_WORDS = 16;
  const slots = { zeros: 3, batchDead: 7, dead: 11 };

  function batchOf(rows: number, cols: number): Float32Array {
    const bias = Array.from({ length: cols }, () => rng.uniform(-2.5, 1));
    const deadNow = new Set<number>();
    for (let k = 0; k < Math.max(1, Math.floor(cols / 6)); k++) deadNow.add(rng.int(cols));
    const a = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        let v = Math.max(0, rng.normal() + bias[j]);
        if (deadNow.has(j)) v = 0;
        if (v === 0 && rng.next() < 0.1) v = -0;
        a[i * cols + j] = v;
      }
    a[0] = a[0] === 0 ? 0.5 : a[0]; // never all zero
    return a;
  }

  async function run(b: Backend, rows: number, cols: number, batches: Float32Array[], tiled: boolean, chunkRows: number) {
    const [a] = regions('a', [rows * cols]);
    const [active, stats] = regions('st', [cols, STATS_WORDS]);
    const [counts] = regions('scratch', [layerStatsScratch(rows, cols, chunkRows)]);
    b.allocate({ a: a.length, st: stats.offset + stats.length, scratch: counts.length });
    b.writeU(
      stats,
      Uint32Array.from({ length: STATS_WORDS }, (_, k) => 1000 * k),
    );
    const items: PlanItem[] = tiled
      ? layerStatsTiled('stats', rows, cols, slots, { a, active, stats, counts }, chunkRows)
      : [layerStats('stats', rows, cols, slots, { a, active, stats })];
    await b.prepare(items);
    const out: { active: number[]; stats: number[] }[] = [];
    for (const batch of batches) {
      b.writeF(a, batch);
      b.run(items, values);
      out.push({ active: Array.from(await b.readU(active)), stats: Array.from(await b.readU(stats)) });
    }
    b.destroy();
    return out;
  }

  const cases: [number, number, number][] = [
    [1, 1, 16],
    [1, 7, 16],
    [3, 1, 1],
    [64, 64, 16],
    [65, 63, 16],
    [200, 9, 7],
    [128, 300, 32],
  ];
  for (let i = 0; i < 10; i++) cases.push([1 + rng.int(200), 1 + rng.int(400), [1, 5, 16, 64][rng.int(4)]]);
  it.each(cases)('%i rows × %i cols, %i rows per chunk, 3 batches: GPU = CPU twin = one-pass op', async (rows, cols, chunkRows) => {
    const batches = [batchOf(rows, cols), batchOf(rows, cols), batchOf(rows, cols)];
    const gpu = await run(await gpuBackend(), rows, cols, batches, true, chunkRows);
    const cpu = await run(new CpuBackend(), rows, cols, batches, true, chunkRows);
    const one = await run(new CpuBackend(), rows, cols, batches, false, chunkRows);
    expect(gpu).toEqual(cpu);
    expect(cpu).toEqual(one);
  });
});
