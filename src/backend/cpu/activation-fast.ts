// Elementwise steps of the backward pass in WebAssembly, the CPU backend's fast paths:
// the relu activation backward and the bias gradient (column sums of dZ), with their
// twins' arithmetic (the same bits). In TypeScript these run on views of the wasm memory,
// which V8 reads several times slower than the kernel does; other activations, and views
// outside the heap, run the twins.
import { activationId } from '../../ops/activations.ts';
import { activationBackwardMaskedOp, activationBackwardOp } from '../../ops/activation-backward.ts';
import { biasGradOp } from '../../ops/bias-grad.ts';
import type { View } from '../../ops/op.ts';
import type { CpuKernel } from './matmul-fast.ts';
import { heapOf, type WasmHeap } from './wasm/runtime.ts';

const RELU = activationId('relu');

/** The heap all these views lie in (as Float32Arrays), or undefined. */
function heapFor(...views: View[]): WasmHeap | undefined {
  const f = views[0].f;
  if (!(f instanceof Float32Array)) return undefined;
  const heap = heapOf(f);
  return heap && views.every((v) => v.f instanceof Float32Array && heapOf(v.f) === heap) ? heap : undefined;
}

export const fastActivationBackward: CpuKernel = (c, v, step) => {
  const heap = c.ACT === RELU ? heapFor(v.z, v.a, v.d) : undefined;
  if (!heap) return activationBackwardOp.cpu(c, v, step);
  if (v.z.f.length < c.COUNT || v.a.f.length < c.COUNT || v.d.f.length < c.COUNT) throw new Error(`activation backward: views shorter than ${c.COUNT}`);
  heap.reluBackward(c.COUNT, c.L1, v.z.f.byteOffset, v.a.f.byteOffset, v.d.f.byteOffset, 0, 1);
};

export const fastActivationBackwardMasked: CpuKernel = (c, v, step) => {
  const heap = c.ACT === RELU ? heapFor(v.z, v.a, v.d, v.mask) : undefined;
  if (!heap) return activationBackwardMaskedOp.cpu(c, v, step);
  if (v.z.f.length < c.COUNT || v.a.f.length < c.COUNT || v.d.f.length < c.COUNT || v.mask.f.length < c.UNITS)
    throw new Error(`activation backward: views shorter than ${c.COUNT} (mask ${c.UNITS})`);
  heap.reluBackward(c.COUNT, c.L1, v.z.f.byteOffset, v.a.f.byteOffset, v.d.f.byteOffset, v.mask.f.byteOffset, c.UNITS);
};

export const fastBiasGrad: CpuKernel = (c, v, step) => {
  const heap = heapFor(v.dz, v.out);
  if (!heap) return biasGradOp.cpu(c, v, step);
  if (v.dz.f.length < c.ROWS * c.COLS || v.out.f.length < c.COLS) throw new Error(`bias gradient: views shorter than ${c.ROWS} × ${c.COLS}`);
  heap.colSums(c.ROWS, c.COLS, v.dz.f.byteOffset, v.out.f.byteOffset);
};
