// Gradient checks on the CPU in float64: every analytic derivative the backward pass uses
// against central differences of the forward quantity it differentiates.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { activationBackward } from '../src/ops/activation-backward.ts';
import { ACTIVATIONS, activate, activateGrad } from '../src/ops/activations.ts';
import type { BufRange, View } from '../src/ops/op.ts';
import { softmaxXent, softmaxXentOp } from '../src/ops/softmax-xent.ts';
import { Rng } from '../src/util/rng.ts';

const rng = new Rng(47);
const H = 1e-5;
const TOL = 1e-6;
const values = { lr: 0, t: 1, batchStart: 0 };

/** |a − b| relative to the larger magnitude, absolute below `floor`. */
const rel = (a: number, b: number, floor = 1e-3) => Math.abs(a - b) / Math.max(floor, Math.abs(a), Math.abs(b));

const view = (n: number): View => ({ f: new Float64Array(n), u: new Uint32Array(n) });

/** z away from every kink (0 for the rectifiers and abs): |z| in (0.01, 4). */
const awayFromKinks = () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.01, 4);

const acts = ACTIVATIONS.map((name, id) => [name, id] as const);

describe('activation derivatives match central differences of the activations', () => {
  it.each(acts)('%s (id %i)', (_, act) => {
    const alpha = 0.13;
    for (let i = 0; i < 200; i++) {
      const z = awayFromKinks();
      const fd = (activate(act, alpha, z + H) - activate(act, alpha, z - H)) / (2 * H);
      expect(rel(activateGrad(act, alpha, z, activate(act, alpha, z)), fd)).toBeLessThan(TOL);
    }
  });

  it('the CPU activations agree with their textbook forms', () => {
    for (const z of [-30, -3, -0.5, 0.25, 2, 30]) {
      expect(activate(0, 0.1, z)).toBe(z);
      expect(activate(1, 0.1, z)).toBe(Math.max(z, 0));
      expect(activate(2, 0.1, z)).toBeCloseTo(z > 0 ? z : 0.1 * z, 12);
      expect(rel(activate(3, 0, z), Math.log1p(Math.exp(z)), 1e-300)).toBeLessThan(1e-12);
      expect(rel(activate(4, 0, z), (Math.exp(2 * z) - 1) / (Math.exp(2 * z) + 1), 1e-300)).toBeLessThan(1e-12);
      expect(rel(activate(5, 0, z), 1 / (1 + Math.exp(-z)), 1e-300)).toBeLessThan(1e-12);
      expect(activate(6, 0, z)).toBe(Math.abs(z));
    }
  });
});

describe('softmax cross-entropy: dlogits is the gradient of the mean loss', () => {
  const shapes: [number, number][] = [
    [1, 1],
    [1, 2],
    [3, 10],
    [5, 37],
    [17, 4],
    [2, 1],
  ];
  it.each(shapes)('%i rows × %i classes', (rows, classes) => {
    const n = rows * classes;
    const logits = view(n);
    const labels = view(rows);
    const dlogits = view(n);
    const stats = view(4);
    const c = softmaxXent(
      'xent',
      rows,
      classes,
      { loss: 1, correct: 2 },
      {
        logits: { arena: 'x', offset: 0, length: n },
        labels: { arena: 'y', offset: 0, length: rows },
        dlogits: { arena: 'd', offset: 0, length: n },
        stats: { arena: 's', offset: 0, length: 4 },
      },
    ).constants;
    for (let i = 0; i < n; i++) logits.f[i] = rng.uniform(-3, 3);
    for (let r = 0; r < rows; r++) labels.u[r] = rng.int(classes);
    const b = { logits, labels, dlogits, stats };
    const loss = () => {
      softmaxXentOp.cpu(c, b, values);
      return stats.f[1];
    };
    // Independent loss: mean of log Σ exp − logit[label], unstabilised (fine for |x| ≤ 3).
    let ref = 0;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let k = 0; k < classes; k++) s += Math.exp(logits.f[r * classes + k]);
      ref += Math.log(s) - logits.f[r * classes + labels.u[r]];
    }
    expect(rel(loss(), ref / rows)).toBeLessThan(1e-12);
    const grad = Float64Array.from(dlogits.f);
    for (let i = 0; i < n; i++) {
      const x = logits.f[i];
      // A wider step here: the loss is O(1) while each derivative is O(1/rows).
      const h = 1e-4;
      logits.f[i] = x + h;
      const up = loss();
      logits.f[i] = x - h;
      const down = loss();
      logits.f[i] = x;
      expect(rel(grad[i], (up - down) / (2 * h), 1e-3 / rows)).toBeLessThan(TOL);
    }
  });
});

describe('activation backward with the L1 penalty is the gradient of Σ g⊙f(z) + l1·Σ|f(z)|', () => {
  const cases = acts.flatMap(
    ([name, id]) =>
      [
        [name, id, 0],
        [name, id, 0.3],
        [name, id, 2.5],
      ] as const,
  );
  it.each(cases)('%s (id %i), l1Scale %d', (_, act, l1) => {
    const n = 157;
    const alpha = 0.07;
    const be = new CpuBackend('float64');
    const [z, a, d]: BufRange[] = ['z', 'a', 'd'].map((arena) => ({ arena, offset: 0, length: n }));
    be.allocate({ z: n, a: n, d: n });
    const zs = Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(1e-3, 4));
    const g = Array.from({ length: n }, () => rng.uniform(-1, 1));
    be.writeF(z, zs);
    be.writeF(
      a,
      zs.map((v) => activate(act, alpha, v)),
    );
    be.writeF(d, g);
    be.run([activationBackward('act bwd', n, act, alpha, l1, { z, a, d })], values);
    const out = be.view(d).f;
    // J is separable, so ∂J/∂z_i is a one-variable central difference of term i.
    // The step stays below |z| so no difference crosses a kink.
    const term = (i: number, v: number) => {
      const f = activate(act, alpha, v);
      return g[i] * f + l1 * Math.abs(f);
    };
    for (let i = 0; i < n; i++) {
      const h = Math.min(H, Math.abs(zs[i]) / 4);
      const fd = (term(i, zs[i] + h) - term(i, zs[i] - h)) / (2 * h);
      expect(rel(out[i], fd)).toBeLessThan(TOL);
    }
  });
});
