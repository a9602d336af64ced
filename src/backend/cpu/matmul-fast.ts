// The CPU backend's fast matmul: WebAssembly SIMD when the operands lie in the backend's
// wasm memory (float32 arenas), otherwise cache-blocked TypeScript loops. The plain twin
// in src/ops/matmul.ts is the reference both are tested against (test/cpu-wasm.test.ts).
import { activate } from '../../ops/activations.ts';
import { biasActCpu } from '../../ops/matmul.ts';
import type { Constants, FloatArray, StepValues, View } from '../../ops/op.ts';
import { wasmBiasAct, wasmMatmul } from './wasm/runtime.ts';

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

/** C = op(A)·op(B) into c (overwritten), cache-blocked. */
export function matmulBlocked(M: number, N: number, K: number, transA: boolean, transB: boolean, a: FloatArray, b: FloatArray, c: FloatArray): void {
  const sAi = transA ? 1 : K;
  const sAk = transA ? M : 1;
  if (transB) productDot(M, N, K, a, sAi, sAk, b, c);
  else productAxpy(M, N, K, a, sAi, sAk, b, c);
}

function product(M: number, N: number, K: number, transA: boolean, transB: boolean, a: FloatArray, b: FloatArray, c: FloatArray): void {
  if (!wasmMatmul(M, N, K, transA, transB, a, b, c)) matmulBlocked(M, N, K, transA, transB, a, b, c);
}

export type CpuKernel = (c: Constants, b: Record<string, View>, step: StepValues) => void;

/** matmul:main — same contract as the twin. */
export const fastMatmul: CpuKernel = ({ M, N, K, TRANS_A, TRANS_B }, { a, b, c }) => {
  product(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, c.f);
};

/** matmul:main_bias_act — same contract as the twin; `zeros` as in biasActFast. */
export function fastMatmulBiasAct(
  { M, N, K, TRANS_A, TRANS_B, ACT, ALPHA }: Constants,
  { a, b, bias, z, out }: Record<string, View>,
  _step?: StepValues,
  zeros?: Int32Array,
): void {
  product(M, N, K, TRANS_A !== 0, TRANS_B !== 0, a.f, b.f, z.f);
  biasActFast(M, N, ACT, ALPHA, z.f, bias.f, out.f, zeros);
}

/**
 * The fused epilogue z += bias, out = act(z), as the twin's biasActCpu computes it. With
 * `zeros`, each column's exact zeros in out are added to zeros[column] in the same pass
 * (the telemetry's zero counts and active flags come from them).
 */
export function biasActFast(M: number, N: number, ACT: number, ALPHA: number, zf: FloatArray, bf: FloatArray, of: FloatArray, zeros?: Int32Array): void {
  // Linear and relu in wasm SIMD (branch-free: relu's branch mispredicts on real data).
  if (wasmBiasAct(M, N, ACT, zf, bf, of, zeros)) return;
  if (zf instanceof Float32Array && bf instanceof Float32Array && of instanceof Float32Array) biasAct32(M, N, ACT, ALPHA, zf, bf, of);
  else biasActCpu(M, N, ACT, ALPHA, zf, bf, of);
  if (zeros) for (let i = 0; i < M; i++) for (let j = 0, k = i * N; j < N; j++, k++) zeros[j] += +(of[k] === 0);
}

/**
 * The float32 epilogue: z = fround(z + bias), out = activate(z), exactly as the twin's
 * biasActCpu computes it, on monomorphic arrays and with the common activations written
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
