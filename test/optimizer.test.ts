import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import type { PlanItem } from '../src/ops/op.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import type { BufRange, FloatArray, StepValues } from '../src/ops/op.ts';
import { DEFAULT_OPTIMIZER, optimizerStep, type OptimizerConfig, type OptimizerKind } from '../src/ops/optimizer.ts';
import { segmentTable, sumsq } from '../src/ops/sumsq.ts';
import { Rng } from '../src/util/rng.ts';
import { gpuBackend } from './support/gpu.ts';
import { maxRelErr } from './support/op-harness.ts';

const STATS = 16;
const DUMMY = 64;
const SENTINEL = 7.25;
const STEPS = 3;

interface Case {
  name: string;
  count: number;
  cfg: OptimizerConfig;
  /** Gradient segments (a partition of the parameters), their sums of squares in stats[slot0 + k]. */
  segLens: number[];
  slot0: number;
  p0: Float32Array;
  grads: Float32Array[];
  lrs: number[];
  /** Replace the planned dispatch (to exercise the grid-stride loop). */
  dispatch?: [number, number, number];
}

type State = { p: FloatArray; m: FloatArray; v: FloatArray };

const l2 = (x: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
};

const rng = new Rng(4242);

function makeCase(kind: OptimizerKind, count: number, weightDecay: number, clip: 'off' | 'active' | 'loose'): Case {
  const cfg: OptimizerConfig = {
    ...DEFAULT_OPTIMIZER,
    kind,
    momentum: rng.uniform(0.5, 0.99),
    beta1: rng.uniform(0.8, 0.95),
    beta2: rng.uniform(0.99, 0.9999),
    eps: rng.next() < 0.5 ? 1e-8 : 1e-6,
    weightDecay,
  };
  const nseg = 1 + rng.int(Math.min(count, 5));
  const cuts = new Set<number>();
  while (cuts.size < nseg - 1) cuts.add(1 + rng.int(count - 1));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), count];
  const segLens = bounds.slice(1).map((b, k) => b - bounds[k]);
  const grads = Array.from({ length: STEPS }, () => rng.fill(count));
  // ‖g‖ ≈ √(count / 3): clip below it (active) or above it (clip factor 1).
  const norm = Math.sqrt(count / 3);
  cfg.clipNorm = clip === 'off' ? 0 : clip === 'active' ? norm * rng.uniform(0.1, 0.8) : norm * 3 + 1;
  const lrs = kind === 'adam' ? [0.01, 0.03, 0.02] : [0.1, 0.05, 0.2];
  const name = `${kind} n=${count} wd=${weightDecay.toFixed(4)} clip=${clip}`;
  return { name, count, cfg, segLens, slot0: rng.int(STATS - nseg + 1), p0: rng.fill(count), grads, lrs };
}

const cases: Case[] = [];
const counts = [1, 7, 63, 64, 65, 255, 256, 257, 1000, 4099, 12345, 30001];
const kinds: OptimizerKind[] = ['sgd', 'momentum', 'adam'];
for (let k = 0; k < 24; k++) {
  const kind = kinds[k % 3];
  const wd = (k >> 1) % 2 ? rng.uniform(1e-3, 0.05) : 0;
  const clip = (['off', 'active', 'off', 'active', 'loose'] as const)[(k >> 2) % 5];
  cases.push(makeCase(kind, k < counts.length ? counts[k] : 1 + rng.int(40000), wd, clip));
}
for (const kind of kinds) {
  const c = makeCase(kind, 5000, 0.01, 'active');
  cases.push({ ...c, name: `${c.name}, 3 workgroups (grid stride)`, dispatch: [3, 1, 1] });
}

function sumsOfSquares(c: Case, g: Float32Array): number[] {
  let off = 0;
  return c.segLens.map((len) => {
    let s = 0;
    for (let i = off; i < off + len; i++) s += g[i] * g[i];
    off += len;
    return s;
  });
}

/** Runs the case's steps on one backend (the host writes each step's grads and stats); state after each step. */
async function runCase(b: Backend, c: Case): Promise<State[]> {
  const n = c.count;
  const momentKind = c.cfg.kind;
  const params: BufRange = { arena: 'p', offset: 0, length: n };
  const grads: BufRange = { arena: 'g', offset: 0, length: n };
  const mLen = momentKind === 'sgd' ? DUMMY : n;
  const vLen = momentKind === 'adam' ? n : DUMMY;
  const m: BufRange = { arena: 'opt', offset: 0, length: mLen };
  const v: BufRange = { arena: 'opt', offset: Math.ceil(mLen / 64) * 64, length: vLen };
  const stats: BufRange = { arena: 's', offset: 64, length: STATS };
  b.allocate({ p: n, g: n, opt: v.offset + v.length, s: stats.offset + stats.length });
  b.writeF(params, c.p0);
  // Moments start at zero; the unused dummy regions hold a sentinel that must survive.
  b.writeF(m, new Float32Array(mLen).fill(momentKind === 'sgd' ? SENTINEL : 0));
  b.writeF(v, new Float32Array(vLen).fill(momentKind === 'adam' ? 0 : SENTINEL));
  const step = optimizerStep('update', n, c.cfg, { slot0: c.slot0, count: c.segLens.length }, { params, grads, m, v, stats });
  if (c.dispatch) step.dispatch = c.dispatch;
  const items: PlanItem[] = [step];
  await b.prepare(items);
  const out: State[] = [];
  for (let s = 0; s < STEPS; s++) {
    b.writeF(grads, c.grads[s]);
    // Stats words: large garbage everywhere but the clip slots, which get the sums of squares
    // (float64 on the float64 CPU backend, rounded to f32 elsewhere).
    const words = new Float64Array(STATS).fill(1e30);
    sumsOfSquares(c, c.grads[s]).forEach((x, k) => (words[c.slot0 + k] = x));
    b.writeF(stats, words);
    const values: StepValues = { lr: c.lrs[s], t: s + 1, batchStart: 0 };
    b.run(items, values);
    out.push({ p: await b.readF(params), m: await b.readF(m), v: await b.readF(v) });
  }
  b.destroy();
  return out;
}

/** The definitions, written out per element in float64; the clip norm from the whole gradient. */
function reference(c: Case): State[] {
  const { kind, momentum: mu, beta1: b1, beta2: b2, eps, weightDecay: wd, clipNorm } = c.cfg;
  const p = Float64Array.from(c.p0);
  const m = new Float64Array(c.count);
  const v = new Float64Array(c.count);
  const out: State[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t = s + 1;
    const lr = c.lrs[s];
    const raw = c.grads[s];
    const norm = l2(raw);
    const clip = clipNorm > 0 ? Math.min(1, clipNorm / (norm + 1e-6)) : 1;
    for (let i = 0; i < c.count; i++) {
      const g = raw[i] * clip + wd * p[i];
      if (kind === 'sgd') {
        p[i] = p[i] - lr * g;
      } else if (kind === 'momentum') {
        m[i] = mu * m[i] + g;
        p[i] = p[i] - lr * m[i];
      } else {
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const mHat = m[i] / (1 - Math.pow(b1, t));
        const vHat = v[i] / (1 - Math.pow(b2, t));
        p[i] = p[i] - (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    }
    out.push({ p: p.slice(), m: kind === 'sgd' ? new Float64Array(0) : m.slice(), v: kind === 'adam' ? v.slice() : new Float64Array(0) });
  }
  return out;
}

/**
 * Compares two runs step by step: parameters, the update per unit of lr (tolerance tolStep:
 * f32 storage of p rounds it by up to ulp(p) / lr), and the moments used.
 */
function expectClose(c: Case, a: State[], b: State[], tol: number, tolStep = tol) {
  const { kind, beta2 } = c.cfg;
  for (let s = 0; s < STEPS; s++) {
    const prevA = s ? a[s - 1].p : c.p0;
    const prevB = s ? b[s - 1].p : c.p0;
    const step = (x: State, prev: FloatArray) => Array.from(x.p, (p, i) => (p - prev[i]) / c.lrs[s]);
    const what = `${c.name} step ${s + 1}`;
    expect(maxRelErr(a[s].p, b[s].p), `${what}: params`).toBeLessThan(tol);
    expect(maxRelErr(step(a[s], prevA), step(b[s], prevB)), `${what}: update / lr`).toBeLessThan(tolStep);
    if (kind !== 'sgd') expect(maxRelErr(a[s].m.subarray(0, c.count), b[s].m.subarray(0, c.count)), `${what}: m`).toBeLessThan(tol);
    if (kind === 'adam') {
      const scaled = (x: FloatArray) => Array.from(x.subarray(0, c.count), (y) => y / (1 - beta2));
      expect(maxRelErr(scaled(a[s].v), scaled(b[s].v)), `${what}: v / (1 − β2)`).toBeLessThan(tol);
    }
  }
}

function expectDummiesUntouched(c: Case, out: State[]) {
  const last = out[STEPS - 1];
  if (c.cfg.kind === 'sgd') expect(Array.from(last.m).every((x) => x === SENTINEL)).toBe(true);
  if (c.cfg.kind !== 'adam') expect(Array.from(last.v).every((x) => x === SENTINEL)).toBe(true);
}

describe('optimizer on the GPU matches its CPU twin over steps t = 1, 2, 3', () => {
  it.each(cases.map((c, k) => [c.name, k] as const))('%s', async (_name, k) => {
    const c = cases[k];
    const cpu = await runCase(new CpuBackend(), c);
    const gpu = await runCase(await gpuBackend(), c);
    expectClose(c, cpu, gpu, 1e-4);
    expectDummiesUntouched(c, cpu);
    expectDummiesUntouched(c, gpu);
    // The twin (float32 storage) against the float64 definitions.
    expectClose(c, reference(c), cpu, 1e-5, 1e-4);
  });
});

describe('optimizer CPU twin and reference', () => {
  it('the float64 twin equals the float64 definitions', async () => {
    for (const k of [0, 1, 2, 9, 10, 11, 13, 14, 16, 17]) {
      const c = cases[k];
      expectClose(c, reference(c), await runCase(new CpuBackend('float64'), c), 1e-12, 1e-10);
    }
  });

  it('the reference matches the formulas written out for a few elements', () => {
    const base = (kind: OptimizerKind) => {
      const c = makeCase(kind, 5, 0, 'off');
      return { c, ref: reference(c), g: c.grads, p0: c.p0, lr: c.lrs };
    };
    {
      const { ref, g, p0, lr } = base('sgd');
      for (let i = 0; i < 5; i++) {
        expect(ref[0].p[i]).toBeCloseTo(p0[i] - lr[0] * g[0][i], 12);
        expect(ref[1].p[i]).toBeCloseTo(p0[i] - lr[0] * g[0][i] - lr[1] * g[1][i], 12);
      }
    }
    {
      const { c, ref, g, p0, lr } = base('momentum');
      const mu = c.cfg.momentum;
      for (let i = 0; i < 5; i++) {
        const m2 = mu * g[0][i] + g[1][i];
        expect(ref[1].m[i]).toBeCloseTo(m2, 12);
        expect(ref[1].p[i]).toBeCloseTo(p0[i] - lr[0] * g[0][i] - lr[1] * m2, 12);
      }
    }
    {
      const { c, ref, g, p0, lr } = base('adam');
      const { beta1: b1, beta2: b2, eps } = c.cfg;
      for (let i = 0; i < 5; i++) {
        // t = 1: the bias-corrected moments are g and g², so the step is lr · g / (|g| + ε).
        const g0 = g[0][i];
        const p1 = p0[i] - (lr[0] * g0) / (Math.abs(g0) + eps);
        expect(ref[0].p[i]).toBeCloseTo(p1, 12);
        const g1 = g[1][i];
        const m2 = b1 * (1 - b1) * g0 + (1 - b1) * g1;
        const v2 = b2 * (1 - b2) * g0 * g0 + (1 - b2) * g1 * g1;
        expect(ref[1].m[i]).toBeCloseTo(m2, 12);
        expect(ref[1].v[i]).toBeCloseTo(v2, 14);
        expect(ref[1].p[i]).toBeCloseTo(p1 - (lr[1] * m2) / (1 - b1 * b1) / (Math.sqrt(v2 / (1 - b2 * b2)) + eps), 12);
      }
    }
    {
      // Weight decay adds wd·p to the gradient: sgd step 1 is p − lr (g + wd p).
      const c = makeCase('sgd', 5, 0.1, 'off');
      const ref = reference(c);
      for (let i = 0; i < 5; i++) expect(ref[0].p[i]).toBeCloseTo(c.p0[i] - c.lrs[0] * (c.grads[0][i] + 0.1 * c.p0[i]), 12);
    }
    {
      // Clipping scales the gradient to norm clipNorm (1e-6 aside): sgd's first step has length lr · clipNorm.
      const c = makeCase('sgd', 300, 0, 'active');
      const ref = reference(c);
      const len = l2(Array.from(ref[0].p, (p, i) => p - c.p0[i]));
      expect(len / c.lrs[0]).toBeCloseTo(c.cfg.clipNorm, 4);
      expect(c.cfg.clipNorm).toBeLessThan(l2(c.grads[0]));
    }
  });
});

describe('optimizer in a step plan', () => {
  it('clips by the norm sumsq leaves in the cleared stats buffer (adam, 3 steps)', async () => {
    const c = makeCase('adam', 9000, 0.01, 'active');
    const segs = segmentTable(c.segLens.map((length, k) => ({ offset: c.segLens.slice(0, k).reduce((a, b) => a + b, 0), length, slot: c.slot0 + k })));
    const run = async (b: Backend) => {
      const params: BufRange = { arena: 'p', offset: 0, length: c.count };
      const grads: BufRange = { arena: 'g', offset: 0, length: c.count };
      const table: BufRange = { arena: 'g', offset: Math.ceil(c.count / 64) * 64, length: segs.length };
      const m: BufRange = { arena: 'opt', offset: 0, length: c.count };
      const v: BufRange = { arena: 'opt', offset: Math.ceil(c.count / 64) * 64, length: c.count };
      const stats: BufRange = { arena: 's', offset: 0, length: STATS };
      b.allocate({ p: c.count, g: table.offset + table.length, opt: v.offset + v.length, s: STATS });
      b.writeF(params, c.p0);
      b.writeU(table, segs);
      b.writeF(stats, new Float32Array(STATS).fill(1e30));
      const items: PlanItem[] = [
        { clear: stats },
        sumsq('grad norms', c.segLens.length, { x: grads, segs: table, stats }),
        optimizerStep('update', c.count, c.cfg, { slot0: c.slot0, count: c.segLens.length }, { params, grads, m, v, stats }),
      ];
      await b.prepare(items);
      const out: State[] = [];
      for (let s = 0; s < STEPS; s++) {
        b.writeF(grads, c.grads[s]);
        b.run(items, { lr: c.lrs[s], t: s + 1, batchStart: 0 });
        out.push({ p: await b.readF(params), m: await b.readF(m), v: await b.readF(v) });
      }
      b.destroy();
      return out;
    };
    const cpu = await run(new CpuBackend());
    const gpu = await run(await gpuBackend());
    expectClose(c, cpu, gpu, 1e-4);
    expectClose(c, reference(c), cpu, 1e-5, 1e-4);
  });

  it('rejects what it cannot run', () => {
    const r: BufRange = { arena: 'x', offset: 0, length: 10 };
    const io = { params: r, grads: r, m: r, v: r, stats: r };
    expect(() => optimizerStep('u', 10, { ...DEFAULT_OPTIMIZER, kind: 'lion' as OptimizerKind }, { slot0: 0, count: 1 }, io)).toThrow(/unknown optimizer/);
    expect(() => optimizerStep('u', 20, DEFAULT_OPTIMIZER, { slot0: 0, count: 1 }, io)).toThrow(/params holds 10/);
    expect(() => optimizerStep('u', 10, { ...DEFAULT_OPTIMIZER, clipNorm: 1 }, { slot0: 0, count: 0 }, io)).toThrow(/clipping/);
  });
});
