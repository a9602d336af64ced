// Where each layer's weight and bias live in the flat parameter buffer. Gradients and
// optimiser moments use the same layout, so one dispatch updates the whole model — or,
// where one binding cannot hold it all, one dispatch per buffer of the arena.
// Segments start on 64-element (256-byte) boundaries: WebGPU's storage offset alignment.
//
// Larger than one binding: a weight matrix that does not fit is split by output rows into
// chunks of a multiple of 64 rows (so every chunk, and its slice of the bias, stays
// aligned), and the flat arena is cut into buffers between pieces, each within the budget.
// The flat offsets do not change with the budget: checkpoints and readbacks see one layout.
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
  /** Runs of output rows, each one binding: [{ row0: 0, rows: outputs }] when the weight fits. */
  chunks: { row0: number; rows: number }[];
}

export interface ParamLayout {
  layers: DenseLayer[];
  /** Total elements including alignment padding. */
  size: number;
  /** Parameters without padding. */
  count: number;
  /**
   * Where the flat arena is cut into buffers ({ offset, length } in elements): one when it
   * all fits one binding. No weight chunk or bias straddles a cut.
   */
  buffers: { offset: number; length: number }[];
}

/** The layout of a model's parameters; `bindingBytes` bounds every weight chunk and buffer. */
export function paramLayout(m: ModelSpec, bindingBytes = Infinity): ParamLayout {
  const w = widths(m);
  const layers: DenseLayer[] = [];
  let off = 0;
  let count = 0;
  for (let i = 0; i + 1 < w.length; i++) {
    const weight = off;
    off = align(off + w[i] * w[i + 1]);
    const bias = off;
    off = align(off + w[i + 1]);
    layers.push({ index: i, inputs: w[i], outputs: w[i + 1], weight, bias, chunks: rowChunks(w[i], w[i + 1], bindingBytes) });
    count += w[i] * w[i + 1] + w[i + 1];
  }
  return { layers, size: off, count, buffers: cutBuffers(layers, off, bindingBytes) };
}

/** Output rows per binding, in runs of 64; at least 64 (the plan's limit check refuses what still does not fit). */
function rowChunks(inputs: number, outputs: number, bindingBytes: number): DenseLayer['chunks'] {
  if (inputs * outputs * 4 <= bindingBytes) return [{ row0: 0, rows: outputs }];
  const per = Math.max(ALIGN, Math.floor(bindingBytes / (4 * inputs) / ALIGN) * ALIGN);
  const chunks: DenseLayer['chunks'] = [];
  for (let row0 = 0; row0 < outputs; row0 += per) chunks.push({ row0, rows: Math.min(per, outputs - row0) });
  return chunks;
}

/** Cuts the flat arena between pieces (weight chunks, biases) so that each buffer fits the budget. */
function cutBuffers(layers: DenseLayer[], size: number, bindingBytes: number): ParamLayout['buffers'] {
  if (size * 4 <= bindingBytes) return [{ offset: 0, length: size }];
  const pieces: { offset: number; end: number }[] = [];
  for (const l of layers) {
    for (const c of l.chunks) pieces.push({ offset: l.weight + c.row0 * l.inputs, end: align(l.weight + (c.row0 + c.rows) * l.inputs) });
    pieces.push({ offset: l.bias, end: align(l.bias + l.outputs) });
  }
  const buffers: ParamLayout['buffers'] = [];
  let start = 0;
  for (const p of pieces) {
    if ((p.end - start) * 4 > bindingBytes && p.offset > start) {
      buffers.push({ offset: start, length: p.offset - start });
      start = p.offset;
    }
  }
  buffers.push({ offset: start, length: size - start });
  return buffers;
}

/** Rows [row0, row0 + rows) of a layer's weight (row-major [outputs × inputs]). */
export const weightChunkRange = (arena: string, l: DenseLayer, c: { row0: number; rows: number }): BufRange => ({
  arena,
  offset: l.weight + c.row0 * l.inputs,
  length: c.rows * l.inputs,
});

export const weightRange = (arena: string, l: DenseLayer): BufRange => ({ arena, offset: l.weight, length: l.inputs * l.outputs });
export const biasRange = (arena: string, l: DenseLayer): BufRange => ({ arena, offset: l.bias, length: l.outputs });
