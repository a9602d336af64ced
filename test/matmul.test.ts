import { describe, expect, it } from 'vitest';
import { DEFAULT_TILES, matmul, matmulBiasAct, matmulCpu, type MatmulShape, type MatmulTiles } from '../src/ops/matmul.ts';
import { activate } from '../src/ops/activations.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

const rng = new Rng(20240611);

/** A dimension: mostly ≤ 200, with 1, tile edges (multiples of 4 and 32, ±1) and odd sizes. */
function dim(): number {
  const r = rng.next();
  if (r < 0.12) return 1;
  if (r < 0.3) return Math.max(1, 32 * (1 + rng.int(4)) + rng.int(3) - 1);
  if (r < 0.4) return 2 + rng.int(7);
  return 1 + rng.int(200);
}

function shapes(count: number, transA: boolean, transB: boolean): MatmulShape[] {
  const s: MatmulShape[] = [
    { M: 1, N: 1, K: 1, transA, transB },
    { M: 1, N: 37, K: 5, transA, transB },
    { M: 33, N: 1, K: 70, transA, transB },
    { M: 64, N: 64, K: 64, transA, transB },
    { M: 65, N: 31, K: 1, transA, transB },
  ];
  while (s.length < count - 2) s.push({ M: dim(), N: dim(), K: dim(), transA, transB });
  // Two larger ones, near the training shapes.
  s.push({ M: 64, N: 3 + rng.int(300), K: 500 + rng.int(100), transA, transB });
  s.push({ M: 200 + rng.int(57), N: 550 + rng.int(50), K: 40 + rng.int(30), transA, transB });
  return s;
}

const name = (s: MatmulShape) => `M=${s.M} N=${s.N} K=${s.K}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}`;

async function checkPlain(s: MatmulShape, tiles?: MatmulTiles) {
  const { M, N, K } = s;
  const [a, b] = regions('in', [M * K, K * N]);
  const [c] = regions('out', [M * N]);
  const [res] = await runBoth(
    [matmul('mm', s, { a, b, c }, tiles)],
    [
      { range: a, data: rng.fill(M * K) },
      { range: b, data: rng.fill(K * N) },
    ],
    [c],
  );
  expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
}

async function checkBiasAct(s: MatmulShape, act: number, alpha: number, tiles?: MatmulTiles) {
  const { M, N, K } = s;
  const [a, b, bias] = regions('in', [M * K, K * N, N]);
  const [z, out] = regions('out', [M * N, M * N]);
  const [rz, ro] = await runBoth(
    [matmulBiasAct('fwd', s, act, alpha, { a, b, bias, z, out }, tiles)],
    [
      { range: a, data: rng.fill(M * K) },
      { range: b, data: rng.fill(K * N) },
      { range: bias, data: rng.fill(N) },
    ],
    [z, out],
  );
  expect(maxRelErr(rz.cpu.f, rz.gpu.f)).toBeLessThan(1e-4);
  expect(maxRelErr(ro.cpu.f, ro.gpu.f)).toBeLessThan(1e-4);
}

describe('matmul CPU twin matches a naive triple loop (float64)', () => {
  const naive = (s: MatmulShape, a: Float64Array, b: Float64Array) => {
    const { M, N, K, transA, transB } = s;
    const c = new Float64Array(M * N);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let t = 0;
        for (let k = 0; k < K; k++) t += a[transA ? k * M + i : i * K + k] * b[transB ? j * K + k : k * N + j];
        c[i * N + j] = t;
      }
    return c;
  };
  const cases: [number, number, number][] = [
    [1, 1, 1],
    [1, 5, 3],
    [7, 1, 9],
    [3, 4, 1],
    [17, 29, 13],
    [2, 300, 2],
    [33, 270, 150], // several k and j cache blocks
    [5, 40, 20000], // B rows longer than the dot block
  ];
  for (const transA of [false, true])
    for (const transB of [false, true])
      it.each(cases)(`%i × %i × %i${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`, (M, N, K) => {
        const s = { M, N, K, transA, transB };
        const a = Float64Array.from(rng.fill(M * K));
        const b = Float64Array.from(rng.fill(K * N));
        // The twin writes only the first M·N elements and reads only op(A), op(B).
        const c = new Float64Array(M * N + 3).fill(7);
        matmulCpu(M, N, K, transA, transB, a, b, c.subarray(0, M * N));
        const want = naive(s, a, b);
        let err = 0;
        for (let i = 0; i < M * N; i++) err = Math.max(err, Math.abs(c[i] - want[i]));
        expect(err).toBeLessThan(1e-12 * Math.max(1, K));
        expect(Array.from(c.subarray(M * N))).toEqual([7, 7, 7]);
      });

  it('the bias + activation twin works on float32 and float64 views alike', async () => {
    const { matmulBiasActOp } = await import('../src/ops/matmul.ts');
    const [M, N, K] = [5, 6, 7];
    const a = rng.fill(M * K);
    const b = rng.fill(N * K);
    const bias = rng.fill(N);
    for (const T of [Float32Array, Float64Array]) {
      const view = (x: ArrayLike<number>) => {
        const f = T.from(x);
        return { f, u: new Uint32Array(f.length) };
      };
      const z = view(new Array(M * N).fill(0));
      const out = view(new Array(M * N).fill(0));
      matmulBiasActOp.cpu(
        { M, N, K, TRANS_A: 0, TRANS_B: 1, ACT: 2, ALPHA: 0.01 },
        { a: view(a), b: view(b), bias: view(bias), z, out },
        { lr: 0, t: 1, batchStart: 0 },
      );
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let t = bias[j];
          for (let k = 0; k < K; k++) t += a[i * K + k] * b[j * K + k];
          expect(z.f[i * N + j]).toBeCloseTo(t, 5);
          expect(out.f[i * N + j]).toBeCloseTo(activate(2, 0.01, t), 5);
        }
    }
  });
});

describe('matmul on the GPU matches its CPU twin', () => {
  describe('forward Z = X·Wᵀ + bias, activated (transB, main_bias_act)', () => {
    // Every activation id on three shapes each, plus the fixed edge shapes.
    const s = shapes(21, false, true);
    const cases = s.map((shape, i) => [name(shape), shape, i % 7] as const);
    it.each(cases)('%s act %i', async (_, shape, act) => {
      await checkBiasAct(shape, act, act === 2 ? 0.01 : 0);
    });
  });

  describe('dX = dZ·W (no transpose, main)', () => {
    it.each(shapes(22, false, false).map((s) => [name(s), s] as const))('%s', async (_, s) => {
      await checkPlain(s);
    });
  });

  describe('dW = dZᵀ·X (transA, main)', () => {
    it.each(shapes(22, true, false).map((s) => [name(s), s] as const))('%s', async (_, s) => {
      await checkPlain(s);
    });
  });

  describe('the other combinations and entry points', () => {
    const more: [string, MatmulShape][] = [];
    for (const s of shapes(8, false, true)) more.push(['plain', s]);
    for (const s of shapes(8, true, true)) more.push(['plain', s]);
    for (const s of shapes(6, false, false)) more.push(['bias_act', s]);
    for (const s of shapes(6, true, false)) more.push(['bias_act', s]);
    it.each(more.map(([kind, s]) => [kind, name(s), s] as const))('%s %s', async (kind, _, s) => {
      if (kind === 'plain') await checkPlain(s);
      else await checkBiasAct(s, 1 + rng.int(6), 0.2);
    });
  });

  describe('other tile configurations', () => {
    const tiles: MatmulTiles[] = [
      { TM: 8, TN: 8, WG_X: 8, WG_Y: 8 },
      { TM: 3, TN: 5, WG_X: 4, WG_Y: 16 },
      { TM: 1, TN: 1, WG_X: 64, WG_Y: 1 },
      { TM: 8, TN: 2, WG_X: 16, WG_Y: 2 },
    ];
    const cases: [string, MatmulShape, MatmulTiles][] = [];
    for (const t of tiles)
      for (const [transA, transB] of [
        [false, true],
        [false, false],
        [true, false],
      ] as const)
        cases.push([`${JSON.stringify(t)}`, { M: dim(), N: dim(), K: dim(), transA, transB }, t]);
    it.each(cases.map(([t, s, tiles]) => [t, name(s), s, tiles] as const))('%s %s', async (_, __, s, tiles) => {
      if (s.transB) await checkBiasAct(s, 2, 0.01, tiles);
      else await checkPlain(s, tiles);
    });
  });

  it('spreads more than 65535 row tiles over z', async () => {
    const tiles = { TM: 1, TN: 1, WG_X: 1, WG_Y: 1 };
    const s = { M: 70001, N: 3, K: 2, transA: false, transB: true };
    const [a, b] = regions('in', [s.M * s.K, s.N * s.K]);
    const [c] = regions('out', [s.M * s.N]);
    const step = matmul('tall', s, { a, b, c }, tiles);
    expect(step.dispatch).toEqual([3, 35001, 2]);
    expect(step.constants.GRID_Y).toBe(35001);
    await checkPlain(s, tiles);
  });
});

describe('matmul plan builders', () => {
  const io = () => {
    const [a, b, bias] = regions('in', [64 * 784, 784 * 1000, 1000]);
    const [c, out] = regions('out', [64 * 1000, 64 * 1000]);
    return { a, b, bias, c, z: c, out };
  };
  it('dispatches one workgroup per BM × BN tile of C', () => {
    const s = { M: 64, N: 1000, K: 784, transA: false, transB: true };
    const { TM, TN, WG_X, WG_Y } = DEFAULT_TILES;
    const step = matmulBiasAct('fwd', s, 1, 0, io());
    expect(step.dispatch).toEqual([Math.ceil(1000 / (WG_X * TN)), Math.ceil(64 / (WG_Y * TM)), 1]);
    expect(step.op.entry).toBe('main_bias_act');
    expect(matmul('mm', s, io()).op.entry).toBe('main');
  });
  it('rejects bad shapes, tiles, activations and short bindings', () => {
    const s = { M: 64, N: 1000, K: 784, transA: false, transB: true };
    expect(() => matmul('mm', { ...s, K: 0 }, io())).toThrow(/K must be a positive integer/);
    expect(() => matmul('mm', s, io(), { ...DEFAULT_TILES, TM: 9 })).toThrow(/at most 8/);
    expect(() => matmulBiasAct('fwd', s, 7, 0, io())).toThrow(/activation id/);
    expect(() => matmul('mm', { ...s, M: 65 }, io())).toThrow(/binding c holds/);
  });
});
