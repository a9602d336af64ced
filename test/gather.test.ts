import { describe, expect, it } from 'vitest';
import { gather, packBytes } from '../src/ops/gather.ts';
import type { PlanStep } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

const rng = new Rng(31);

describe('packBytes', () => {
  it('packs little-endian, zero-padded', () => {
    expect(Array.from(packBytes(new Uint8Array([])))).toEqual([]);
    expect(Array.from(packBytes(new Uint8Array([1])))).toEqual([1]);
    expect(Array.from(packBytes(new Uint8Array([1, 2, 3, 4, 5, 255])))).toEqual([0x04030201, 0xff05]);
    expect(Array.from(packBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff])))).toEqual([0xffffffff]);
  });
});

async function run(rows: number, features: number, examples: number, batchStart: number, dispatch?: [number, number, number]) {
  const bytes = new Uint8Array(examples * features).map(() => 1 + rng.int(255));
  const images = packBytes(bytes);
  const labels = new Uint32Array(examples).map(() => rng.int(1000));
  const order = rng.shuffle(new Uint32Array(examples).map((_, i) => i));
  const scale = rng.uniform(0.001, 0.02);
  const shift = rng.uniform(-1, 1);
  const [ir, lr, or] = regions('data', [images.length, examples, examples]);
  const [xr, yr] = regions('batch', [rows * features, rows]);
  const step: PlanStep = gather('gather', rows, features, examples, scale, shift, { images: ir, labels: lr, order: or, x: xr, y: yr });
  if (dispatch) step.dispatch = dispatch;
  const [x, y] = await runBoth(
    [step],
    [
      { range: ir, data: images },
      { range: lr, data: labels },
      { range: or, data: order },
    ],
    [xr, yr],
    { lr: 0.01, t: 1, batchStart },
  );
  // An independent check of the CPU result, from the unpacked bytes.
  for (let r = 0; r < rows; r++) {
    const e = order[(batchStart + r) % examples];
    expect(y.cpu.u[r]).toBe(labels[e]);
    for (const k of [0, features - 1, rng.int(features)]) {
      expect(x.cpu.f[r * features + k]).toBeCloseTo(bytes[e * features + k] * scale + shift, 5);
    }
  }
  return { x, y };
}

describe('gather on the GPU matches its CPU twin', () => {
  // [rows, features, examples, batchStart]
  const shapes: [number, number, number, number][] = [
    [1, 1, 1, 0],
    [1, 1, 7, 6],
    [1, 3, 5, 4],
    [3, 5, 3, 2], // wraps twice over a 3-example epoch
    [64, 784, 300, 0],
    [64, 784, 300, 270], // wraps at the end of the epoch
    [65, 63, 100, 99],
    [256, 7, 256, 1],
    [10, 1, 9, 8],
    [7, 6, 4, 3],
  ];
  for (let i = 0; i < 14; i++) {
    const examples = 1 + rng.int(1000);
    shapes.push([1 + rng.int(300), 1 + rng.int(900), examples, rng.int(examples)]);
  }
  it.each(shapes)('%i rows × %i features of %i examples from %i', async (rows, features, examples, batchStart) => {
    const { x, y } = await run(rows, features, examples, batchStart);
    expect(maxRelErr(x.cpu.f, x.gpu.f)).toBeLessThan(1e-4);
    expect(Array.from(y.gpu.u)).toEqual(Array.from(y.cpu.u));
  });

  it('grid-stride loop covers every element with few workgroups', async () => {
    const { x, y } = await run(97, 131, 200, 150, [2, 1, 1]);
    expect(maxRelErr(x.cpu.f, x.gpu.f)).toBeLessThan(1e-4);
    expect(Array.from(y.gpu.u)).toEqual(Array.from(y.cpu.u));
  });
});
