// AssemblyScript source of the CPU backend's float32 matmul (WebAssembly SIMD, f32x4).
// Built by `npm run build:wasm` into ../matmul-wasm.ts (base64); not part of the main
// TypeScript project (see the root tsconfig.json "exclude").
//
//   C[m×n] = op(A)·op(B) (+ C when accumulating), every matrix row-major in linear memory
//   with its own leading dimension (in floats), so a caller can hand over any block of C:
//   op(A)(i,k) = a[i·lda + k], or a[k·lda + i] when transA;
//   op(B)(k,j) = b[k·ldb + j], or b[j·ldb + k] when transB.
//
// GotoBLAS loop structure: a KC × NC block of op(B) is packed into panels NR columns wide,
// an MC × KC block of op(A) into panels MR rows tall (both zero-padded at the edges), and
// a micro-kernel multiplies one A panel by one B panel into an MR × NR tile of C held in
// v128 accumulators. The packed A block stays in L2, one B panel in L1. `scratch` is
// caller-owned memory of scratchBytes() bytes, 16-byte aligned (one per thread).

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 512;

const A_BYTES: usize = <usize>(MC * KC * 4);
const B_BYTES: usize = <usize>(KC * NC * 4);
const TILE_BYTES: usize = <usize>(MR * NR * 4);

/** Bytes of scratch memory gemm needs. */
export function scratchBytes(): i32 {
  return <i32>(A_BYTES + B_BYTES + TILE_BYTES);
}

// @ts-ignore: decorator
@inline function transpose0(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), v128.shuffle<f32>(r2, r3, 0, 4, 1, 5), 0, 1, 4, 5);
}
// @ts-ignore: decorator
@inline function transpose1(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), v128.shuffle<f32>(r2, r3, 0, 4, 1, 5), 2, 3, 6, 7);
}
// @ts-ignore: decorator
@inline function transpose2(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), v128.shuffle<f32>(r2, r3, 2, 6, 3, 7), 0, 1, 4, 5);
}
// @ts-ignore: decorator
@inline function transpose3(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), v128.shuffle<f32>(r2, r3, 2, 6, 3, 7), 2, 3, 6, 7);
}

/**
 * Four rows of a matrix, each contiguous along k (row r at p + r·ld bytes), written
 * transposed into dst: dst[k·stride + r] for r < 4 (stride in bytes), k < kc.
 */
function packRows4(p: usize, ld: usize, kc: i32, dst: usize, stride: usize): void {
  const p1 = p + ld;
  const p2 = p1 + ld;
  const p3 = p2 + ld;
  let k = 0;
  for (; k + 4 <= kc; k += 4) {
    const o = <usize>k << 2;
    const r0 = v128.load(p + o);
    const r1 = v128.load(p1 + o);
    const r2 = v128.load(p2 + o);
    const r3 = v128.load(p3 + o);
    const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
    const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
    v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
    v128.store(dst + stride, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
    v128.store(dst + 2 * stride, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
    v128.store(dst + 3 * stride, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    dst += 4 * stride;
  }
  for (; k < kc; k++) {
    const o = <usize>k << 2;
    store<f32>(dst, load<f32>(p + o));
    store<f32>(dst, load<f32>(p1 + o), 4);
    store<f32>(dst, load<f32>(p2 + o), 8);
    store<f32>(dst, load<f32>(p3 + o), 12);
    dst += stride;
  }
}

/**
 * Panel of `w` ≤ width rows (row r at p + r·ld bytes, contiguous along k) written
 * transposed and zero-padded to `width` columns: dst[k·width + r].
 */
function packRowsTail(p: usize, ld: usize, w: i32, width: i32, kc: i32, dst: usize): void {
  for (let k = 0; k < kc; k++) {
    const o = <usize>k << 2;
    const d = dst + <usize>(k * width) * 4;
    for (let r = 0; r < width; r++) {
      store<f32>(d + (<usize>r << 2), r < w ? load<f32>(p + <usize>r * ld + o) : 0);
    }
  }
}

/**
 * Rows of a matrix that are already laid out along the panel (element (k, r) at
 * p + k·ld + 4r bytes): copied into dst[k·width + r], zero-padded past w.
 */
function packCols(p: usize, ld: usize, w: i32, width: i32, kc: i32, dst: usize): void {
  const wb = <usize>width << 2;
  if (w == width) {
    if (width == 8) {
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(p));
        v128.store(dst, v128.load(p, 16), 16);
        p += ld;
        dst += 32;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let r: usize = 0; r < wb; r += 16) v128.store(dst + r, v128.load(p + r));
        p += ld;
        dst += wb;
      }
    }
    return;
  }
  for (let k = 0; k < kc; k++) {
    for (let r = 0; r < width; r++) store<f32>(dst + (<usize>r << 2), r < w ? load<f32>(p + (<usize>r << 2)) : 0);
    p += ld;
    dst += wb;
  }
}

/** Pack op(A)[i0 .. i0+mc, p0 .. p0+kc] into MR-row panels at dst. */
function packA(transA: i32, a: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32, dst: usize): void {
  const ld = <usize>lda << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const w = min(MR, mc - ir);
    const d = dst + <usize>(ir * kc) * 4;
    if (transA) {
      // op(A)(i, k) = a[k·lda + i]: a panel's k-th column is contiguous.
      packCols(a + (<usize>p0 * <usize>lda + <usize>(i0 + ir)) * 4, ld, w, MR, kc, d);
    } else {
      const p = a + (<usize>(i0 + ir) * <usize>lda + <usize>p0) * 4;
      if (w == MR) packRows4(p, ld, kc, d, <usize>MR << 2);
      else packRowsTail(p, ld, w, MR, kc, d);
    }
  }
}

/** Pack op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column panels at dst. */
function packB(transB: i32, b: usize, ldb: i32, p0: i32, j0: i32, kc: i32, nc: i32, dst: usize): void {
  const ld = <usize>ldb << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const w = min(NR, nc - jr);
    const d = dst + <usize>(jr * kc) * 4;
    if (transB) {
      // op(B)(k, j) = b[j·ldb + k]: rows of the stored B run along k.
      const p = b + (<usize>(j0 + jr) * <usize>ldb + <usize>p0) * 4;
      if (w == NR) {
        packRows4(p, ld, kc, d, <usize>NR << 2);
        packRows4(p + 4 * ld, ld, kc, d + 16, <usize>NR << 2);
      } else packRowsTail(p, ld, w, NR, kc, d);
    } else {
      packCols(b + (<usize>p0 * <usize>ldb + <usize>(j0 + jr)) * 4, ld, w, NR, kc, d);
    }
  }
}

/**
 * The MR × NR micro-kernel: tile = Σ_k ap[k] ⊗ bp[k] over packed panels, stored at c
 * (row stride ldc bytes), added to what is there when acc. 8 accumulators + 2 B vectors
 * + a broadcast + a product fit x64's 15 allocatable xmm registers in V8; unrolling k
 * (V8 then hoists every load of the body) or 5–6 rows spill and run 30–40 % slower.
 * Each element is summed in k order, then added to C: the result does not depend on
 * where the tile lies, so any split of C across threads gives identical bits.
 */
function kernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, acc: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  let k = 0;
  for (; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let x = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(x, b0));
    c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, b0));
    c11 = f32x4.add(c11, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(x, b0));
    c21 = f32x4.add(c21, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(x, b0));
    c31 = f32x4.add(c31, f32x4.mul(x, b1));
    ap += 16;
    bp += 32;
  }
  const r1 = c + ldc;
  const r2 = r1 + ldc;
  const r3 = r2 + ldc;
  if (acc) {
    c00 = f32x4.add(c00, v128.load(c));
    c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(r1));
    c11 = f32x4.add(c11, v128.load(r1, 16));
    c20 = f32x4.add(c20, v128.load(r2));
    c21 = f32x4.add(c21, v128.load(r2, 16));
    c30 = f32x4.add(c30, v128.load(r3));
    c31 = f32x4.add(c31, v128.load(r3, 16));
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(r1, c10);
  v128.store(r1, c11, 16);
  v128.store(r2, c20);
  v128.store(r2, c21, 16);
  v128.store(r3, c30);
  v128.store(r3, c31, 16);
}

/** Split n into ceil(n / max) nearly equal blocks, each a multiple of `mult`. */
function blockSize(n: i32, max: i32, mult: i32): i32 {
  const blocks = (n + max - 1) / max;
  const size = (n + blocks - 1) / blocks;
  return min(max, ((size + mult - 1) / mult) * mult);
}

/**
 * C = op(A)·op(B) for an m × n block of C (row stride ldc floats); pointers are byte
 * offsets. Overwrites C, or adds to it when accumulate is non-zero.
 */
export function gemm(
  transA: i32,
  transB: i32,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
  scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const ap = scratch;
  const bp = scratch + A_BYTES;
  const tile = bp + B_BYTES;
  const ldcb = <usize>ldc << 2;
  if (k <= 0) {
    if (!accumulate) for (let i = 0; i < m; i++) memory.fill(c + <usize>i * ldcb, 0, <usize>n << 2);
    return;
  }
  const kcMax = blockSize(k, KC, 4);
  const ncMax = blockSize(n, NC, NR);
  const mcMax = blockSize(m, MC, MR);
  for (let jc = 0; jc < n; jc += ncMax) {
    const nc = min(ncMax, n - jc);
    for (let pc = 0; pc < k; pc += kcMax) {
      const kc = min(kcMax, k - pc);
      const acc = accumulate | <i32>(pc > 0);
      packB(transB, b, ldb, pc, jc, kc, nc, bp);
      for (let ic = 0; ic < m; ic += mcMax) {
        const mc = min(mcMax, m - ic);
        packA(transA, a, lda, ic, pc, mc, kc, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bpanel = bp + <usize>(jr * kc) * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const apanel = ap + <usize>(ir * kc) * 4;
            const cp = c + (<usize>(ic + ir) * <usize>ldc + <usize>(jc + jr)) * 4;
            if (mr == MR && nr == NR) {
              kernel(kc, apanel, bpanel, cp, ldcb, acc);
            } else {
              kernel(kc, apanel, bpanel, tile, <usize>NR << 2, 0);
              for (let i = 0; i < mr; i++) {
                const src = tile + <usize>(i * NR) * 4;
                const dst = cp + <usize>i * ldcb;
                for (let j = 0; j < nr; j++) {
                  const o = <usize>j << 2;
                  const v = load<f32>(src + o);
                  store<f32>(dst + o, acc ? load<f32>(dst + o) + v : v);
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * The fused layer's epilogue for an m × n block, row-major (byte offsets): z += bias
 * (broadcast over rows), out = relu(z) when relu, else z. f32 addition here rounds
 * exactly as the TypeScript twin's fround(z + b) does (a double sum of two floats,
 * rounded once more, is the correctly rounded float sum), and relu keeps z > 0 ? z : 0
 * (NaN and −0 give +0).
 */
export function biasAct(m: i32, n: i32, z: usize, bias: usize, out: usize, relu: i32): void {
  const zero = f32x4.splat(0);
  const rowBytes = <usize>n << 2;
  for (let i = 0; i < m; i++) {
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const v = f32x4.add(v128.load(z + o), v128.load(bias + o));
      v128.store(z + o, v);
      v128.store(out + o, relu ? v128.and(v, f32x4.gt(v, zero)) : v);
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      const v: f32 = load<f32>(z + o) + load<f32>(bias + o);
      store<f32>(z + o, v);
      store<f32>(out + o, relu ? (v > 0 ? v : 0) : v);
    }
    z += rowBytes;
    out += rowBytes;
  }
}
