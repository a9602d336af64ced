// Where each layer's weight and bias live in the flat parameter buffer. Gradients and
// optimiser moments use the same layout, so one dispatch updates the whole model.
// Segments start on 64-element (256-byte) boundaries: WebGPU's storage offset alignment.
import type { BufRange } from '../ops/op.ts';
import { widths, type ModelSpec } from './spec.ts';

export const ALIGN = 64;
export const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface DenseLayer {
  index: number;
  inputs: number;
  outputs: number;
  /** Offsets (elements) in the parameter buffer; weight is [outputs × inputs] row-major. */
  weight: number;
  bias: number;
}

export interface ParamLayout {
  layers: DenseLayer[];
  /** Total elements including alignment padding. */
  size: number;
  /** Parameters without padding. */
  count: number;
}

export function paramLayout(m: ModelSpec): ParamLayout {
  const w = widths(m);
  const layers: DenseLayer[] = [];
  let off = 0;
  let count = 0;
  for (let i = 0; i + 1 < w.length; i++) {
    const weight = off;
    off = align(off + w[i] * w[i + 1]);
    const bias = off;
    off = align(off + w[i + 1]);
    layers.push({ index: i, inputs: w[i], outputs: w[i + 1], weight, bias });
    count += w[i] * w[i + 1] + w[i + 1];
  }
  return { layers, size: off, count };
}

export const weightRange = (arena: string, l: DenseLayer): BufRange => ({ arena, offset: l.weight, length: l.inputs * l.outputs });
export const biasRange = (arena: string, l: DenseLayer): BufRange => ({ arena, offset: l.bias, length: l.outputs });
