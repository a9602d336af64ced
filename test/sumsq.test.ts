import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import type { PlanItem } from '../src/ops/op.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { BufRange, StepValues } from '../src/ops/op.ts';
import { segmentTable, sumsq, type Segment } from '../src/ops/sumsq.ts';
import { Rng } from '../src/util/rng.ts';
import { gpuBackend } from './support/gpu.ts';
import { maxRelErr } from './support/op-harness.ts';

const STATS = 64;
const SENTINEL = 0xdead0000;
const values: StepValues = { lr: 0.01, t: 1, batchStart: 0 };

interface Case {
  name: string;
  x: Float32Array;
  segments: Segment[];
}

const rng = new Rng(1234);

/** Segments laid out with random gaps (sometimes overlapping), slots distinct and scattered. */
function makeCase(lengths: number[]): Case {
  const slots = rng.shuffle(Uint32Array.from({ length: STATS }, (_, k) => k));
  const segments: Segment[] = [];
  let end = rng.int(100);
  lengths.forEach((length, k) => {
    const overlap = k > 0 && rng.next() < 0.2;
    const offset = overlap ? Math.max(0, end - rng.int(50)) : end + rng.int(70);
    segments.push({ offset, length, slot: slots[k] });
    end = Math.max(end, offset + length);
  });
  for (let i = segments.length - 1; i > 0; i--) {
    const j = rng.int(i + 1); // the order in the table is free
    [segments[i], segments[j]] = [segments[j], segments[i]];
  }
  const x = rng.fill(end + rng.int(30), -2, 2);
  return { name: lengths.join(','), x, segments };
}

const special = [1, 2, 3, 63, 64, 65, 255, 256, 257, 511, 1000, 4097];
const cases: Case[] = [
  makeCase([1]),
  makeCase([7]),
  makeCase([256]),
  makeCase([257, 1, 65]),
  makeCase([0, 5, 0]),
  makeCase([1_000_003]),
  makeCase([784_000, 1000, 1_000_000, 1000, 10_000, 10]),
];
while (cases.length < 24) {
  const n = 1 + rng.int(8);
  cases.push(makeCase(Array.from({ length: n }, () => (rng.next() < 0.4 ? special[rng.int(special.length)] : 1 + rng.int(20000)))));
}

function setup(c: Case) {
  const x: BufRange = { arena: 'x', offset: 0, length: c.x.length };
  const table = segmentTable(c.segments);
  const segs: BufRange = { arena: 'segs', offset: 64, length: table.length };
  const stats: BufRange = { arena: 'stats', offset: 64, length: STATS };
  const sizes = { x: x.length, segs: segs.offset + segs.length, stats: stats.offset + stats.length };
  const items: PlanItem[] = [sumsq('sumsq', c.segments.length, { x, segs, stats })];
  return { x, segs, stats, table, sizes, items };
}

/** Runs the step `repeats` times on one backend, reading the stats words after each. */
async function runCase(b: Backend, c: Case, repeats = 1) {
  const s = setup(c);
  b.allocate(s.sizes);
  b.writeF(s.x, c.x);
  b.writeU(s.segs, s.table);
  b.writeU(
    s.stats,
    Uint32Array.from({ length: STATS }, (_, k) => SENTINEL + k),
  );
  await b.prepare(s.items);
  const out: { f: Float32Array | Float64Array; u: Uint32Array }[] = [];
  for (let r = 0; r < repeats; r++) {
    b.run(s.items, values);
    out.push({ f: await b.readF(s.stats), u: await b.readU(s.stats) });
  }
  b.destroy();
  return out;
}

/** The definition in float64, one segment at a time. */
function reference(c: Case): Map<number, number> {
  const m = new Map<number, number>();
  for (const { offset, length, slot } of c.segments) {
    let s = 0;
    for (const v of c.x.subarray(offset, offset + length)) s += Number(v) ** 2;
    m.set(slot, s);
  }
  return m;
}

const pick = (a: ArrayLike<number>, slots: number[]) => slots.map((k) => a[k]);

function expectOthersUntouched(u: Uint32Array, c: Case) {
  const used = new Set(c.segments.map((s) => s.slot));
  for (let k = 0; k < STATS; k++) if (!used.has(k)) expect(u[k]).toBe(SENTINEL + k);
}

describe('sumsq on the GPU matches its CPU twin', () => {
  it.each(cases.map((c, k) => [c.segments.length, c.name, k] as const))('%i segments of %s', async (_n, _name, k) => {
    const c = cases[k];
    const slots = c.segments.map((s) => s.slot);
    const [cpu] = await runCase(new CpuBackend(), c);
    const [gpu] = await runCase(await gpuBackend(), c);
    expect(maxRelErr(pick(cpu.f, slots), pick(gpu.f, slots))).toBeLessThan(1e-4);
    expectOthersUntouched(cpu.u, c);
    expectOthersUntouched(gpu.u, c);
    // The twin against the definition: only float32 rounding of the stored sum.
    const ref = reference(c);
    expect(
      maxRelErr(
        slots.map((s) => ref.get(s)!),
        pick(cpu.f, slots),
      ),
    ).toBeLessThan(1e-6);
  });
});

describe('sumsq', () => {
  it('is deterministic: the same bits on every run', async () => {
    const c = cases[6];
    const slots = c.segments.map((s) => s.slot);
    const runs = await runCase(await gpuBackend(), c, 3);
    expect(pick(runs[1].u, slots)).toEqual(pick(runs[0].u, slots));
    expect(pick(runs[2].u, slots)).toEqual(pick(runs[0].u, slots));
  });

  it('CPU twin in float64 mode equals the definition', async () => {
    for (const c of [cases[3], cases[5], cases[10]]) {
      const [f64] = await runCase(new CpuBackend('float64'), c);
      const ref = reference(c);
      for (const s of c.segments) expect(f64.f[s.slot]).toBeCloseTo(ref.get(s.slot)!, 6);
      expectOthersUntouched(f64.u, c);
    }
  });

  it('hand-made values', async () => {
    const c: Case = {
      name: 'hand',
      x: Float32Array.from([1, 2, 3, -4, 0.5, 0, 10]),
      segments: [
        { offset: 0, length: 3, slot: 5 }, // 1 + 4 + 9
        { offset: 3, length: 4, slot: 0 }, // 16 + 0.25 + 0 + 100
        { offset: 6, length: 0, slot: 9 }, // empty: 0
      ],
    };
    for (const b of [new CpuBackend(), await gpuBackend()]) {
      const [out] = await runCase(b, c);
      expect(pick(out.f, [5, 0, 9])).toEqual([14, 116.25, 0]);
    }
  });

  it('segmentTable packs (offset, length, slot) and rejects non-u32 values', () => {
    expect(
      Array.from(
        segmentTable([
          { offset: 3, length: 5, slot: 7 },
          { offset: 0, length: 1, slot: 2 },
        ]),
      ),
    ).toEqual([3, 5, 7, 0, 1, 2]);
    expect(() => segmentTable([{ offset: -1, length: 1, slot: 0 }])).toThrow(/offset/);
    expect(() => segmentTable([{ offset: 0, length: 1.5, slot: 0 }])).toThrow(/length/);
  });
});
