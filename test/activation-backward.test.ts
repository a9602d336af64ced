import { describe, expect, it } from 'vitest';
import { activationBackward, activationForward } from '../src/ops/activation-backward.ts';
import { ACTIVATIONS, activate } from '../src/ops/activations.ts';
import type { PlanStep } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

const rng = new Rng(11);
const counts = [1, 2, 3, 63, 64, 65, 255, 256, 257, 1000, 4097];
while (counts.length < 22) counts.push(1 + rng.int(20000));

/** Non-zero values in ±(0.01…3), with both signs. */
function data(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.01, 3);
  return a;
}

/** Run the backward step over random z, a = f(z) (CPU forward, stored as f32) and random d. */
async function backward(count: number, act: number, l1: number, dispatch?: [number, number, number]) {
  const alpha = act === 2 ? rng.uniform(0.01, 0.3) : 0;
  const z = data(count);
  const a = Float32Array.from(z, (v) => activate(act, alpha, v));
  const d = data(count);
  const [zr, ar] = regions('in', [count, count]);
  const [dr] = regions('d', [count]);
  const step: PlanStep = activationBackward('act bwd', count, act, alpha, l1, { z: zr, a: ar, d: dr });
  if (dispatch) step.dispatch = dispatch;
  const [res] = await runBoth(
    [step],
    [
      { range: zr, data: z },
      { range: ar, data: a },
      { range: dr, data: d },
    ],
    [dr],
  );
  return res;
}

describe('activation backward on the GPU matches its CPU twin', () => {
  const cases: [string, number, number, number][] = [];
  for (const count of counts) {
    for (let act = 0; act < ACTIVATIONS.length; act++) {
      for (const l1 of [0, 0.37]) cases.push([ACTIVATIONS[act], act, l1, count]);
    }
  }
  it.each(cases)('%s (id %i), l1Scale %d, %i elements', async (_, act, l1, count) => {
    const res = await backward(count, act, l1);
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
  });

  it.each([0, 1, 2, 3, 4, 5, 6])('grid-stride loop covers every element with few workgroups (act %i)', async (act) => {
    const res = await backward(5000, act, 0.1, [3, 1, 1]);
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
  });

  it('leaves the region after COUNT alone', async () => {
    const count = 70;
    const z = data(128);
    const d = data(128);
    const [zr, ar] = regions('in', [128, 128]);
    const dr = { arena: 'd', offset: 0, length: 128 };
    const step = activationBackward('act bwd', count, 1, 0, 0.5, { z: zr, a: ar, d: dr });
    const [res] = await runBoth(
      [step],
      [
        { range: zr, data: z },
        { range: ar, data: Float32Array.from(z, (v) => Math.max(v, 0)) },
        { range: dr, data: d },
      ],
      [dr],
    );
    expect(Array.from(res.gpu.f.subarray(count))).toEqual(Array.from(d.subarray(count)));
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
  });
});

// |z| stays below 88: SwiftShader's tanh returns NaN from |z| ≈ 89 on (exp overflows).
describe('WGSL activate matches the CPU activate', () => {
  const zs = [0, -0.5, 0.5, 1e-6, -1e-6, 3, -3, 9, -9, 15, -15, 40, -40, 80, -80];
  while (zs.length < 300) zs.push(rng.uniform(-30, 30));
  it.each(ACTIVATIONS.map((name, id) => [name, id] as const))('%s (id %i)', async (_, act) => {
    const z = Float32Array.from(zs);
    const [zr] = regions('in', [z.length]);
    const [out] = regions('out', [z.length]);
    const [res] = await runBoth([activationForward('act fwd', z.length, act, 0.07, { z: zr, out })], [{ range: zr, data: z }], [out]);
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
  });
});
