// Inverted dropout: the kernel against its CPU twin on the GPU (the same mask bit for bit,
// forward and backward), the mask's rate and its dependence on seed, step and layer, and
// the messages for rates that are not drop probabilities.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { checkDropRate, dropoutBackwardStep, dropoutStep, dropThreshold, kept, maskKey } from '../src/ops/dropout.ts';
import type { BufRange } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { runBoth } from './support/op-harness.ts';

const GUARD = 64;

/** Non-zero values (a few exact zeros too, as a relu output has), NaN-free. */
function data(rng: Rng, n: number): Float32Array {
  const x = rng.fill(n, -2, 2);
  for (let i = 0; i < n; i += 7) x[i] = 0;
  for (let i = 0; i < n; i++) if (i % 7 !== 0 && x[i] === 0) x[i] = 0.5;
  return x;
}

describe('dropout on the GPU matches its CPU twin bit for bit', () => {
  // count, p, seed, layer, step t, workgroups (a grid stride shorter than the elements)
  const cases: [number, number, number, number, number, number?][] = [
    [1, 0.5, 1, 1, 1],
    [3, 0.2, 0, 0, 7],
    [255, 0.5, 42, 2, 1],
    [257, 0.9, 7, 3, 123456],
    [1000, 0.5, 1, 1, 938],
    [64 * 1000 + 13, 0.5, 3, 1, 2],
    [784 * 5 + 1, 0.2, 2 ** 31 + 5, 0, 16_000_000],
    [5000, 0.35, 11, 4, 9, 3],
    // Past 2^24 steps the uniform's f32 step rounds (to 2^24 + 4 here): the twin rounds alike.
    [777, 0.5, 1, 1, 2 ** 24 + 3],
  ];
  it.each(cases)('%i elements, p %f, seed %i, layer %i, step %i (workgroups: %s)', async (count, p, seed, layer, t, groups) => {
    const rng = new Rng(count * 31 + layer);
    const x = data(rng, count);
    const arena = new Float32Array(GUARD + count + GUARD).fill(7.25);
    arena.set(x, GUARD);
    const src: BufRange = { arena: 's', offset: 0, length: arena.length };
    const dst: BufRange = { arena: 'o', offset: 0, length: arena.length };
    const inner = (r: BufRange): BufRange => ({ arena: r.arena, offset: GUARD, length: count });
    const fwd = dropoutStep('dropout', { count, p, seed, layer }, { src: inner(src), dst: inner(dst) });
    const bwd = dropoutBackwardStep('dropout backward', { count, p, seed, layer }, inner(src));
    if (groups) fwd.dispatch = bwd.dispatch = [groups, 1, 1];
    const outGuard = new Float32Array(arena.length).fill(-3.5);
    const values = { lr: 0, t, batchStart: 0 };
    // Forward into dst first, then backward in place on src: dst holds the forward result, src the backward's.
    const [o, d] = await runBoth(
      [fwd, bwd],
      [
        { range: src, data: arena },
        { range: dst, data: outGuard },
      ],
      [dst, src],
      values,
    );
    for (const r of [o, d]) expect(Array.from(r.gpu.u)).toEqual(Array.from(r.cpu.u));
    // Guards untouched; forward and backward keep the same elements and scale them alike.
    const scale = Math.fround(1 / (1 - p));
    const key = maskKey(seed, Math.fround(t), layer);
    const threshold = dropThreshold(p);
    let keptCount = 0;
    for (let k = 0; k < GUARD; k++) {
      expect(o.gpu.f[k]).toBe(-3.5);
      expect(o.gpu.f[GUARD + count + k]).toBe(-3.5);
      expect(d.gpu.f[k]).toBe(7.25);
      expect(d.gpu.f[GUARD + count + k]).toBe(7.25);
    }
    for (let i = 0; i < count; i++) {
      const want = kept(key, i, threshold) ? Math.fround(x[i] * scale) : 0;
      keptCount += +kept(key, i, threshold);
      expect(o.gpu.f[GUARD + i]).toBe(want);
      expect(d.gpu.f[GUARD + i]).toBe(want);
    }
    if (count >= 1000) expect(Math.abs(keptCount / count - (1 - p))).toBeLessThan(5 / Math.sqrt(count));
  });
});

describe('the dropout mask', () => {
  it('keeps 1 − p of the elements, independently of seed, step and layer', () => {
    const n = 200_000;
    for (const p of [0.1, 0.2, 0.5, 0.8]) {
      const th = dropThreshold(p);
      const masks = [maskKey(1, 1, 1), maskKey(2, 1, 1), maskKey(1, 2, 1), maskKey(1, 1, 2)].map((key) => {
        const m = new Uint8Array(n);
        for (let i = 0; i < n; i++) m[i] = +kept(key, i, th);
        return m;
      });
      for (const m of masks) expect(Math.abs(m.reduce((s, v) => s + v, 0) / n - (1 - p))).toBeLessThan(0.005);
      // Another seed, step or layer: a mask agreeing with the first only as chance does (p² + (1 − p)²).
      for (const m of masks.slice(1)) {
        let same = 0;
        for (let i = 0; i < n; i++) same += +(m[i] === masks[0][i]);
        expect(Math.abs(same / n - (p * p + (1 - p) * (1 - p)))).toBeLessThan(0.005);
      }
    }
  });

  it('is the same in float64 as in float32 (the gradient checks see the training mask)', () => {
    const rng = new Rng(5);
    const x = data(rng, 999);
    const out: number[][] = [];
    for (const precision of ['float32', 'float64'] as const) {
      const be = new CpuBackend(precision);
      be.allocate({ s: 999, o: 999 });
      const s: BufRange = { arena: 's', offset: 0, length: 999 };
      const o: BufRange = { arena: 'o', offset: 0, length: 999 };
      be.writeF(s, x);
      be.run([dropoutStep('dropout', { count: 999, p: 0.5, seed: 9, layer: 2 }, { src: s, dst: o })], { lr: 0, t: 17, batchStart: 0 });
      out.push(Array.from(be.view(o).f, (v) => +(v !== 0)));
    }
    expect(out[1]).toEqual(out[0]);
    expect(out[0].some((v) => v === 0) && out[0].some((v) => v === 1)).toBe(true);
  });
});

describe('dropout rates that are not drop probabilities', () => {
  it.each([1, 1.5, -0.1, NaN, Infinity, '0.5'])('%s is refused with a message naming the rate', (p) => {
    expect(() => checkDropRate(p, 'dropout.hidden')).toThrow(/dropout\.hidden must be a drop probability in \[0, 1\)/);
  });
  it('a step refuses p = 0 (no dropout: the planner leaves it out) and regions too small', () => {
    const r: BufRange = { arena: 's', offset: 0, length: 8 };
    const o: BufRange = { arena: 'o', offset: 0, length: 8 };
    expect(() => dropoutStep('d', { count: 8, p: 0, seed: 1, layer: 1 }, { src: r, dst: o })).toThrow(/d: a drop probability of 0 is no dropout/);
    expect(() => dropoutStep('d', { count: 9, p: 0.5, seed: 1, layer: 1 }, { src: r, dst: o })).toThrow(/src holds 8 elements, 9 needed/);
    expect(() => dropoutStep('d', { count: 8, p: 0.5, seed: 1, layer: 1 }, { src: r, dst: r })).toThrow(/different arenas/);
    expect(() => dropoutStep('d', { count: 8, p: 1, seed: 1, layer: 1 }, { src: r, dst: o })).toThrow(/drop probability in \[0, 1\)/);
  });
});
