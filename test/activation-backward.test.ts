import { describe, expect, it } from 'vitest';
import { activationBackward, activationBackwardMasked, activationForward } from '../src/ops/activation-backward.ts';
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

describe('activation backward with a per-unit L1 mask: GPU matches the CPU twin', () => {
  // rows × units with units not a multiple of anything, batch 1 among them; a mask of 0s,
  // 1s and a fraction so that each unit's own factor is checked.
  const shapes: [number, number][] = [
    [1, 1],
    [1, 37],
    [5, 24],
    [64, 17],
    [3, 1000],
    [33, 129],
  ];
  it.each(shapes)('%i rows × %i units', async (rows, units) => {
    const count = rows * units;
    const act = 1 + rng.int(2); // relu or leaky_relu: the activations the revive path serves
    const alpha = act === 2 ? 0.05 : 0;
    const z = data(count);
    const a = Float32Array.from(z, (v) => activate(act, alpha, v));
    const d = data(count);
    const mask = Float32Array.from({ length: units }, (_, j) => (j % 3 === 0 ? 0 : j % 3 === 1 ? 1 : 0.25));
    const [zr, ar, mr] = regions('in', [count, count, units]);
    const [dr] = regions('d', [count]);
    const step = activationBackwardMasked('act bwd masked', count, units, act, alpha, 0.37, { z: zr, a: ar, d: dr, mask: mr });
    const init = [
      { range: zr, data: z },
      { range: ar, data: a },
      { range: mr, data: mask },
      { range: dr, data: d },
    ];
    const [res] = await runBoth([step], init, [dr]);
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
    // A masked-out unit gets no penalty: the plain kernel with L1 = 0 gives the same there;
    // a unit with mask 1 gets all of it.
    const [plain0] = await runBoth([activationBackward('l1 0', count, act, alpha, 0, { z: zr, a: ar, d: dr })], init, [dr]);
    const [plain1] = await runBoth([activationBackward('l1 full', count, act, alpha, 0.37, { z: zr, a: ar, d: dr })], init, [dr]);
    let sparedDiffer = 0;
    for (let i = 0; i < count; i++) {
      const m = mask[i % units];
      if (m === 0) expect(res.cpu.f[i]).toBe(plain0.cpu.f[i]);
      if (m === 1) expect(res.cpu.f[i]).toBe(plain1.cpu.f[i]);
      if (m === 0 && plain0.cpu.f[i] !== plain1.cpu.f[i]) sparedDiffer++;
    }
    // The mask did spare something: the penalty moved those entries in the plain kernel.
    if (units >= 3 || rows > 1) expect(sparedDiffer).toBeGreaterThan(0);
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
