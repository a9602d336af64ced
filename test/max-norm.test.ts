// The max-norm constraint: the kernel against its CPU twin on the GPU, the twin's guarantee
// in float64, split layers constrained exactly as whole ones, where the plan puts it, and
// a short training run that keeps every unit's incoming weights within the bound.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { paramLayout } from '../src/model/layout.ts';
import { modelSpec } from '../src/model/spec.ts';
import { maxNormStep } from '../src/ops/max-norm.ts';
import type { BufRange, FloatArray, PlanItem } from '../src/ops/op.ts';
import { UNLIMITED } from '../src/plan/limits.ts';
import { planTraining } from '../src/plan/plan.ts';
import { maxNormSplit } from '../src/plan/split.ts';
import { SOFTWARE_TUNING } from '../src/ops/tuning.ts';
import { Rng } from '../src/util/rng.ts';
import { runBoth } from './support/op-harness.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';
import { gpuBackend } from './support/gpu.ts';

const values = { lr: 0, t: 1, batchStart: 0 };
const GUARD = 64;

/** rows × cols values; each row's norm a random multiple of c, inside (0.2c–0.95c) or beyond (1.05c–4c) the bound; never zero. */
function rowsAround(rng: Rng, rows: number, cols: number, c: number): { w: Float32Array; over: boolean[] } {
  const w = new Float32Array(rows * cols);
  const over: boolean[] = [];
  for (let r = 0; r < rows; r++) {
    const row = w.subarray(r * cols, (r + 1) * cols);
    do row.set(rng.fill(cols, -1, 1));
    while (row.every((x) => x === 0));
    const n = Math.sqrt(row.reduce((s, x) => s + x * x, 0));
    const big = r === 0 ? true : r === 1 ? false : rng.next() < 0.5;
    const target = c * (big ? rng.uniform(1.05, 4) : rng.uniform(0.2, 0.95));
    for (let k = 0; k < cols; k++) row[k] *= target / n;
    over.push(big);
  }
  return { w, over };
}

const norm = (x: ArrayLike<number>, from: number, n: number) => {
  let s = 0;
  for (let k = from; k < from + n; k++) s += x[k] * x[k];
  return Math.sqrt(s);
};

describe('max_norm on the GPU matches its CPU twin', () => {
  // rows, cols, bound, workgroups (the grid stride over rows when fewer than rows)
  const cases: [number, number, number, number?][] = [
    [1, 1, 0.5],
    [1, 300, 3.5],
    [2, 1, 2],
    [300, 1, 1],
    [7, 257, 3.5],
    [64, 255, 1.5],
    [65, 513, 0.7],
    [10, 1000, 3.5],
    [1000, 784, 3.5],
    [37, 129, 2.5, 3],
  ];
  it.each(cases)('%i rows × %i columns, bound %f (workgroups: %s)', async (rows, cols, c, groups) => {
    const rng = new Rng(rows * 7919 + cols);
    const { w, over } = rowsAround(rng, rows, cols, c);
    // The weights sit between guard values that must survive.
    const arena = new Float32Array(GUARD + rows * cols + GUARD).fill(7.25);
    arena.set(w, GUARD);
    const all: BufRange = { arena: 'p', offset: 0, length: arena.length };
    const step = maxNormStep('max-norm', rows, cols, c, { arena: 'p', offset: GUARD, length: rows * cols });
    if (groups) step.dispatch = [groups, 1, 1];
    const [res] = await runBoth([step], [{ range: all, data: arena }], [all], values);
    const inBits = new Uint32Array(arena.buffer);
    for (const out of [res.cpu, res.gpu]) {
      for (let k = 0; k < GUARD; k++) {
        expect(out.f[k]).toBe(7.25);
        expect(out.f[GUARD + rows * cols + k]).toBe(7.25);
      }
      for (let r = 0; r < rows; r++) {
        const at = GUARD + r * cols;
        if (over[r]) {
          // Rescaled to the bound (float32 rounding) and in the same direction.
          expect(Math.abs(norm(out.f, at, cols) - c) / c).toBeLessThan(2e-6);
          const s = out.f[at] / arena[at];
          expect(s).toBeGreaterThan(0);
          expect(s).toBeLessThan(1);
        } else {
          // Within the bound: not written at all, bit for bit.
          expect(Array.from(out.u.subarray(at, at + cols))).toEqual(Array.from(inBits.subarray(at, at + cols)));
        }
      }
    }
    let worst = 0;
    for (let i = 0; i < arena.length; i++) worst = Math.max(worst, Math.abs(res.cpu.f[i] - res.gpu.f[i]) / Math.max(1e-3, Math.abs(res.cpu.f[i])));
    expect(worst).toBeLessThan(1e-5);
  });

  it('refuses a bound that is not a finite number > 0, and a region too small', () => {
    const r: BufRange = { arena: 'p', offset: 0, length: 12 };
    expect(() => maxNormStep('m', 3, 4, 0, r)).toThrow(/m: the max-norm bound must be a finite number > 0, got 0/);
    expect(() => maxNormStep('m', 3, 4, NaN, r)).toThrow(/finite number > 0/);
    expect(() => maxNormStep('m', 4, 4, 1, r)).toThrow(/w holds 12 elements, 16 needed/);
  });
});

describe('max_norm in float64', () => {
  it('every row ends at norm ≤ c; rows already within are bit-identical', () => {
    const rng = new Rng(99);
    for (const [rows, cols, c] of [
      [1, 1, 0.3],
      [50, 33, 3.5],
      [17, 500, 0.01],
      [3, 7, 100],
    ]) {
      const { w, over } = rowsAround(rng, rows, cols, c);
      // Full float64 values, not just float32 ones widened.
      const x = Float64Array.from(w, (v) => v * (1 + rng.uniform(-1e-9, 1e-9)));
      const be = new CpuBackend('float64');
      const r: BufRange = { arena: 'w', offset: 0, length: rows * cols };
      be.allocate({ w: rows * cols });
      be.writeF(r, x);
      be.run([maxNormStep('max-norm', rows, cols, c, r)], values);
      const out = be.view(r).f as FloatArray;
      for (let i = 0; i < rows; i++) {
        const n = norm(out, i * cols, cols);
        expect(n).toBeLessThanOrEqual(c);
        // Rescaled rows: c · n₀ / (n₀ + 1e-7), to float64 rounding.
        const n0 = norm(x, i * cols, cols);
        if (over[i]) expect(Math.abs(n - (c * n0) / (n0 + 1e-7))).toBeLessThan(1e-12 * c);
        else for (let k = i * cols; k < (i + 1) * cols; k++) expect(Object.is(out[k], x[k])).toBe(true);
      }
      be.destroy();
    }
  });
});

describe('max-norm in the training plan', () => {
  const shape = { examples: 64, features: 784, scale: 1 / 255, shift: 0 };
  const model = modelSpec({ inputs: 784, classes: 10, hidden: [1024, 1024], activation: 'relu', seed: 4 });

  it('a layer split over several bindings is constrained exactly as the whole layer, biases untouched', () => {
    const whole = paramLayout(model);
    const split = paramLayout(model, 2 ** 20);
    expect(split.layers[0].chunks.length).toBeGreaterThan(1);
    const rng = new Rng(5);
    const params = rng.fill(whole.size, -0.2, 0.2);
    const range: BufRange = { arena: 'params', offset: 0, length: whole.size };
    const run = (steps: PlanItem[]) => {
      const be = new CpuBackend('float32', { wasm: false });
      be.allocate({ params: whole.size });
      be.writeF(range, params);
      be.run(steps, values);
      return be.view(range).f.slice();
    };
    const splitSteps = maxNormSplit(split, 0.5, range);
    // One dispatch per run of rows, together covering each layer's rows once.
    expect(splitSteps.map((s) => s.label)).toEqual([
      ...split.layers[0].chunks.map((_, k) => `max-norm 0.${k}`),
      ...split.layers[1].chunks.map((_, k) => `max-norm 1.${k}`),
      'max-norm 2',
    ]);
    for (const l of split.layers) expect(l.chunks.reduce((n, c) => n + c.rows, 0)).toBe(l.outputs);
    const a = run(splitSteps);
    const b = run(maxNormSplit(whole, 0.5, range));
    expect(Array.from(new Uint32Array(a.buffer))).toEqual(Array.from(new Uint32Array(b.buffer)));
    // Something was rescaled; the biases were not.
    expect(a.some((x, i) => x !== params[i])).toBe(true);
    for (const l of whole.layers) for (let o = 0; o < l.outputs; o++) expect(a[l.bias + o]).toBe(params[l.bias + o]);
  });

  it('comes after the optimiser step; 0 is off; a bad bound is refused', () => {
    const opts = { ...trainerOptions(), batch: 16 };
    const on = planTraining(model, { ...opts, maxNorm: 2 }, shape, SOFTWARE_TUNING, UNLIMITED).step;
    const shaders = on.flatMap((s) => ('op' in s ? [s.op.shader] : []));
    expect(shaders.slice(-4)).toEqual(['optimizer', 'max_norm', 'max_norm', 'max_norm']);
    for (const off of [0, undefined]) {
      const plain = planTraining(model, { ...opts, maxNorm: off }, shape, SOFTWARE_TUNING, UNLIMITED).step;
      expect(plain.some((s) => 'op' in s && s.op.shader === 'max_norm')).toBe(false);
    }
    for (const bad of [-1, NaN, Infinity]) {
      expect(() => planTraining(model, { ...opts, maxNorm: bad }, shape, SOFTWARE_TUNING, UNLIMITED)).toThrow(
        /maxNorm must be a finite number ≥ 0 \(0 = off\)/,
      );
    }
  });
});

describe('training with maxNorm', () => {
  const rowNorms = async (t: Awaited<ReturnType<typeof trainer>>) => {
    const out: number[] = [];
    for (const [i, l] of t.plan.layout.layers.entries()) {
      const w = await t.weights(i);
      for (let o = 0; o < l.outputs; o++) out.push(norm(w, o * l.inputs, l.inputs));
    }
    return out;
  };

  it('keeps every row within the bound on the CPU and on the GPU, along the same trajectory', async () => {
    const c = 0.6;
    const opts = trainerOptions({ lr: 0.2, maxNorm: c });
    const free = await trainer(new CpuBackend(), smallModel(), trainerOptions({ lr: 0.2 }), smallData());
    await collect(free.run(12));
    // Without the constraint some rows grow past c: the bound is doing something.
    expect(Math.max(...(await rowNorms(free)))).toBeGreaterThan(c * 1.05);

    const cpu = await trainer(new CpuBackend(), smallModel(), opts, smallData());
    const cpuStats = await collect(cpu.run(12));
    const gpu = await trainer(await gpuBackend(), smallModel(), opts, smallData());
    const gpuStats = await collect(gpu.run(12));
    for (const t of [cpu, gpu]) {
      const n = await rowNorms(t);
      expect(Math.max(...n)).toBeLessThanOrEqual(c * (1 + 1e-6));
      expect(n.filter((x) => x > c * 0.999).length).toBeGreaterThan(0);
    }
    for (let i = 0; i < 12; i++) expect(Math.abs(gpuStats[i].loss - cpuStats[i].loss) / Math.max(1, cpuStats[i].loss)).toBeLessThan(1e-3);
    gpu.backend.destroy();
  }, 120_000);
});
