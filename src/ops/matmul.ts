// Dense-layer matmul: plan builders and CPU twins of shaders/matmul.wgsl.
//   C[M×N] = op(A)·op(B); A stored M×K row-major (K×M when transA), B stored K×N (N×K
//   when transB). The engine uses forward Z = X·Wᵀ (transB), dX = dZ·W, dW = dZᵀ·X (transA).
import { wasmBiasAct, wasmMatmul } from '../backend/cpu/wasm/runtime.ts';
import { activate } from './activations.ts';
import { ceilDiv, type BufRange, type Constants, type FloatArray, type OpDef, type PlanStep } from './op.ts';

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

/** Best of the configurations measured on SwiftShader (see src/bench/matmul.ts). */
export const DEFAULT_TILES: MatmulTiles = { TM: 8, TN: 8, WG_X: 8, WG_Y: 8 };

const MAX_TILE = 8; // the shader is written out for blocks up to 8 × 8
const MAX_WORKGROUPS = 65535;

// ---------------------------------------------------------------------------------------
// CPU twin

// Cache blocking of the product with B not transposed: a panel of KB rows × JB columns of
// B (KB·JB·8 bytes at most: 256 KiB) is reused by every row of A.
const KB = 128;
const JB = 256;
// With B transposed (dot-product form): a block of B's rows of about 256 KiB.
const DOT_FLOATS = 32768;

/**
 * c[i·N + j] = Σ_k A(i,k)·b[k·N + j] with A(i,k) = a[i·sAi + k·sAk] (B not transposed).
 * Order i-k-j on row pointers, two rows of C and two k at a time, blocked over k and j.
 */
function productAxpy(M: number, N: number, K: number, a: FloatArray, sAi: number, sAk: number, b: FloatArray, c: FloatArray): void {
  c.fill(0, 0, M * N);
  for (let j0 = 0; j0 < N; j0 += JB) {
    const j1 = Math.min(N, j0 + JB);
    for (let k0 = 0; k0 < K; k0 += KB) {
      const k1 = Math.min(K, k0 + KB);
      let i = 0;
      for (; i + 1 < M; i += 2) {
        const c0 = i * N;
        const c1 = c0 + N;
        const a0 = i * sAi;
        const a1 = a0 + sAi;
        let k = k0;
        for (; k + 1 < k1; k += 2) {
          const x00 = a[a0 + k * sAk];
          const x01 = a[a0 + (k + 1) * sAk];
          const x10 = a[a1 + k * sAk];
          const x11 = a[a1 + (k + 1) * sAk];
          const b0 = k * N;
          const b1 = b0 + N;
          for (let j = j0; j < j1; j++) {
            const y0 = b[b0 + j];
            const y1 = b[b1 + j];
            c[c0 + j] += x00 * y0 + x01 * y1;
            c[c1 + j] += x10 * y0 + x11 * y1;
          }
        }
        if (k < k1) {
          const x0 = a[a0 + k * sAk];
          const x1 = a[a1 + k * sAk];
          const b0 = k * N;
          for (let j = j0; j < j1; j++) {
            const y = b[b0 + j];
            c[c0 + j] += x0 * y;
            c[c1 + j] += x1 * y;
          }
        }
      }
      if (i < M) {
        const c0 = i * N;
        const a0 = i * sAi;
        for (let k = k0; k < k1; k++) {
          const x = a[a0 + k * sAk];
          const b0 = k * N;
          for (let j = j0; j < j1; j++) c[c0 + j] += x * b[b0 + j];
        }
      }
    }
  }
}

/**
 * c[i·N + j] = Σ_k A(i,k)·b[j·K + k] with A(i,k) = a[i·sAi + k·sAk] (B transposed: both
 * operands run along k). Dot products of a 2 × 2 block of C at a time, over blocks of B's
 * rows that stay in cache while every row of A passes.
 */
function productDot(M: number, N: number, K: number, a: FloatArray, sAi: number, sAk: number, b: FloatArray, c: FloatArray): void {
  const jb = Math.max(2, Math.floor(DOT_FLOATS / K) & ~1);
  for (let j0 = 0; j0 < N; j0 += jb) {
    const j1 = Math.min(N, j0 + jb);
    for (let i = 0; i < M; i += 2) {
      // An odd last row is computed twice (as both rows of the pair) and stored once.
      const i1 = Math.min(i + 1, M - 1);
      const a0 = i * sAi;
      const a1 = i1 * sAi;
      const c0 = i * N;
      const c1 = i1 * N;
      for (let j = j0; j < j1; j += 2) {
        const jj = Math.min(j + 1, j1 - 1);
        const b0 = j * K;
        const b1 = jj * K;
        let s00 = 0;
        let s01 = 0;
        let s10 = 0;
        let s11 = 0;
        let p0 = a0;
        let p1 = a1;
        for (let k = 0; k < K; k++) {
          const x0 = a[p0];
          const x1 = a[p1];
          const y0 = b[b0 + k];
          const y1 = b[b1 + k];
          s00 += x0 * y0;
          s01 += x0 * y1;
          s10 += x1 * y0;
          s11 += x1 * y1;
          p0 += sAk;
          p1 += sAk;
        }
        c[c0 + j] = s00;
        c[c1 + j] = s10;
        c[c0 + jj] = s01;
        c[c1 + jj] = s11;
      }
    }
  }
}

/** C = op(A)·op(B) into c (overwritten); the CPU twin's product, exported for reuse. */
export function matmulCpu(M: number, N: number, K: number, transA: boolean, transB: boolean, a: FloatArray, b: FloatArray, c: FloatArray): void {
  const sAi = transA ? 1 : K;
  const sAk = transA ? M : 1;
  if (transB) productDot(M, N, K, a, sAi, sAk, b, c);
  else productAxpy(M, N, K, a, sAi, sAk, b, c);
}

/**
 * The twins' product: the WebAssembly SIMD kernel when the views lie in the CPU backend's
 * wasm memory (float32 mode), the TypeScript matmulCpu otherwise (float64, no wasm).
 */
function product(M: number, N: number, K: number, transA: boolean, transB: boolean, a: FloatArray, b: FloatArray, c: FloatArray): void {
  if (!wasmMatmul(M, N, K, transA, transB, a, b, c)) matmulCpu(M, N, K, transA, transB, a, b, c);
}

export const matmulOp: OpDef = {
  shader: 'matmul',
  entry: 'main',
  group: 'matmul',
  cpu({ M, N, K, TRANS_A, TRANS_B }, { a, b, c }) {
    product(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, c.f);
  },
};

export const matmulBiasActOp: OpDef = {
  shader: 'matmul',
  entry: 'main_bias_act',
  group: 'matmul',
  cpu({ M, N, K, TRANS_A, TRANS_B, ACT, ALPHA }, { a, b, bias, z, out }) {
    const zf = z.f;
    const of = out.f;
    const bf = bias.f;
    product(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, zf);
    // Linear and relu in wasm SIMD (branch-free: relu's branch mispredicts on real data).
    if (wasmBiasAct(M, N, ACT, zf, bf, of)) return;
    if (zf instanceof Float32Array && bf instanceof Float32Array && of instanceof Float32Array) {
      biasAct32(M, N, ACT, ALPHA, zf, bf, of);
      return;
    }
    for (let i = 0; i < M; i++) {
      const row = i * N;
      for (let j = 0; j < N; j++) {
        zf[row + j] += bf[j];
        // Read back so the activation sees z as stored (rounded in float32 mode), as on the GPU.
        of[row + j] = activate(ACT, ALPHA, zf[row + j]);
      }
    }
  },
};

/**
 * The float32 epilogue: z = fround(z + bias), out = activate(z), exactly as the generic
 * loop above computes it, on monomorphic arrays and with the common activations written
 * out (the generic loop costs about a fifth of a 64 × 1000 × 784 product in wasm).
 */
function biasAct32(M: number, N: number, act: number, alpha: number, zf: Float32Array, bf: Float32Array, of: Float32Array): void {
  for (let i = 0; i < M; i++) {
    const row = i * N;
    if (act === 0) {
      for (let j = 0; j < N; j++) of[row + j] = zf[row + j] = Math.fround(zf[row + j] + bf[j]);
    } else if (act === 1) {
      for (let j = 0; j < N; j++) {
        const z = (zf[row + j] = Math.fround(zf[row + j] + bf[j]));
        of[row + j] = z > 0 ? z : 0;
      }
    } else if (act === 2) {
      for (let j = 0; j < N; j++) {
        const z = (zf[row + j] = Math.fround(zf[row + j] + bf[j]));
        of[row + j] = z > 0 ? z : alpha * z;
      }
    } else {
      for (let j = 0; j < N; j++) {
        const z = (zf[row + j] = Math.fround(zf[row + j] + bf[j]));
        of[row + j] = activate(act, alpha, z);
      }
    }
  }
}

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
