import { describe, expect, it } from 'vitest';
import { biasGrad } from '../src/ops/bias-grad.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

describe('bias_grad (column sums) on the GPU matches its CPU twin', () => {
  const rng = new Rng(7);
  const shapes: [number, number][] = [
    [1, 1],
    [1, 7],
    [3, 1],
    [64, 64],
    [65, 63],
  ];
  for (let i = 0; i < 17; i++) shapes.push([1 + rng.int(300), 1 + rng.int(300)]);
  it.each(shapes)('%i rows × %i cols', async (rows, cols) => {
    const [dz] = regions('dz', [rows * cols]);
    const [out] = regions('out', [cols]);
    const [res] = await runBoth([biasGrad('db', rows, cols, dz, out)], [{ range: dz, data: rng.fill(rows * cols) }], [out]);
    expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
  });
});
