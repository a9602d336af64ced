// copy_block and sum_terms (the split layers' data movement) on the GPU against their CPU twins.
import { describe, expect, it } from 'vitest';
import { copyBlock, sumTerms } from '../src/ops/blocks.ts';
import { Rng } from '../src/util/rng.ts';
import { regions, runBoth } from './support/op-harness.ts';

describe('copy_block on the GPU matches its CPU twin', () => {
  const cases: [number, number, number, number, number, number][] = [
    // rows, cols, srcLd, srcCol, dstLd, dstCol
    [1, 1, 1, 0, 1, 0],
    [16, 320, 1024, 640, 320, 0], // a column block of dZ out
    [16, 64, 64, 0, 1024, 960], // a chunk's Z into its columns
    [7, 33, 50, 17, 40, 5],
    [300, 260, 260, 0, 1000, 700], // 78,000 values: many workgroups
  ];
  it.each(cases)('%i rows × %i cols, width %i at %i → width %i at %i', async (rows, cols, srcLd, srcCol, dstLd, dstCol) => {
    const rng = new Rng(rows * 31 + cols);
    const [src] = regions('src', [rows * srcLd]);
    const [dst] = regions('dst', [rows * dstLd]);
    const before = rng.fill(rows * dstLd);
    const [res] = await runBoth(
      [copyBlock('copy', { rows, cols, srcLd, srcCol, dstLd, dstCol }, { src, dst })],
      [
        { range: src, data: rng.fill(rows * srcLd) },
        { range: dst, data: before },
      ],
      [dst],
    );
    // Bit for bit: a copy, and what is outside the block untouched.
    expect(Array.from(res.gpu.u)).toEqual(Array.from(res.cpu.u));
    expect(res.gpu.f[0]).toBe(dstCol === 0 ? res.gpu.f[0] : before[0]);
  });

  it('refuses a block wider than its matrix', () => {
    const [r] = regions('m', [100]);
    expect(() => copyBlock('copy', { rows: 2, cols: 8, srcLd: 10, srcCol: 4, dstLd: 8, dstCol: 0 }, { src: r, dst: r })).toThrow(/does not fit/);
  });
});

describe('sum_terms on the GPU matches its CPU twin', () => {
  const cases: [number, number, number, number, number][] = [
    // count, terms, stride, srcOff, dstOff
    [1, 1, 1, 0, 0],
    [8, 4, 8, 0, 5], // gradient-norm partials into unaligned stats slots
    [16 * 784, 4, 16 * 784, 0, 0], // dX partials of a layer split in four
    [1000, 3, 1024, 64, 0],
  ];
  it.each(cases)('%i values of %i terms, %i apart, from %i → at %i', async (count, terms, stride, srcOff, dstOff) => {
    const rng = new Rng(count + terms);
    const [src] = regions('src', [srcOff + (terms - 1) * stride + count]);
    const [dst] = regions('dst', [dstOff + count + 3]);
    const [res] = await runBoth(
      [sumTerms('sum', { count, terms, stride, srcOff, dstOff }, { src, dst })],
      [
        { range: src, data: rng.fill(src.length) },
        { range: dst, data: rng.fill(dst.length) },
      ],
      [dst],
    );
    // The same float32 additions in the same order: equal to the last bit.
    expect(Array.from(res.gpu.u)).toEqual(Array.from(res.cpu.u));
  });
});
