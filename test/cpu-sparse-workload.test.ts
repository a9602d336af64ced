// The sparsity sweep's start (bench/sparse-sweep.ts): biases shifted so the paper network
// starts with the hidden densities of an L1-trained one, and a cell carrying the shifts.
import { describe, expect, it } from 'vitest';
import { biasShifts } from '../bench/sparse-workload.ts';
import { cellParams, TRAIN_WORKLOADS, type TrainCell } from '../bench/spec.ts';
import { matmulCpu } from '../src/ops/matmul.ts';
import { paramLayout } from '../src/model/layout.ts';
import { Rng } from '../src/util/rng.ts';

describe('bias shifts for a chosen sparsity', () => {
  it('starts with the stated fraction of each hidden layer active on the batch', () => {
    const wl = TRAIN_WORKLOADS.paper;
    const density = [0.06, 0.14, 0.21];
    const batch = 12;
    const rng = new Rng(4);
    // MNIST-like input: about 19 % of the pixels nonzero.
    const x = Float32Array.from({ length: batch * 784 }, () => (rng.next() < 0.19 ? rng.next() : 0));
    const shift = biasShifts(wl.model, x, batch, density);
    expect(shift).toHaveLength(3);
    const cell = { kind: 'train', model: wl.model, biasShift: shift } as TrainCell;
    const p = cellParams(cell);
    let a = x;
    for (const [h, l] of paramLayout(wl.model).layers.slice(0, 3).entries()) {
      const z = new Float32Array(batch * l.outputs);
      matmulCpu(batch, l.outputs, l.inputs, false, true, a, p.subarray(l.weight, l.weight + l.inputs * l.outputs), z);
      a = z.map((v, i) => Math.max(0, v + p[l.bias + (i % l.outputs)]));
      const active = a.reduce((n, v) => n + (v > 0 ? 1 : 0), 0) / a.length;
      expect(Math.abs(active - density[h]), `layer ${h}`).toBeLessThan(0.005);
      expect(p[l.bias]).toBe(Math.fround(shift[h]));
    }
    // The other workloads keep zero biases.
    const paper = cellParams({ kind: 'train', model: TRAIN_WORKLOADS.paper.model } as TrainCell);
    expect(paper.subarray(paramLayout(wl.model).layers[0].bias, paramLayout(wl.model).layers[0].bias + 1000).every((v) => v === 0)).toBe(true);
  });
});
