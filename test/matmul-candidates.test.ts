// The matmul candidates (src/ops/matmul-candidates.ts) beyond the sweep of
// test/matmul-sweep-*.test.ts (every candidate on 20 shapes of each training layout): the
// other entry point of each layout against the CPU twin, split-K's determinism and its
// twins, and which configurations fit which limits.
import { describe, expect, it } from 'vitest';
import { activate } from '../src/ops/activations.ts';
import { matmulCpu, type MatmulShape } from '../src/ops/matmul.ts';
import {
  MATMUL_CANDIDATES,
  candidateFits,
  candidateProblem,
  candidateScratch,
  heuristicCandidate,
  matmulBiasActWith,
  matmulWith,
  splitKReduceBiasActOp,
  splitKSlices,
  TILED_OPS,
  vec4Loads,
  type MatmulCandidate,
} from '../src/ops/matmul-candidates.ts';
import type { PlanStep, View } from '../src/ops/op.ts';
import { Rng } from '../src/util/rng.ts';
import { tuningFor } from '../src/backend/webgpu/tuning.ts';
import { gpuBackend } from './support/gpu.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

const rng = new Rng(20261130);
const values = { lr: 0, t: 1, batchStart: 0 };

const name = (s: MatmulShape) => `M=${s.M} N=${s.N} K=${s.K}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}${vec4Loads(s) ? ' vec4' : ''}`;

/** A dimension up to ~150: 1, odd, multiples of 4, and around the tile edges 64 and 128. */
function dim(): number {
  const r = rng.next();
  if (r < 0.1) return 1;
  if (r < 0.3) return 4 * (1 + rng.int(37));
  if (r < 0.45) return [63, 65, 127, 129][rng.int(4)];
  return 1 + 2 * rng.int(75);
}

function shapes(count: number, transA: boolean, transB: boolean): MatmulShape[] {
  const s: MatmulShape[] = [
    { M: 1, N: 1, K: 1, transA, transB },
    { M: 1, N: 70, K: 133, transA, transB }, // M = 1, K over several slices
    { M: 5, N: 9, K: 1, transA, transB }, // K = 1
    { M: 68, N: 132, K: 200, transA, transB }, // vec4 everywhere, long K
    { M: 129, N: 3, K: 57, transA, transB },
    { M: 12, N: 36, K: 100, transA, transB }, // vec4, thin
  ];
  while (s.length < count) s.push({ M: dim(), N: dim(), K: dim(), transA, transB });
  return s;
}

function scratchFor(c: MatmulCandidate, s: MatmulShape) {
  return { arena: 'scratch', offset: 0, length: Math.max(1, candidateScratch(c, s)) };
}

async function checkPlain(c: MatmulCandidate, s: MatmulShape) {
  const { M, N, K } = s;
  const [a, b] = regions('in', [M * K, K * N]);
  const [cc] = regions('out', [M * N]);
  const steps: PlanStep[] = matmulWith(c, 'mm', s, { a, b, c: cc, scratch: scratchFor(c, s) });
  const [res] = await runBoth(
    steps,
    [
      { range: a, data: rng.fill(M * K) },
      { range: b, data: rng.fill(K * N) },
    ],
    [cc],
  );
  expect(maxRelErr(res.cpu.f, res.gpu.f)).toBeLessThan(1e-4);
}

async function checkBiasAct(c: MatmulCandidate, s: MatmulShape, act: number, alpha: number) {
  const { M, N, K } = s;
  const [a, b, bias] = regions('in', [M * K, K * N, N]);
  const [z, out] = regions('out', [M * N, M * N]);
  const steps = matmulBiasActWith(c, 'fwd', s, act, alpha, { a, b, bias, z, out, scratch: scratchFor(c, s) });
  const [rz, ro] = await runBoth(
    steps,
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

describe('matmul candidates on the GPU match the CPU twin', () => {
  describe('the other entry point of each layout', () => {
    const more = [
      ...shapes(6, false, true)
        .slice(2)
        .map((s) => ['plain', s] as const),
      ...shapes(6, false, false)
        .slice(2)
        .map((s) => ['bias_act', s] as const),
      ...shapes(6, true, false)
        .slice(2)
        .map((s) => ['bias_act', s] as const),
    ];
    // Twelve cases dealt over the twelve candidates: each candidate's other entry point once
    // (the double-buffered ones on a K of several k steps).
    it.each(
      more
        .map(([kind, s], i) => [kind, MATMUL_CANDIDATES[(i + 2) % MATMUL_CANDIDATES.length], name(s), s] as const)
        .map(([k, c, n, s]) => [k, c.name, n, c, s] as const),
    )('%s %s %s', async (kind, _, __, c, s) => {
      if (kind === 'plain') await checkPlain(c, s);
      else await checkBiasAct(c, s, 1 + rng.int(6), 0.2);
    });
  });
});

describe('split-K on the GPU', () => {
  it('gives the same bits on every run (fixed-order reduce, no atomics)', async () => {
    const c = MATMUL_CANDIDATES.find((x) => x.kind === 'splitk' && x.slices === 4)!;
    const s = { M: 3, N: 50, K: 190, transA: false, transB: true };
    const [a, b, bias] = regions('in', [s.M * s.K, s.K * s.N, s.N]);
    const [z, out] = regions('out', [s.M * s.N, s.M * s.N]);
    const scratch = scratchFor(c, s);
    const steps = matmulBiasActWith(c, 'fwd', s, 1, 0, { a, b, bias, z, out, scratch });
    expect(steps[0].dispatch[2]).toBe(4);
    const data = [rng.fill(s.M * s.K), rng.fill(s.K * s.N), rng.fill(s.N)];
    const runs: Uint32Array[] = [];
    for (let backend = 0; backend < 2; backend++) {
      const g = await gpuBackend();
      g.allocate({ in: bias.offset + bias.length, out: out.offset + out.length, scratch: scratch.length });
      [a, b, bias].forEach((r, i) => g.writeF(r, data[i]));
      await g.prepare(steps);
      for (let r = 0; r < 2; r++) {
        g.run(steps, values);
        runs.push(await g.readU(z));
      }
      g.destroy();
    }
    expect(runs[0].some((u) => u !== 0)).toBe(true);
    for (const r of runs.slice(1)) expect(Array.from(r)).toEqual(Array.from(runs[0]));
  });
});

describe('split-K twins', () => {
  const view = (f: Float64Array): View => ({ f, u: new Uint32Array(f.length) });
  it('partial products summed in slice order equal the plain product (float64)', () => {
    for (const [transA, transB] of [
      [false, true],
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      const s = { M: 7, N: 5, K: 45, transA, transB };
      const { kchunk, slices } = splitKSlices(s, { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4 }, 4);
      expect([kchunk, slices]).toEqual([16, 3]);
      const a = Float64Array.from(rng.fill(s.M * s.K));
      const b = Float64Array.from(rng.fill(s.K * s.N));
      const part = new Float64Array(slices * s.M * s.N);
      const consts = { M: s.M, N: s.N, K: s.K, TRANS_A: +transA, TRANS_B: +transB, SLICES: slices, KCHUNK: kchunk };
      TILED_OPS.partial.cpu(consts, { a: view(a), b: view(b), part: view(part) }, values);
      const bias = Float64Array.from(rng.fill(s.N));
      const z = new Float64Array(s.M * s.N);
      const out = new Float64Array(s.M * s.N);
      splitKReduceBiasActOp.cpu({ ...consts, ACT: 2, ALPHA: 0.1 }, { part: view(part), bias: view(bias), z: view(z), out: view(out) }, values);
      const want = new Float64Array(s.M * s.N);
      matmulCpu(s.M, s.N, s.K, transA, transB, a, b, want);
      for (let i = 0; i < want.length; i++) {
        expect(z[i]).toBeCloseTo(want[i] + bias[i % s.N], 12);
        expect(out[i]).toBe(activate(2, 0.1, z[i]));
      }
    }
  });
});

describe('the heuristic kernel per shape (a GPU before measuring)', () => {
  const pick = (M: number, N: number, K: number) => heuristicCandidate({ M, N, K }).name;
  it('picks what the H200 autotune measured best for the paper network and large squares', () => {
    expect(pick(64, 1000, 784)).toBe('splitk8 64x64 k32 t4x4'); // forward at batch 64: 16 output tiles
    expect(pick(256, 1000, 784)).toBe('splitk4 64x64 k16 t4x4');
    expect(pick(1024, 784, 1000)).toBe('splitk4 64x64 k16 t4x4');
    expect(pick(1000, 784, 64)).toBe('tiled 64x64 k16 t4x4'); // dW at batch 64: K is the batch
    expect(pick(1000, 1000, 256)).toBe('tiled 64x64 k32 t4x4');
    expect(pick(2048, 2048, 2048)).toBe('tiled 128x128 k8 t8x8');
    expect(pick(1024, 4096, 4096)).toBe('tiled 128x128 k8 t8x8'); // the wide network
  });
  it("is used on a GPU only where its workgroup fits the device's limits", () => {
    const gpu = { vendor: 'v', architecture: 'a', device: 'd', description: 'a GPU', isFallback: false };
    const small = {
      maxComputeWorkgroupStorageSize: 16384,
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 256,
      maxComputeWorkgroupSizeY: 256,
    };
    const large = { ...small, maxComputeWorkgroupStorageSize: 32768 };
    const dwB256 = { M: 1000, N: 1000, K: 256, transA: true, transB: false }; // the heuristic: tiled 64x64 BK 32, 17 KiB
    expect(tuningFor(gpu, large).matmulChoice?.(dwB256)?.name).toBe('tiled 64x64 k32 t4x4');
    expect(tuningFor(gpu, small).matmulChoice?.(dwB256)).toBeUndefined(); // the register kernel
    expect(tuningFor({ ...gpu, isFallback: true }, large).matmulChoice).toBeUndefined();
  });
  it('always answers a candidate of the list, for any shape', () => {
    for (let i = 0; i < 200; i++) {
      const c = heuristicCandidate({ M: 1 + rng.int(5000), N: 1 + rng.int(5000), K: 1 + rng.int(5000) });
      expect(MATMUL_CANDIDATES).toContain(c);
    }
  });
});

describe('matmul candidate configs', () => {
  const swiftshader = {
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
  };
  const webgpuDefault = {
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
  };
  it('every listed candidate is valid and fits SwiftShader; those within 16 KiB of workgroup memory fit the WebGPU default limits too', () => {
    // 17 KiB, 16.5 KiB, 25 KiB and 16.5 KiB (double buffered), 17 KiB
    const tooBigForDefault = [
      'tiled 64x64 k32 t4x4',
      'tiled 128x128 k16 t8x8',
      'tiled-db 128x64 k16 t8x4',
      'tiled-db 128x128 k8 t8x8',
      'splitk8 64x64 k32 t4x4',
    ];
    for (const c of MATMUL_CANDIDATES) {
      expect(candidateProblem(c)).toBeUndefined();
      expect(candidateFits(c, swiftshader)).toBe(true);
      expect(candidateFits(c, webgpuDefault)).toBe(!tooBigForDefault.includes(c.name));
    }
  });
  it('rejects workgroups beyond the limits and invalid tiles', () => {
    // Workgroup memory: 4 bytes × BK × (BM + BN + 8 floats of padding).
    const big: MatmulCandidate = { kind: 'tiled', name: 'big', tile: { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 } };
    expect(candidateFits(big, swiftshader)).toBe(true); // 16.5 KiB
    expect(candidateFits(big, webgpuDefault)).toBe(false);
    expect(candidateFits({ ...big, tile: { ...big.tile, BK: 32 } }, swiftshader)).toBe(false); // 33 KiB
    const wide: MatmulCandidate = { kind: 'tiled', name: 'wide', tile: { BM: 64, BN: 128, BK: 8, TM: 4, TN: 4 } };
    expect(candidateFits(wide, swiftshader)).toBe(false); // 512 threads
    expect(candidateFits(wide, { ...swiftshader, maxComputeInvocationsPerWorkgroup: 1024 })).toBe(true);
    expect(candidateFits(wide, { ...swiftshader, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 16 })).toBe(false);
    expect(candidateProblem({ kind: 'tiled', name: 'x', tile: { BM: 64, BN: 64, BK: 16, TM: 2, TN: 4 } })).toMatch(/4 or 8/);
    expect(candidateProblem({ kind: 'tiled', name: 'x', tile: { BM: 64, BN: 64, BK: 6, TM: 4, TN: 4 } })).toMatch(/BK/);
    expect(candidateProblem({ kind: 'splitk', name: 'x', tile: { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4 }, slices: 0 })).toMatch(/slices/);
  });
  it('counts both copies of a double-buffered tile, and at most 8 prefetched loads per thread of each operand', () => {
    const db: MatmulCandidate = { kind: 'tiled', name: 'db', tile: { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4, DB: true } };
    expect(candidateFits(db, webgpuDefault)).toBe(true); // 2 × 4 × 8 × 136 bytes = 8.5 KiB
    expect(candidateFits({ ...db, tile: { ...db.tile, BK: 16 } }, webgpuDefault)).toBe(false); // 17 KiB
    expect(candidateFits({ ...db, tile: { ...db.tile, BK: 16, DB: false } }, webgpuDefault)).toBe(true); // 8.5 KiB single
    const db128: MatmulCandidate = { kind: 'tiled', name: 'db', tile: { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, DB: true } };
    expect(candidateFits(db128, swiftshader)).toBe(false); // 33 KiB
    expect(candidateFits(db128, { ...swiftshader, maxComputeWorkgroupStorageSize: 49152 })).toBe(true);
    // 128 × 32 elements of A over 256 threads: 16 loads each.
    expect(candidateProblem({ ...db128, tile: { ...db128.tile, BK: 32 } })).toMatch(/at most 8 loads per thread .* needs 16/);
    expect(candidateProblem({ ...db128, tile: { ...db128.tile, BK: 32, DB: false } })).toBeUndefined();
  });
  it('passes DB to the tiled shader only for double-buffered candidates', () => {
    const [a, b] = regions('in', [100 * 70, 70 * 90]);
    const [c] = regions('out', [100 * 90]);
    const s = { M: 100, N: 90, K: 70, transA: true, transB: false };
    const byName = (n: string) => MATMUL_CANDIDATES.find((x) => x.name === n)!;
    const [db] = matmulWith(byName('tiled-db 128x64 k16 t8x4'), 'dW', s, { a, b, c });
    const [single] = matmulWith(byName('tiled 128x64 k16 t8x4'), 'dW', s, { a, b, c });
    expect(db.constants.DB).toBe(1);
    expect('DB' in single.constants).toBe(false);
    expect({ ...db.constants, DB: undefined }).toEqual({ ...single.constants, DB: undefined });
    expect(db.op).toBe(single.op);
  });
  it('builds one step per product, two for split-K, with vec4 loads only where runs of 4 fit', () => {
    const [a, b, bias] = regions('in', [64 * 784, 784 * 1000, 1000]);
    const [z, out] = regions('out', [64 * 1000, 64 * 1000]);
    const s = { M: 64, N: 1000, K: 784, transA: false, transB: true };
    const tiledC = MATMUL_CANDIDATES.find((c) => c.kind === 'tiled')!;
    const [one] = matmulBiasActWith(tiledC, 'fwd', s, 1, 0, { a, b, bias, z, out });
    expect(one.op.shader).toBe('matmul_tiled_vec4');
    expect(one.op.entry).toBe('main_bias_act');
    expect(one.dispatch).toEqual([Math.ceil(1000 / 64), 1, 1]);
    const split = MATMUL_CANDIDATES.find((c) => c.kind === 'splitk' && c.slices === 4)!;
    const scratch = { arena: 'scratch', offset: 0, length: candidateScratch(split, s) };
    expect(scratch.length).toBe(4 * 64 * 1000);
    const steps = matmulBiasActWith(split, 'fwd', s, 1, 0, { a, b, bias, z, out, scratch });
    expect(steps.map((p) => p.op.entry)).toEqual(['main_partial', 'main_bias_act']);
    expect(steps[0].dispatch).toEqual([16, 1, 4]);
    expect(steps[0].constants.KCHUNK).toBe(208);
    expect(steps[1].op.shader).toBe('matmul_splitk_reduce');
    expect(() => matmulBiasActWith(split, 'fwd', s, 1, 0, { a, b, bias, z, out })).toThrow(/needs a region for scratch/);
    expect(matmulWith(tiledC, 'odd', { ...s, K: 783 }, { a, b, c: z })[0].op.shader).toBe('matmul_tiled');
    // K within one slice: the one-pass kernel, no scratch.
    expect(matmulWith(split, 'short', { ...s, K: 16 }, { a, b, c: z }).map((p) => p.op.entry)).toEqual(['main']);
  });
});
