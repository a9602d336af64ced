// The float gather (datasets of float inputs) on the GPU against its CPU twin, and the
// twin against the inputs themselves: rows copied bit for bit, labels by the permutation.
import { describe, expect, it } from 'vitest';
import { gather } from '../src/ops/gather.ts';
import type { PlanStep } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { regions, runBoth } from './support/op-harness.ts';

const rng = new Rng(47);

async function run(rows: number, features: number, examples: number, batchStart: number, dispatch?: [number, number, number]) {
  // Signed values over several orders of magnitude, none zero.
  const inputs = new Float32Array(examples * features).map(() => (rng.next() < 0.5 ? -1 : 1) * 10 ** rng.uniform(-4, 4));
  const labels = new Uint32Array(examples).map(() => rng.int(1000));
  const order = rng.shuffle(new Uint32Array(examples).map((_, i) => i));
  const [ir, lr, or] = regions('data', [inputs.length, examples, examples]);
  const [xr, yr] = regions('batch', [rows * features, rows]);
  const step: PlanStep = gather('gather', rows, features, examples, 1, 0, { images: ir, labels: lr, order: or, x: xr, y: yr }, 'f32');
  if (dispatch) step.dispatch = dispatch;
  const [x, y] = await runBoth(
    [step],
    [
      { range: ir, data: inputs },
      { range: lr, data: labels },
      { range: or, data: order },
    ],
    [xr, yr],
    { lr: 0.01, t: 1, batchStart },
  );
  for (let r = 0; r < rows; r++) {
    const e = order[(batchStart + r) % examples];
    expect(y.cpu.u[r]).toBe(labels[e]);
    expect(Array.from(x.cpu.f.subarray(r * features, (r + 1) * features))).toEqual(Array.from(inputs.subarray(e * features, (e + 1) * features)));
  }
  return { x, y };
}

describe('float gather on the GPU matches its CPU twin exactly', () => {
  const shapes: [number, number, number, number][] = [
    [1, 1, 1, 0],
    [3, 5, 3, 2], // wraps twice over a 3-example epoch
    [64, 784, 300, 270],
    [65, 63, 100, 99],
    [10, 1, 9, 8],
  ];
  for (let i = 0; i < 4; i++) {
    const examples = 1 + rng.int(500);
    shapes.push([1 + rng.int(200), 1 + rng.int(600), examples, rng.int(examples)]);
  }
  it.each(shapes)('%i rows × %i features of %i examples from %i', async (rows, features, examples, batchStart) => {
    const { x, y } = await run(rows, features, examples, batchStart);
    expect(Array.from(x.gpu.f)).toEqual(Array.from(x.cpu.f));
    expect(Array.from(y.gpu.u)).toEqual(Array.from(y.cpu.u));
  });

  it('grid-stride loop covers every element with few workgroups', async () => {
    const { x, y } = await run(97, 131, 200, 150, [2, 1, 1]);
    expect(Array.from(x.gpu.f)).toEqual(Array.from(x.cpu.f));
    expect(Array.from(y.gpu.u)).toEqual(Array.from(y.cpu.u));
  });
});
