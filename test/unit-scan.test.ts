// The unit-scan kernel against its CPU twin over consecutive batches, and the twin
// against the definitions counted directly in float64.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { PlanItem, StepValues } from '../src/ops/op.ts';
import { unitScan } from '../src/ops/unit-scan.ts';
import { Rng } from '../src/util/rng.ts';
import { gpuBackend } from './support/gpu.ts';
import { regions } from './support/op-harness.ts';

const values: StepValues = { lr: 0, t: 0, batchStart: 0 };

interface Case {
  rows: number;
  cols: number;
  /** Per batch: z and a = relu(z) (a few columns leaky instead, so |a| of negatives counts). */
  batches: { z: Float32Array; a: Float32Array }[];
}

function makeCase(rng: Rng, rows: number, cols: number, nBatches: number): Case {
  const bias = Array.from({ length: cols }, () => rng.uniform(-3, 1));
  const dead = new Set<number>();
  for (let k = 0; k < Math.max(1, Math.floor(cols / 6)); k++) dead.add(rng.int(cols));
  const batches = [];
  for (let b = 0; b < nBatches; b++) {
    const z = new Float32Array(rows * cols);
    const a = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        let v = rng.normal() * 2 + bias[j];
        if (dead.has(j)) v = -Math.abs(v) - 0.5;
        if (rng.next() < 0.02) v = rng.next() < 0.5 ? 0 : -0;
        z[i * cols + j] = v;
        a[i * cols + j] = j % 5 === 4 ? (v > 0 ? v : 0.01 * v) : Math.max(0, v);
      }
    }
    batches.push({ z, a });
  }
  return { rows, cols, batches };
}

async function runCase(b: Backend, c: Case) {
  const [z, a] = regions('in', [c.rows * c.cols, c.rows * c.cols]);
  const [maxz, sumabs] = regions('acc', [c.cols, c.cols]);
  b.allocate({ in: a.offset + a.length, acc: sumabs.offset + sumabs.length });
  b.writeF(maxz, new Float32Array(c.cols).fill(-Infinity));
  b.writeF(sumabs, new Float32Array(c.cols));
  const items: PlanItem[] = [unitScan('scan', c.rows, c.cols, { z, a, maxz, sumabs })];
  await b.prepare(items);
  for (const batch of c.batches) {
    b.writeF(z, batch.z);
    b.writeF(a, batch.a);
    b.run(items, values);
  }
  const out = { maxz: Float32Array.from(await b.readF(maxz)), sumabs: Float32Array.from(await b.readF(sumabs)) };
  b.destroy();
  return out;
}

function reference(c: Case) {
  const maxz = new Array<number>(c.cols).fill(-Infinity);
  const sumabs = new Array<number>(c.cols).fill(0);
  for (const { z, a } of c.batches) {
    // The kernel's compare: a later ±0 does not replace an earlier ∓0.
    z.forEach((v, k) => v > maxz[k % c.cols] && (maxz[k % c.cols] = v));
    a.forEach((v, k) => (sumabs[k % c.cols] += Math.abs(v)));
  }
  return { maxz, sumabs };
}

const rng = new Rng(2023);
// 1, odd sizes, and column counts that are not multiples of the 64-thread workgroup.
const shapes: [number, number][] = [
  [1, 1],
  [1, 7],
  [3, 1],
  [64, 64],
  [65, 63],
  [2, 257],
  [1, 1000],
  [129, 300],
  [500, 65],
];
while (shapes.length < 16) shapes.push([1 + rng.int(300), 1 + rng.int(700)]);
const cases = shapes.map(([r, c], k) => makeCase(rng, r, c, 1 + (k % 3)));

describe('unit_scan on the GPU matches its CPU twin bit for bit over consecutive batches', () => {
  it.each(cases.map((c, k) => [c.rows, c.cols, c.batches.length, k] as const))('%i rows × %i cols, %i batches', async (_r, _c, _b, k) => {
    const c = cases[k];
    const cpu = await runCase(new CpuBackend(), c);
    const gpu = await runCase(await gpuBackend(), c);
    expect(Array.from(gpu.maxz)).toEqual(Array.from(cpu.maxz));
    expect(Array.from(gpu.sumabs)).toEqual(Array.from(cpu.sumabs));
    const ref = reference(c);
    expect(Array.from(cpu.maxz)).toEqual(ref.maxz.map(Math.fround));
    cpu.sumabs.forEach((s, j) => expect(Math.abs(s - ref.sumabs[j])).toBeLessThanOrEqual(1e-5 * Math.max(1, ref.sumabs[j])));
    // The forced-dead columns come out dead (max z ≤ 0), and some columns are alive.
    expect(cpu.maxz.some((m) => m <= 0)).toBe(true);
  });
});

describe('unit_scan CPU twin', () => {
  it('agrees with the float64 reference in float64 mode', async () => {
    for (const k of [0, 4, 7, 10]) {
      const c = cases[k];
      const f64 = await runCase(new CpuBackend('float64'), c);
      const ref = reference(c);
      expect(Array.from(f64.maxz)).toEqual(ref.maxz.map(Math.fround));
      f64.sumabs.forEach((s, j) => expect(Math.abs(s - Math.fround(ref.sumabs[j]))).toBeLessThanOrEqual(1e-6 * Math.max(1, ref.sumabs[j])));
    }
  });

  it('names a bad shape in one line', () => {
    const r = { arena: 'x', offset: 0, length: 4 };
    expect(() => unitScan('scan 0', 0, 4, { z: r, a: r, maxz: r, sumabs: r })).toThrow(/scan 0: a unit scan needs at least one row/);
    expect(() => unitScan('scan 0', 2, 4, { z: r, a: r, maxz: r, sumabs: r })).toThrow(/z holds 4 elements, 8 needed/);
  });
});
