// The CPU backend's WebAssembly relu activation backward and bias gradient against their
// TypeScript twins: the same bits, on values that include ±0, NaN and ±Infinity, with and
// without the L1 term and its per-unit mask, at odd sizes and batch 1.
import { describe, expect, it } from 'vitest';
import { fastActivationBackward, fastActivationBackwardMasked, fastBiasGrad } from '../src/backend/cpu/activation-fast.ts';
import { heapOf, WasmHeap, wasmModules } from '../src/backend/cpu/wasm/runtime.ts';
import { activationId } from '../src/ops/activations.ts';
import { activationBackwardMaskedOp, activationBackwardOp } from '../src/ops/activation-backward.ts';
import { biasGradOp } from '../src/ops/bias-grad.ts';
import type { StepValues, View } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';

const values: StepValues = { lr: 0, t: 1, batchStart: 0 };
const RELU = activationId('relu');

/** Random values, a fifth of them replaced by one of the awkward ones. */
function awkward(rng: Rng, n: number): Float32Array {
  const specials = [0, -0, Number.NaN, Infinity, -Infinity, 1e-40, -1e-40];
  const x = rng.fill(n, -2, 2);
  for (let i = 0; i < n; i++) if (rng.next() < 0.2) x[i] = specials[rng.int(specials.length)];
  return x;
}

/** The same bits (NaN payloads aside: any NaN matches any NaN). */
function mismatches(a: Float32Array, b: Float32Array): number {
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) bad++;
  return bad;
}

describe.runIf(wasmModules() !== undefined)('WebAssembly backward elementwise steps', () => {
  const heap = WasmHeap.create({ threads: 1 })!;
  /** Copies in the heap, all reserved before any view is made (a grow detaches earlier views). */
  function inHeap<T extends Record<string, Float32Array>>(data: T): Record<keyof T, View> {
    const entries = Object.entries(data);
    const at = heap.reserve(entries.map(([, x]) => x.length * 4));
    return Object.fromEntries(
      entries.map(([k, x], i) => {
        const v = heap.views(at[i], x.length);
        v.f.set(x);
        return [k, v];
      }),
    ) as Record<keyof T, View>;
  }
  const plain = (data: Float32Array): View => {
    const f = Float32Array.from(data);
    return { f, u: new Uint32Array(f.buffer) };
  };

  it('relu activation backward: the twin’s bits, plain and with the per-unit L1 mask', () => {
    const rng = new Rng(12);
    for (const [rows, units] of [
      [1, 1],
      [1, 37],
      [7, 65],
      [64, 1000],
    ] as const) {
      const n = rows * units;
      for (const l1 of [0, 1e-3 / 64, 0.5]) {
        for (const masked of [false, true]) {
          const what = `${rows}×${units}, l1 ${l1}${masked ? ', masked' : ''}`;
          const z = awkward(rng, n);
          // a as the forward pass leaves it (relu of z) in half the cases, anything in the others.
          const a = rng.next() < 0.5 ? z.map((v) => (v > 0 ? v : 0)) : awkward(rng, n);
          const d = awkward(rng, n);
          const mask = rng.fill(units, 0, 1);
          const c = { COUNT: n, ACT: RELU, ALPHA: 0.01, L1: l1, UNITS: units };
          const want = { z: plain(z), a: plain(a), d: plain(d), mask: plain(mask) };
          const got = inHeap({ z, a, d, mask });
          // In the heap: the WebAssembly kernel runs, not the twin.
          for (const v of Object.values(got)) expect(heapOf(v.f)).toBe(heap);
          (masked ? activationBackwardMaskedOp : activationBackwardOp).cpu(c, want, values);
          (masked ? fastActivationBackwardMasked : fastActivationBackward)(c, got, values);
          expect(mismatches(got.d.f as Float32Array, want.d.f as Float32Array), what).toBe(0);
          if (n > 1)
            expect(
              (got.d.f as Float32Array).some((v) => v !== 0 && Number.isFinite(v)),
              what,
            ).toBe(true);
        }
      }
    }
  });

  it('other activations and views outside the heap run the twin', () => {
    const rng = new Rng(13);
    const n = 7 * 65;
    const [z, a, d] = [awkward(rng, n), awkward(rng, n), awkward(rng, n)];
    const c = { COUNT: n, ACT: activationId('leaky_relu'), ALPHA: 0.01, L1: 0.01 };
    const want = { z: plain(z), a: plain(a), d: plain(d) };
    const got = inHeap({ z, a, d });
    activationBackwardOp.cpu(c, want, values);
    fastActivationBackward(c, got, values);
    expect(mismatches(got.d.f as Float32Array, want.d.f as Float32Array)).toBe(0);
    const outside = { z: plain(z), a: plain(a), d: plain(d) };
    fastActivationBackward({ ...c, ACT: RELU }, outside, values);
    const twin = { z: plain(z), a: plain(a), d: plain(d) };
    activationBackwardOp.cpu({ ...c, ACT: RELU }, twin, values);
    expect(mismatches(outside.d.f as Float32Array, twin.d.f as Float32Array)).toBe(0);
  });

  it('bias gradient: the twin’s column sums bit for bit', () => {
    const rng = new Rng(14);
    for (const [rows, cols] of [
      [1, 1],
      [1, 37],
      [7, 65],
      [64, 1000],
      [3, 6],
    ] as const) {
      const dz = awkward(rng, rows * cols);
      // Finite values too, so that most sums are ordinary numbers.
      const finite = rng.fill(rows * cols, -1, 1);
      for (const x of [dz, finite]) {
        const c = { ROWS: rows, COLS: cols };
        const want = { dz: plain(x), out: plain(new Float32Array(cols).fill(7)) };
        const got = inHeap({ dz: x, out: new Float32Array(cols).fill(7) });
        biasGradOp.cpu(c, want, values);
        fastBiasGrad(c, got, values);
        expect(mismatches(got.out.f as Float32Array, want.out.f as Float32Array), `${rows}×${cols}`).toBe(0);
      }
    }
  });
});
