// Sparsity made to order, for the examples/s-against-sparsity chart (bench/sparse-sweep.ts):
// the paper network at its seeded initialisation, each hidden layer's biases lowered by
// one constant so that on a batch only a stated fraction of its units is active, instead
// of the 50 % a zero bias gives. (The bench's `sparse` workload instead starts from a
// checkpoint trained with the L1 penalty: bench/sparse-start.ts.)
import { matmulBlocked } from '../src/backend/cpu/matmul-fast.ts';
import { initialParams } from '../src/model/init.ts';
import { paramLayout } from '../src/model/layout.ts';
import type { ModelSpec } from '../src/model/spec.ts';
import type { StartZeros } from './spec.ts';

/**
 * Per hidden layer, the constant added to its biases so that a fraction `density[h]` of
 * its pre-activations over the batch (x: batch × inputs) stays positive.
 */
export function biasShifts(model: ModelSpec, x: Float32Array, batch: number, density: number[]): number[] {
  return sparseStart(model, x, batch, density).shifts;
}

const zeroFraction = (a: Float32Array) => a.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / a.length;

/** The bias shifts (above), and the zeros they leave: of the input, and of each hidden layer's outputs. */
export function sparseStart(model: ModelSpec, x: Float32Array, batch: number, density: number[]): { shifts: number[]; zeros: StartZeros } {
  const layout = paramLayout(model);
  const p = initialParams(model);
  const shifts: number[] = [];
  const hidden: number[] = [];
  let a = x;
  for (const [h, d] of density.entries()) {
    const l = layout.layers[h];
    const z = new Float32Array(batch * l.outputs);
    matmulBlocked(batch, l.outputs, l.inputs, false, true, a, p.subarray(l.weight, l.weight + l.inputs * l.outputs), z);
    // Biases start at zero: z is the pre-activation. Keep the top d of it positive.
    const sorted = Float32Array.from(z).sort();
    const k = Math.min(sorted.length - 1, Math.max(0, Math.floor((1 - d) * sorted.length)));
    const cut = sorted[k];
    const below = k > 0 ? sorted[k - 1] : cut - 1;
    const shift = -(cut + below) / 2;
    shifts.push(shift);
    // As the engines compute it: the shift stored as a float32 bias.
    const b = Math.fround(shift);
    a = z.map((v) => Math.max(0, v + b));
    hidden.push(zeroFraction(a));
  }
  const zeros = { pixels: zeroFraction(x), hidden, hiddenMean: hidden.reduce((s, v) => s + v, 0) / Math.max(1, hidden.length) };
  return { shifts, zeros };
}
