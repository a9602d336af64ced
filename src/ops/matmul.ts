// Dense-layer matmul: plan builders and CPU twins of shaders/matmul.wgsl.
//   C[M×N] = op(A)·op(B); A stored M×K row-major (K×M when transA), B stored K×N (N×K
//   when transB). The engine uses forward Z = X·Wᵀ (transB), dX = dZ·W, dW = dZᵀ·X (transA).
import { activate } from './activations.ts';
import { ceilDiv, MAX_WORKGROUPS, type BufRange, type Constants, type FloatArray, type OpDef, type PlanStep } from './op.ts';

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

/**
 * Register-tile configuration of the GPU kernel: each thread computes a TM × TN block of C
 * (each at most 8), a workgroup is WG_X × WG_Y threads (WG_X along the columns).
 */
export interface MatmulTiles {
  TM: number;
  TN: number;
  WG_X: number;
  WG_Y: number;
}

/** Best of the configurations measured on SwiftShader (see bench/matmul.ts). */
export const DEFAULT_TILES: MatmulTiles = { TM: 8, TN: 8, WG_X: 8, WG_Y: 8 };

const MAX_TILE = 8; // the shader is written out for blocks up to 8 × 8

// ---------------------------------------------------------------------------------------
// CPU twin: the plain triple loop, the reference the WGSL kernels and the CPU backend's
// fast paths (src/backend/cpu: blocked loops, WebAssembly SIMD, threads) are checked against.

/** C = op(A)·op(B) into c (overwritten). */
export function matmulCpu(M: number, N: number, K: number, transA: boolean, transB: boolean, a: FloatArray, b: FloatArray, c: FloatArray): void {
  const aRow = transA ? 1 : K;
  const aK = transA ? M : 1;
  const bK = transB ? 1 : N;
  const bCol = transB ? K : 1;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * aRow + k * aK] * b[k * bK + j * bCol];
      c[i * N + j] = s;
    }
  }
}

/** z += bias (broadcast over rows), stored first so the activation sees z as stored (rounded in float32), as on the GPU. */
export function biasActCpu(M: number, N: number, act: number, alpha: number, z: FloatArray, bias: FloatArray, out: FloatArray): void {
  for (let i = 0; i < M; i++) {
    const row = i * N;
    for (let j = 0; j < N; j++) {
      z[row + j] += bias[j];
      out[row + j] = activate(act, alpha, z[row + j]);
    }
  }
}

export const matmulOp: OpDef = {
  shader: 'matmul',
  entry: 'main',
  group: 'matmul',
  cpu({ M, N, K, TRANS_A, TRANS_B }, { a, b, c }) {
    matmulCpu(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, c.f);
  },
};

export const matmulBiasActOp: OpDef = {
  shader: 'matmul',
  entry: 'main_bias_act',
  group: 'matmul',
  cpu({ M, N, K, TRANS_A, TRANS_B, ACT, ALPHA }, { a, b, bias, z, out }) {
    matmulCpu(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, z.f);
    biasActCpu(M, N, ACT, ALPHA, z.f, bias.f, out.f);
  },
};

export const matmulSumsqOp: OpDef = {
  shader: 'matmul',
  entry: 'main_sumsq',
  group: 'matmul',
  cpu({ M, N, K, TRANS_A, TRANS_B, TM, TN, WG_X, WG_Y }, { a, b, c, part }) {
    matmulCpu(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, c.f);
    const tilesN = ceilDiv(N, WG_X * TN);
    const tilesM = ceilDiv(M, WG_Y * TM);
    // Each thread's block: rows row0 + i·WG_Y, columns col0 + j·WG_X, in the kernel's order.
    for (let tm = 0; tm < tilesM; tm++)
      for (let tn = 0; tn < tilesN; tn++)
        for (let ly = 0; ly < WG_Y; ly++)
          for (let lx = 0; lx < WG_X; lx++) {
            let q = 0;
            for (let i = 0; i < TM; i++) {
              const r = tm * WG_Y * TM + ly + i * WG_Y;
              if (r >= M) continue;
              for (let j = 0; j < TN; j++) {
                const col = tn * WG_X * TN + lx + j * WG_X;
                if (col < N) q += c.f[r * N + col] ** 2;
              }
            }
            part.f[((tm * tilesN + tn) * WG_Y + ly) * WG_X + lx] = q;
          }
  },
};

/** Floats of partials matmulSumsq writes: one per thread of every workgroup. */
export const matmulSumsqScratch = ({ M, N }: Pick<MatmulShape, 'M' | 'N'>, { TM, TN, WG_X, WG_Y }: MatmulTiles = DEFAULT_TILES) =>
  ceilDiv(M, WG_Y * TM) * ceilDiv(N, WG_X * TN) * WG_X * WG_Y;

// ---------------------------------------------------------------------------------------
// Plan builders

function checkShape(label: string, { M, N, K }: MatmulShape, tiles: MatmulTiles): void {
  for (const [k, v] of Object.entries({ M, N, K })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${label}: matmul ${k} must be a positive integer, not ${v}`);
  }
  for (const [k, v] of Object.entries(tiles)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${label}: matmul tile ${k} must be a positive integer, not ${v}`);
  }
  if (tiles.TM > MAX_TILE || tiles.TN > MAX_TILE) throw new Error(`${label}: matmul tiles TM, TN must be at most ${MAX_TILE}`);
}

function checkRange(label: string, name: string, r: BufRange, need: number): void {
  if (r.length < need) throw new Error(`${label}: matmul binding ${name} holds ${r.length} floats but needs ${need}`);
}

function build(label: string, op: OpDef, shape: MatmulShape, tiles: MatmulTiles, extra: Constants, bindings: Record<string, BufRange>): PlanStep {
  checkShape(label, shape, tiles);
  const { M, N, K, transA, transB } = shape;
  const { TM, TN, WG_X, WG_Y } = tiles;
  checkRange(label, 'a', bindings.a, M * K);
  checkRange(label, 'b', bindings.b, K * N);
  const tilesN = ceilDiv(N, WG_X * TN);
  const tilesM = ceilDiv(M, WG_Y * TM);
  if (tilesN > MAX_WORKGROUPS) throw new Error(`${label}: matmul N = ${N} needs ${tilesN} workgroups along x (at most ${MAX_WORKGROUPS})`);
  // Row tiles beyond 65535 spill into z: row tile = wid.y + wid.z · GRID_Y.
  const gridZ = ceilDiv(tilesM, MAX_WORKGROUPS);
  const gridY = ceilDiv(tilesM, gridZ);
  return {
    op,
    label,
    constants: { M, N, K, TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, TM, TN, WG_X, WG_Y, GRID_Y: gridY, ...extra },
    bindings,
    dispatch: [tilesN, gridY, gridZ],
  };
}

/** C[M×N] = op(A)·op(B). */
export function matmul(label: string, shape: MatmulShape, io: { a: BufRange; b: BufRange; c: BufRange }, tiles: MatmulTiles = DEFAULT_TILES): PlanStep {
  checkRange(label, 'c', io.c, shape.M * shape.N);
  return build(label, matmulOp, shape, tiles, {}, { a: io.a, b: io.b, c: io.c });
}

/**
 * C[M×N] = op(A)·op(B), and the sum of squares of C in partials (matmulSumsqScratch floats,
 * one per thread: what it stored), so that ‖C‖² needs no pass over C (a gradient's norm).
 */
export function matmulSumsq(
  label: string,
  shape: MatmulShape,
  io: { a: BufRange; b: BufRange; c: BufRange; part: BufRange },
  tiles: MatmulTiles = DEFAULT_TILES,
): PlanStep {
  checkRange(label, 'c', io.c, shape.M * shape.N);
  checkRange(label, 'part', io.part, matmulSumsqScratch(shape, tiles));
  return build(label, matmulSumsqOp, shape, tiles, {}, { ...io });
}

/** z = op(A)·op(B) + bias (broadcast over rows), out = activate(act, alpha, z). */
export function matmulBiasAct(
  label: string,
  shape: MatmulShape,
  act: number,
  alpha: number,
  io: { a: BufRange; b: BufRange; bias: BufRange; z: BufRange; out: BufRange },
  tiles: MatmulTiles = DEFAULT_TILES,
): PlanStep {
  if (!Number.isInteger(act) || act < 0 || act > 6) throw new Error(`${label}: activation id ${act} is not one of 0..6`);
  checkRange(label, 'bias', io.bias, shape.N);
  checkRange(label, 'z', io.z, shape.M * shape.N);
  checkRange(label, 'out', io.out, shape.M * shape.N);
  return build(label, matmulBiasActOp, shape, tiles, { ACT: act, ALPHA: alpha }, { ...io });
}
