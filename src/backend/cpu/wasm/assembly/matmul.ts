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

/**
 * c + a·b per lane: one fused multiply-add where built with relaxed SIMD (the engine may
 * round once, as FMA hardware does, or twice), else a multiply then an add (rounded twice,
 * as the TypeScript twin rounds). Every product of the kernels goes through here.
 */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** madd for one float (the scalar tails and the scatter), fused exactly when madd is. */
// @ts-ignore: decorator
@inline function madd1(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  return c + a * b;
}

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
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(ap, 4);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(ap, 8);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(ap, 12);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
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
export function biasAct(m: i32, n: i32, z: usize, bias: usize, out: usize, relu: i32, zeros: usize): void {
  // One loop per case (the constant flags fold away).
  if (relu) {
    if (zeros) biasActLoop(m, n, z, bias, out, zeros, true, true);
    else biasActLoop(m, n, z, bias, out, 0, true, false);
  } else if (zeros) biasActLoop(m, n, z, bias, out, zeros, false, true);
  else biasActLoop(m, n, z, bias, out, 0, false, false);
}

/**
 * biasAct four rows at a time: each bias vector and each column's zero counts are loaded
 * (and the counts stored) once per four rows. Row by row, the counts' load and store made
 * the zero counting cost the epilogue +25 % (+13 µs a call on a 64 × 1000 layer).
 */
// @ts-ignore: decorator
@inline function biasActLoop(m: i32, n: i32, z: usize, bias: usize, out: usize, zeros: usize, relu: bool, count: bool): void {
  const zero = f32x4.splat(0);
  const rowBytes = <usize>n << 2;
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const z1 = z + rowBytes;
    const z2 = z1 + rowBytes;
    const z3 = z2 + rowBytes;
    const o1 = out + rowBytes;
    const o2 = o1 + rowBytes;
    const o3 = o2 + rowBytes;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const b = v128.load(bias + o);
      const v0 = f32x4.add(v128.load(z + o), b);
      const v1 = f32x4.add(v128.load(z1 + o), b);
      const v2 = f32x4.add(v128.load(z2 + o), b);
      const v3 = f32x4.add(v128.load(z3 + o), b);
      v128.store(z + o, v0);
      v128.store(z1 + o, v1);
      v128.store(z2 + o, v2);
      v128.store(z3 + o, v3);
      const r0 = relu ? v128.and(v0, f32x4.gt(v0, zero)) : v0;
      const r1 = relu ? v128.and(v1, f32x4.gt(v1, zero)) : v1;
      const r2 = relu ? v128.and(v2, f32x4.gt(v2, zero)) : v2;
      const r3 = relu ? v128.and(v3, f32x4.gt(v3, zero)) : v3;
      v128.store(out + o, r0);
      v128.store(o1 + o, r1);
      v128.store(o2 + o, r2);
      v128.store(o3 + o, r3);
      if (count) {
        // eq is −1 in the lanes that are exactly zero: subtracting it counts them.
        const e = i32x4.add(i32x4.add(f32x4.eq(r0, zero), f32x4.eq(r1, zero)), i32x4.add(f32x4.eq(r2, zero), f32x4.eq(r3, zero)));
        v128.store(zeros + o, i32x4.sub(v128.load(zeros + o), e));
      }
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      biasActOne(z + o, bias + o, out + o, zeros + o, relu, count);
      biasActOne(z1 + o, bias + o, o1 + o, zeros + o, relu, count);
      biasActOne(z2 + o, bias + o, o2 + o, zeros + o, relu, count);
      biasActOne(z3 + o, bias + o, o3 + o, zeros + o, relu, count);
    }
    z += rowBytes << 2;
    out += rowBytes << 2;
  }
  for (; i < m; i++) {
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const v = f32x4.add(v128.load(z + o), v128.load(bias + o));
      v128.store(z + o, v);
      const r = relu ? v128.and(v, f32x4.gt(v, zero)) : v;
      v128.store(out + o, r);
      if (count) v128.store(zeros + o, i32x4.sub(v128.load(zeros + o), f32x4.eq(r, zero)));
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      biasActOne(z + o, bias + o, out + o, zeros + o, relu, count);
    }
    z += rowBytes;
    out += rowBytes;
  }
}

/** biasAct's one element (the columns past the last whole f32x4). */
// @ts-ignore: decorator
@inline function biasActOne(z: usize, bias: usize, out: usize, zeros: usize, relu: bool, count: bool): void {
  const v: f32 = load<f32>(z) + load<f32>(bias);
  store<f32>(z, v);
  const r: f32 = relu ? (v > 0 ? v : 0) : v;
  store<f32>(out, r);
  if (count && r == 0) store<i32>(zeros, load<i32>(zeros) + 1);
}

// ---------------------------------------------------------------------------------------
// Telemetry's sums of squares and the parameter update, which the CPU backend fuses where
// they read the same data (src/backend/cpu/fusion.ts). The update is computed in f32, as
// its twin and the WGSL compute it (the twin's bits exactly); the sums of squares are f32
// within short blocks and f64 across them (SQ_BLOCK), within about 1e-6 of the twins'.

/**
 * Squares are summed in f32x4 over blocks of SQ_BLOCK turns (each lane at most 16 terms),
 * and each block's sums widened into f64 sums: 2 operations per 4 floats inside a block
 * where widening each square costs 7 (two promotes, a shuffle, two multiplies, two adds),
 * and made the sum of squares cost the momentum update 15–20 % more, now 5–6 % (2.8 M
 * parameters, two threads, 2-core Zen 5, 2026-12-01). Each result is within about 1e-6 of
 * the exact sum, relative (16 rounded f32 additions of rounded squares at worst; the f32
 * stats slot it lands in rounds by 6e-8).
 */
const SQ_BLOCK = 16;

// @ts-ignore: decorator
@inline function widenLow(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
// @ts-ignore: decorator
@inline function widenHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
}
/** A block's four f32 sums (q) added into two f64 sums (s): the end of a block of squares. */
// @ts-ignore: decorator
@inline function addWidened(s: v128, q: v128): v128 {
  return f64x2.add(s, f64x2.add(widenLow(q), widenHigh(q)));
}

/** Σ x[i]² over n floats at x (byte offset): f32 within blocks, f64 across them (see SQ_BLOCK), as updateLoop sums Σ g². */
export function sumsq(x: usize, n: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let i = 0;
  const whole = n & ~7;
  while (i < whole) {
    const end = min(whole, i + 8 * SQ_BLOCK);
    let q0 = f32x4.splat(0);
    let q1 = f32x4.splat(0);
    for (; i < end; i += 8) {
      const o = <usize>i << 2;
      const v = v128.load(x + o);
      const w = v128.load(x + o, 16);
      q0 = f32x4.add(q0, f32x4.mul(v, v));
      q1 = f32x4.add(q1, f32x4.mul(w, w));
    }
    s0 = addWidened(s0, q0);
    s1 = addWidened(s1, q1);
  }
  const v = f64x2.add(s0, s1);
  let s = f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
  for (; i < n; i++) {
    const e = <f64>load<f32>(x + (<usize>i << 2));
    s += e * e;
  }
  return s;
}

/**
 * Plain SGD (m = 0) or momentum (m ≠ 0, the moment at m) over n parameters at p with
 * gradients at g: g' = g·clip + wd·p; momentum: m = mu·m + g', p −= lr·m; SGD: p −= lr·g'.
 * Returns Σ g² (the raw gradients) when sq, else 0.
 *
 * Every parameter is read and written, zero gradient or not. Plain SGD could leave blocks
 * whose gradients are all +0 as they are (the same bits, without weight decay): about
 * 40 % of 16-float blocks on the sparse workload (dead units' rows, and weights no example
 * of the step had both ends of active). Measured on 2026-12-01 (2-core Zen 5), that pass
 * ran 2–7 % slower, not faster: the hardware prefetcher streams the skipped lines anyway,
 * and the test per block costs. Momentum has almost nothing to skip: its moments are +0
 * only at a run's start and for long-dead units (2 % of the blocks after 1,000 steps).
 * Fusing the update into the sparse dW products (each row of dW updated while in L1, the
 * product run after the step's last read of its weights) measured no faster either
 * (0.95–1.01× on the sparse workload at batch 64, 2026-12-01), even with dW never written
 * to memory: the parameters and moments still stream, in shorter runs.
 */
export function update(p: usize, g: usize, m: usize, n: i32, lr: f64, mu: f64, wd: f64, clip: f64, sq: i32): f64 {
  // One loop per case, so that no test is left inside it (the constant flags fold away).
  if (m) return sq ? updateLoop(p, g, m, n, lr, mu, wd, clip, true, true) : updateLoop(p, g, m, n, lr, mu, wd, clip, true, false);
  return sq ? updateLoop(p, g, 0, n, lr, mu, wd, clip, false, true) : updateLoop(p, g, 0, n, lr, mu, wd, clip, false, false);
}

/**
 * update() with momentum and the sum of squares fixed, 8 parameters a turn, Σ g² in four
 * f64x2 sums. Measured (2026-12-01, 2-core Zen 5) against one loop of 4 that tested both
 * flags inside, with two f64x2 sums: the whole sparse step at batch 64 ran 6–11 % faster
 * (momentum or SGD, telemetry on or off); the dense step, whose products dominate, the same.
 */
// @ts-ignore: decorator
@inline function updateLoop(p: usize, g: usize, m: usize, n: i32, lr: f64, mu: f64, wd: f64, clip: f64, mom: bool, sq: bool): f64 {
  // Every operation rounds to f32 (no fused multiply-add, even in the relaxed build).
  const lr32 = <f32>lr;
  const mu32 = <f32>mu;
  const wd32 = <f32>wd;
  const clip32 = <f32>clip;
  const vlr = f32x4.splat(lr32);
  const vmu = f32x4.splat(mu32);
  const vwd = f32x4.splat(wd32);
  const vclip = f32x4.splat(clip32);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let i = 0;
  const whole = n & ~7;
  while (i < whole) {
    // A block of SQ_BLOCK turns: its squares in f32x4, widened into the f64 sums after it.
    const end = min(whole, i + 8 * SQ_BLOCK);
    let q0 = f32x4.splat(0);
    let q1 = f32x4.splat(0);
    for (; i < end; i += 8) {
      const o = <usize>i << 2;
      const g0 = v128.load(g + o);
      const g1 = v128.load(g + o, 16);
      const p0 = v128.load(p + o);
      const p1 = v128.load(p + o, 16);
      let t0 = f32x4.add(f32x4.mul(g0, vclip), f32x4.mul(vwd, p0));
      let t1 = f32x4.add(f32x4.mul(g1, vclip), f32x4.mul(vwd, p1));
      if (mom) {
        t0 = f32x4.add(f32x4.mul(vmu, v128.load(m + o)), t0);
        t1 = f32x4.add(f32x4.mul(vmu, v128.load(m + o, 16)), t1);
        v128.store(m + o, t0);
        v128.store(m + o, t1, 16);
      }
      v128.store(p + o, f32x4.sub(p0, f32x4.mul(vlr, t0)));
      v128.store(p + o, f32x4.sub(p1, f32x4.mul(vlr, t1)), 16);
      if (sq) {
        q0 = f32x4.add(q0, f32x4.mul(g0, g0));
        q1 = f32x4.add(q1, f32x4.mul(g1, g1));
      }
    }
    if (sq) {
      s0 = addWidened(s0, q0);
      s1 = addWidened(s1, q1);
    }
  }
  const v = f64x2.add(s0, s1);
  let s = f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const pi = load<f32>(p + o);
    let t: f32 = gi * clip32 + wd32 * pi;
    if (mom) {
      t = mu32 * load<f32>(m + o) + t;
      store<f32>(m + o, t);
    }
    store<f32>(p + o, pi - lr32 * t);
    if (sq) s += <f64>gi * <f64>gi;
  }
  return s;
}

/**
 * The activation backward under a relu, as its TypeScript twin computes it in doubles:
 * d = (d + l1·(mask ? mask[i mod units] : 1)·sign(a)) · (z > 0 ? 1 : 0), rounded to f32,
 * over n elements (byte offsets; mask 0 for none). sign keeps ±0 and NaN as Math.sign does.
 */
export function reluBackward(n: i32, l1: f64, z: usize, a: usize, d: usize, mask: usize, units: i32): void {
  // No branches: z's and a's signs are close to random, and a mispredicted branch per
  // element costs several times the arithmetic (V8 turns a float select into a branch).
  // relu′ is the f64 of (z > 0), 1 or 0, multiplied in as the twin does. Four elements a
  // turn: f32 lanes where that is exact (no L1 term: d·1 and d·0 round alike in f32 and
  // f64), else two f64x2 halves with the twin's operations in its order. Against one
  // element a turn: 0.12–0.14 → 0.06 ms a hidden layer at batch 64 (2-core Zen 5,
  // 2026-12-01), the sparse step 2–3 % faster.
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  if (l1 == 0) {
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(d + o, f32x4.mul(v128.load(d + o), reluGate(v128.load(z + o), zero, one)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(d + o, <f32>(<f64>load<f32>(d + o) * <f64>(load<f32>(z + o) > 0)));
    }
    return;
  }
  const vl1 = f64x2.splat(l1);
  if (!mask) {
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      reluTurn(<usize>i << 2, z, a, d, vl1, vl1, zero, one);
    }
    for (; i < n; i++) reluOne(<usize>i << 2, l1, 1, z, a, d);
    return;
  }
  if (units <= 0 || n % units != 0) {
    // Not whole rows: one element at a time, the mask's unit cycling.
    let u = 0;
    for (let i = 0; i < n; i++) {
      reluOne(<usize>i << 2, l1, <f64>load<f32>(mask + (<usize>u << 2)), z, a, d);
      u = select<i32>(0, u + 1, u + 1 == units);
    }
    return;
  }
  const rowBytes = <usize>units << 2;
  for (let row = 0; row < n / units; row++) {
    let j = 0;
    for (; j + 4 <= units; j += 4) {
      const o = <usize>j << 2;
      const mv = v128.load(mask + o);
      reluTurn(o, z, a, d, f64x2.mul(vl1, widenLow(mv)), f64x2.mul(vl1, widenHigh(mv)), zero, one);
    }
    for (; j < units; j++) reluOne(<usize>j << 2, l1, <f64>load<f32>(mask + (<usize>j << 2)), z, a, d);
    z += rowBytes;
    a += rowBytes;
    d += rowBytes;
  }
}

/** One element of reluBackward at byte offset o, the L1 term l1 · m · sign(a) (m: the unit's mask, or 1). */
// @ts-ignore: decorator
@inline function reluOne(o: usize, l1: f64, m: f64, z: usize, a: usize, d: usize): void {
  const g = <f64>load<f32>(d + o) + l1 * m * signOf(load<u32>(a + o));
  store<f32>(d + o, <f32>(g * <f64>(load<f32>(z + o) > 0)));
}

/**
 * Four elements of reluBackward at byte offset o with the L1 term in f64: l1lo, l1hi the
 * lanes' factors (l1, or l1 · the unit's mask, as the twin multiplies them first).
 */
// @ts-ignore: decorator
@inline function reluTurn(o: usize, z: usize, a: usize, d: usize, l1lo: v128, l1hi: v128, zero: v128, one: v128): void {
  const s = signsOf(v128.load(a + o));
  const t = reluGate(v128.load(z + o), zero, one);
  const dv = v128.load(d + o);
  const lo = f64x2.mul(f64x2.add(widenLow(dv), f64x2.mul(l1lo, widenLow(s))), widenLow(t));
  const hi = f64x2.mul(f64x2.add(widenHigh(dv), f64x2.mul(l1hi, widenHigh(s))), widenHigh(t));
  v128.store(d + o, narrow(lo, hi));
}

/** relu′ per lane as f32: 1 where z > 0, else 0 (NaN included). */
// @ts-ignore: decorator
@inline function reluGate(z: v128, zero: v128, one: v128): v128 {
  return v128.and(f32x4.gt(z, zero), one);
}

/** signOf per lane: ±1, or the value itself when ±0 or NaN. */
// @ts-ignore: decorator
@inline function signsOf(v: v128): v128 {
  const mag = v128.and(v, i32x4.splat(0x7fffffff));
  const itself = v128.or(i32x4.eq(mag, i32x4.splat(0)), i32x4.gt_s(mag, i32x4.splat(0x7f800000)));
  return v128.bitselect(v, v128.or(v128.and(v, i32x4.splat(0x80000000)), i32x4.splat(0x3f800000)), itself);
}

/** Two f64x2 rounded to f32 (as <f32> rounds) into one f32x4: lo's lanes, then hi's. */
// @ts-ignore: decorator
@inline function narrow(lo: v128, hi: v128): v128 {
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** Math.sign of the f32 with these bits, on the bits (an integer select): itself when ±0 or NaN, else ±1. */
// @ts-ignore: decorator
@inline function signOf(bits: u32): f64 {
  const mag = bits & 0x7fffffff;
  return <f64>reinterpret<f32>(select<u32>(bits, (bits & 0x80000000) | 0x3f800000, (mag == 0) | (mag > 0x7f800000)));
}

/** out[j] = Σ_i x[i·cols + j] over rows × cols (byte offsets), summed in f32 in row order. */
export function colSums(rows: i32, cols: i32, x: usize, out: usize): void {
  memory.fill(out, 0, <usize>cols << 2);
  const rowBytes = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const row = x + <usize>i * rowBytes;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const o = <usize>j << 2;
      v128.store(out + o, f32x4.add(v128.load(out + o), v128.load(row + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(out + o, load<f32>(out + o) + load<f32>(row + o));
    }
  }
}

/**
 * update() over chunk i of a chunked update: the chunk's first and last parameter and
 * whether to sum its squares read as i32 at table + 12·i; lr, mu, wd and clip as f64 at
 * args; its Σ g² stored as f64 at out + 8·i, then 1 as i32 at done + 4·i (a chunk left
 * unmarked was not run, and the caller runs it: an update must not run twice).
 */
export function updateChunk(p: usize, g: usize, m: usize, table: usize, i: i32, args: usize, out: usize, done: usize): void {
  const t = table + <usize>i * 12;
  const from = load<i32>(t);
  const o = <usize>from << 2;
  const s = update(p + o, g + o, m ? m + o : 0, load<i32>(t, 4) - from, load<f64>(args), load<f64>(args, 8), load<f64>(args, 16), load<f64>(args, 24), load<i32>(t, 8));
  store<f64>(out + (<usize>i << 3), s);
  store<i32>(done + (<usize>i << 2), 1);
}

// ---------------------------------------------------------------------------------------
// Sparse-aware products for rectifier activations: C = op(A)·op(B) summing only over the
// nonzeros of op(A). op(A)'s rows are first compacted into lists of (column, value)
// (compactRows); C's row i is then Σ over row i's list of value · (row `column` of op(B)),
// an axpy of contiguous rows of a row-major op(B) (transposeInto makes one when B is
// stored transposed). Each element of C is summed in increasing column order of op(A).

/**
 * The nonzeros of op(A) (m × k; op(A)(i, j) = a[i·lda + j], or a[j·lda + i] when transA),
 * row by row: cnt[i] entries at idx[i·k + t] (column, u32) and val[i·k + t] (value).
 * Returns the total count. NaN counts as nonzero (it must reach C as in the dense product).
 */
export function compactRows(transA: i32, m: i32, k: i32, a: usize, lda: i32, cnt: usize, idx: usize, val: usize): i32 {
  const zero = f32x4.splat(0);
  let total = 0;
  const ld = <usize>lda << 2;
  if (!transA) {
    for (let i = 0; i < m; i++) {
      const row = a + <usize>i * ld;
      const base = <usize>i * <usize>k;
      let p = 0;
      let j = 0;
      // 16 at a time: one bit per nonzero, then one append per set bit. At relu densities
      // most blocks of 16 are all zero, and the cost follows the nonzeros, not k.
      for (; j + 16 <= k; j += 16) {
        let bits = nonzeroBits16(row + (<usize>j << 2), zero);
        while (bits != 0) {
          const t = ctz(bits);
          const o = (base + <usize>p) << 2;
          store<u32>(idx + o, j + t);
          store<f32>(val + o, load<f32>(row + (<usize>(j + t) << 2)));
          p++;
          bits &= bits - 1;
        }
      }
      // Branch-free append: the slot is always written, the count moves on nonzeros only.
      for (; j < k; j++) {
        const x = load<f32>(row + (<usize>j << 2));
        const o = (base + <usize>p) << 2;
        store<u32>(idx + o, j);
        store<f32>(val + o, x);
        p += <i32>(x != 0);
      }
      store<i32>(cnt + (<usize>i << 2), p);
      total += p;
    }
    return total;
  }
  memory.fill(cnt, 0, <usize>m << 2);
  for (let j = 0; j < k; j++) {
    const row = a + <usize>j * ld;
    let i = 0;
    for (; i + 16 <= m; i += 16) {
      let bits = nonzeroBits16(row + (<usize>i << 2), zero);
      while (bits != 0) {
        const r = i + ctz(bits);
        const cp = cnt + (<usize>r << 2);
        const p = load<i32>(cp);
        const o = (<usize>r * <usize>k + <usize>p) << 2;
        store<u32>(idx + o, j);
        store<f32>(val + o, load<f32>(row + (<usize>r << 2)));
        store<i32>(cp, p + 1);
        total++;
        bits &= bits - 1;
      }
    }
    for (; i < m; i++) {
      const x = load<f32>(row + (<usize>i << 2));
      const cp = cnt + (<usize>i << 2);
      const p = load<i32>(cp);
      const o = (<usize>i * <usize>k + <usize>p) << 2;
      store<u32>(idx + o, j);
      store<f32>(val + o, x);
      const nz = <i32>(x != 0);
      store<i32>(cp, p + nz);
      total += nz;
    }
  }
  return total;
}

/** Nonzeros among n floats at a (byte offset); NaN counts, −0 does not (as in compactRows). */
export function countNonzeros(a: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let total = 0;
  let i = 0;
  for (; i + 16 <= n; i += 16) total += popcnt(nonzeroBits16(a + (<usize>i << 2), zero));
  for (; i < n; i++) total += <i32>(load<f32>(a + (<usize>i << 2)) != 0);
  return total;
}

/** Bit t set where the float at q + 4t (t < 16) is nonzero (NaN included: x != 0 holds). */
// @ts-ignore: decorator
@inline function nonzeroBits16(q: usize, zero: v128): i32 {
  return (
    i32x4.bitmask(f32x4.ne(v128.load(q), zero)) |
    (i32x4.bitmask(f32x4.ne(v128.load(q, 16), zero)) << 4) |
    (i32x4.bitmask(f32x4.ne(v128.load(q, 32), zero)) << 8) |
    (i32x4.bitmask(f32x4.ne(v128.load(q, 48), zero)) << 12)
  );
}

/**
 * dst[c·ldDst + r] = src[r·ld + c] for r < rows, c < cols (row-major, leading dimensions
 * in floats; byte offsets).
 */
export function transposeInto(rows: i32, cols: i32, src: usize, ld: i32, dst: usize, ldDst: i32): void {
  const T: i32 = 64;
  const lds = <usize>ld << 2;
  const ldd = <usize>ldDst << 2;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = min(cols, c0 + T);
      let r = r0;
      for (; r + 4 <= r1; r += 4) {
        const p = src + <usize>r * lds;
        let c = c0;
        for (; c + 4 <= c1; c += 4) {
          const q = p + (<usize>c << 2);
          const x0 = v128.load(q);
          const x1 = v128.load(q + lds);
          const x2 = v128.load(q + 2 * lds);
          const x3 = v128.load(q + 3 * lds);
          const d = dst + <usize>c * ldd + (<usize>r << 2);
          v128.store(d, transpose0(x0, x1, x2, x3));
          v128.store(d + ldd, transpose1(x0, x1, x2, x3));
          v128.store(d + 2 * ldd, transpose2(x0, x1, x2, x3));
          v128.store(d + 3 * ldd, transpose3(x0, x1, x2, x3));
        }
        for (; c < c1; c++) {
          for (let i = 0; i < 4; i++) store<f32>(dst + <usize>c * ldd + (<usize>(r + i) << 2), load<f32>(p + <usize>i * lds + (<usize>c << 2)));
        }
      }
      for (; r < r1; r++) {
        for (let c = c0; c < c1; c++) store<f32>(dst + <usize>c * ldd + (<usize>r << 2), load<f32>(src + <usize>r * lds + (<usize>c << 2)));
      }
    }
  }
}

/**
 * Columns of C per panel of the sparse products: six v128 accumulators. V8 issues a term's
 * loads from B before its multiply-adds, so eight (32 columns) would need 17 vector
 * registers where its x64 code has 15 (see kernel above): it spills an accumulator and a
 * load to the stack on every term. Measured (Node 20, 2026-12-01) six run 1.6× faster per
 * multiply-add than eight on a panel in L1 and 1.3× on one in L2; the forward product of
 * the paper's first layer at 20 % nonzero pixels, 1.45× faster on one thread.
 */
const P: i32 = 24;
/** Bytes of one row of a P-wide panel. */
const PANEL_ROW: usize = <usize>P << 2;

/**
 * C[i, j] = Σ_t val[i·cap + t] · B[idx[i·cap + t], j] for rows i0 ≤ i < i1 and columns
 * j0 ≤ j < j1 (B row-major with ldb floats per row, C with ldc; byte offsets). Column
 * panels P wide pass over all rows, so a panel of B stays in cache while the rows' lists
 * stream by. Overwrites C.
 */
export function spmm(i0: i32, i1: i32, j0: i32, j1: i32, cnt: usize, idx: usize, val: usize, cap: i32, b: usize, ldb: i32, c: usize, ldc: i32): void {
  const ldbb = <usize>ldb << 2;
  const ldcb = <usize>ldc << 2;
  let j = j0;
  for (; j + P <= j1; j += P) {
    const bj = b + (<usize>j << 2);
    for (let i = i0; i < i1; i++) {
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let a4 = f32x4.splat(0);
      let a5 = f32x4.splat(0);
      const n = load<i32>(cnt + (<usize>i << 2));
      let pi = idx + ((<usize>i * <usize>cap) << 2);
      let pv = val + ((<usize>i * <usize>cap) << 2);
      for (let t = 0; t < n; t++) {
        const w = v128.load32_splat(pv);
        const r = bj + <usize>load<u32>(pi) * ldbb;
        a0 = madd(w, v128.load(r), a0);
        a1 = madd(w, v128.load(r, 16), a1);
        a2 = madd(w, v128.load(r, 32), a2);
        a3 = madd(w, v128.load(r, 48), a3);
        a4 = madd(w, v128.load(r, 64), a4);
        a5 = madd(w, v128.load(r, 80), a5);
        pi += 4;
        pv += 4;
      }
      const o = c + <usize>i * ldcb + (<usize>j << 2);
      v128.store(o, a0);
      v128.store(o, a1, 16);
      v128.store(o, a2, 32);
      v128.store(o, a3, 48);
      v128.store(o, a4, 64);
      v128.store(o, a5, 80);
    }
  }
  for (; j + 4 <= j1; j += 4) {
    const bj = b + (<usize>j << 2);
    for (let i = i0; i < i1; i++) {
      let a0 = f32x4.splat(0);
      const n = load<i32>(cnt + (<usize>i << 2));
      let pi = idx + ((<usize>i * <usize>cap) << 2);
      let pv = val + ((<usize>i * <usize>cap) << 2);
      for (let t = 0; t < n; t++) {
        a0 = madd(v128.load32_splat(pv), v128.load(bj + <usize>load<u32>(pi) * ldbb), a0);
        pi += 4;
        pv += 4;
      }
      v128.store(c + <usize>i * ldcb + (<usize>j << 2), a0);
    }
  }
  for (; j < j1; j++) {
    const bj = b + (<usize>j << 2);
    for (let i = i0; i < i1; i++) {
      let s: f32 = 0;
      const n = load<i32>(cnt + (<usize>i << 2));
      let pi = idx + ((<usize>i * <usize>cap) << 2);
      let pv = val + ((<usize>i * <usize>cap) << 2);
      for (let t = 0; t < n; t++) {
        s = madd1(load<f32>(pv), load<f32>(bj + <usize>load<u32>(pi) * ldbb), s);
        pi += 4;
        pv += 4;
      }
      store<f32>(c + <usize>i * ldcb + (<usize>j << 2), s);
    }
  }
}

/**
 * spmm with B given transposed (bt: N × K row-major, ldbt floats per row), C's columns
 * j0 ≤ j < j1 in panels of P: each panel's P rows of bt are transposed into `scratch`
 * (K × P, 4·P·K bytes, the thread's own) and multiplied there while in cache, instead of
 * writing all of Bᵀ to memory and reading it back. Each element of C is summed exactly as
 * spmm sums it (same terms, same order): the results are spmm's on a transposed copy.
 */
export function spmmT(
  i0: i32,
  i1: i32,
  j0: i32,
  j1: i32,
  cnt: usize,
  idx: usize,
  val: usize,
  cap: i32,
  bt: usize,
  ldbt: i32,
  k: i32,
  c: usize,
  ldc: i32,
  scratch: usize,
): void {
  const ldbtb = <usize>ldbt << 2;
  const cursors = scratch + <usize>k * PANEL_ROW;
  for (let j = j0; j < j1; j += P) {
    const w = min(P, j1 - j);
    transposeInto(w, k, bt + <usize>j * ldbtb, ldbt, scratch, P);
    if (w == P) spmmPanelBlocked(i0, i1, k, cnt, idx, val, cap, scratch, c + (<usize>j << 2), ldc, cursors);
    else spmm(i0, i1, 0, w, cnt, idx, val, cap, scratch, P, c + (<usize>j << 2), ldc);
  }
}

/** Rows of a P-wide panel of B per block of spmmPanelBlocked: 32 KiB, within L1. */
const PANEL_KB: i32 = 32768 / (P << 2);

/**
 * spmm over one P-column panel of B (k × P, row-major at b), with the panel's rows taken
 * in blocks of PANEL_KB so that the block being read stays in L1 while every row of C
 * goes through it: each row's list (ascending columns) is resumed at `cursors[i]` (m − i0
 * i32 of scratch), and its P sums are stored to C and reloaded between blocks (exact f32
 * values), so every element is summed in list order exactly as spmm sums it.
 */
function spmmPanelBlocked(i0: i32, i1: i32, k: i32, cnt: usize, idx: usize, val: usize, cap: i32, b: usize, c: usize, ldc: i32, cursors: usize): void {
  const ldcb = <usize>ldc << 2;
  for (let i = i0; i < i1; i++) store<i32>(cursors + (<usize>(i - i0) << 2), 0);
  for (let k0 = 0; k0 < k; k0 += PANEL_KB) {
    const k1 = <u32>min(k, k0 + PANEL_KB);
    const first = k0 == 0;
    for (let i = i0; i < i1; i++) {
      const o = c + <usize>i * ldcb;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let a4 = f32x4.splat(0);
      let a5 = f32x4.splat(0);
      if (!first) {
        a0 = v128.load(o);
        a1 = v128.load(o, 16);
        a2 = v128.load(o, 32);
        a3 = v128.load(o, 48);
        a4 = v128.load(o, 64);
        a5 = v128.load(o, 80);
      }
      const cur = cursors + (<usize>(i - i0) << 2);
      const n = load<i32>(cnt + (<usize>i << 2));
      let t = load<i32>(cur);
      let pi = idx + ((<usize>i * <usize>cap + <usize>t) << 2);
      let pv = val + ((<usize>i * <usize>cap + <usize>t) << 2);
      for (; t < n; t++) {
        const col = load<u32>(pi);
        if (col >= k1) break;
        const w = v128.load32_splat(pv);
        const r = b + <usize>col * PANEL_ROW;
        a0 = madd(w, v128.load(r), a0);
        a1 = madd(w, v128.load(r, 16), a1);
        a2 = madd(w, v128.load(r, 32), a2);
        a3 = madd(w, v128.load(r, 48), a3);
        a4 = madd(w, v128.load(r, 64), a4);
        a5 = madd(w, v128.load(r, 80), a5);
        pi += 4;
        pv += 4;
      }
      store<i32>(cur, t);
      v128.store(o, a0);
      v128.store(o, a1, 16);
      v128.store(o, a2, 32);
      v128.store(o, a3, 48);
      v128.store(o, a4, 64);
      v128.store(o, a5, 80);
    }
  }
}

/**
 * Per row of an m × n row-major mask (ld floats per row), the groups of 4 columns
 * (columns 4g … 4g+3, the last group cut at n) holding a nonzero: gcnt[i] group numbers
 * (ascending) at gidx[i·gcap + t], gcap = ⌈n / 4⌉. Returns the nonzeros of the mask (NaN
 * counts as nonzero).
 */
export function maskGroups(m: i32, n: i32, mask: usize, ld: i32, gcnt: usize, gidx: usize): i32 {
  const zero = f32x4.splat(0);
  const ldb = <usize>ld << 2;
  const gcap = (n + 3) >> 2;
  let total = 0;
  for (let i = 0; i < m; i++) {
    const row = mask + <usize>i * ldb;
    const base = gidx + ((<usize>i * <usize>gcap) << 2);
    let p = 0;
    let g = 0;
    // Branch-free append: the slot is always written, the count moves on live groups only.
    for (; (g << 2) + 4 <= n; g++) {
      const bits = i32x4.bitmask(f32x4.ne(v128.load(row + (<usize>g << 4)), zero));
      store<u32>(base + (<usize>p << 2), g);
      p += <i32>(bits != 0);
      total += popcnt(bits);
    }
    if (g << 2 < n) {
      let k = 0;
      for (let j = g << 2; j < n; j++) k += <i32>(load<f32>(row + (<usize>j << 2)) != 0);
      store<u32>(base + (<usize>p << 2), g);
      p += <i32>(k != 0);
      total += k;
    }
    store<i32>(gcnt + (<usize>i << 2), p);
  }
  return total;
}

/** First t in [0, n) with list[t] ≥ g (n when none): the list is ascending. */
function lowerBound(list: usize, n: i32, g: i32): i32 {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<i32>(list + (<usize>mid << 2)) < g) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * spmm computed only where a mask is nonzero: C[i, j] for rows i0 ≤ i < i1 and columns
 * j0 ≤ j < j1 (j0 a multiple of 4) within the mask's live groups of 4 columns
 * (maskGroups), summed exactly as spmm sums them (same terms, same order, the same f32x4
 * multiply then add: the same bits); every other element of the block, and every element
 * whose mask is 0, is set to +0. For dX = dZ·W under a relu: only where the layer below
 * is active does dX reach dZ. Four live groups share each pass over the row's list;
 * columns go in panels of 128, so the part of B a panel reads stays in L2 over all rows.
 */
export function spmmMasked(
  i0: i32,
  i1: i32,
  j0: i32,
  j1: i32,
  cnt: usize,
  idx: usize,
  val: usize,
  cap: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  mask: usize,
  ldm: i32,
  gcnt: usize,
  gidx: usize,
  gcap: i32,
): void {
  const WIDE: i32 = 128;
  const zero = f32x4.splat(0);
  const ldbb = <usize>ldb << 2;
  const ldcb = <usize>ldc << 2;
  const ldmb = <usize>ldm << 2;
  for (let p0 = j0; p0 < j1; p0 += WIDE) {
    const p1 = min(j1, p0 + WIDE);
    // Groups wholly inside [p0, p1) run in f32x4; a group cut by j1 runs lane by lane.
    const full = p1 >> 2;
    for (let i = i0; i < i1; i++) {
      const crow = c + <usize>i * ldcb;
      const mrow = mask + <usize>i * ldmb;
      memory.fill(crow + (<usize>p0 << 2), 0, <usize>(p1 - p0) << 2);
      const glist = gidx + ((<usize>i * <usize>gcap) << 2);
      const gn = load<i32>(gcnt + (<usize>i << 2));
      let t = lowerBound(glist, gn, p0 >> 2);
      const tFull = lowerBound(glist, gn, full);
      const tEnd = lowerBound(glist, gn, (p1 + 3) >> 2);
      const n = load<i32>(cnt + (<usize>i << 2));
      const li = idx + ((<usize>i * <usize>cap) << 2);
      const lv = val + ((<usize>i * <usize>cap) << 2);
      for (; t + 4 <= tFull; t += 4) {
        const gt = glist + (<usize>t << 2);
        const o0 = <usize>load<u32>(gt) << 4;
        const o1 = <usize>load<u32>(gt, 4) << 4;
        const o2 = <usize>load<u32>(gt, 8) << 4;
        const o3 = <usize>load<u32>(gt, 12) << 4;
        let a0 = f32x4.splat(0);
        let a1 = f32x4.splat(0);
        let a2 = f32x4.splat(0);
        let a3 = f32x4.splat(0);
        let pi = li;
        let pv = lv;
        for (let q = 0; q < n; q++) {
          const w = v128.load32_splat(pv);
          const r = b + <usize>load<u32>(pi) * ldbb;
          a0 = madd(w, v128.load(r + o0), a0);
          a1 = madd(w, v128.load(r + o1), a1);
          a2 = madd(w, v128.load(r + o2), a2);
          a3 = madd(w, v128.load(r + o3), a3);
          pi += 4;
          pv += 4;
        }
        v128.store(crow + o0, v128.and(a0, f32x4.ne(v128.load(mrow + o0), zero)));
        v128.store(crow + o1, v128.and(a1, f32x4.ne(v128.load(mrow + o1), zero)));
        v128.store(crow + o2, v128.and(a2, f32x4.ne(v128.load(mrow + o2), zero)));
        v128.store(crow + o3, v128.and(a3, f32x4.ne(v128.load(mrow + o3), zero)));
      }
      for (; t < tFull; t++) {
        const o = <usize>load<u32>(glist + (<usize>t << 2)) << 4;
        let a0 = f32x4.splat(0);
        let pi = li;
        let pv = lv;
        for (let q = 0; q < n; q++) {
          a0 = madd(v128.load32_splat(pv), v128.load(b + <usize>load<u32>(pi) * ldbb + o), a0);
          pi += 4;
          pv += 4;
        }
        v128.store(crow + o, v128.and(a0, f32x4.ne(v128.load(mrow + o), zero)));
      }
      for (; t < tEnd; t++) {
        const g = load<i32>(glist + (<usize>t << 2));
        for (let j = g << 2; j < min(p1, (g << 2) + 4); j++) {
          const o = <usize>j << 2;
          if (load<f32>(mrow + o) == 0) continue;
          let s: f32 = 0;
          let pi = li;
          let pv = lv;
          for (let q = 0; q < n; q++) {
            s = madd1(load<f32>(pv), load<f32>(b + <usize>load<u32>(pi) * ldbb + o), s);
            pi += 4;
            pv += 4;
          }
          store<f32>(crow + o, s);
        }
      }
    }
  }
}

/**
 * C = op(A)·B with both sparse, rows i0 ≤ i < i1 of C (m × n, ldc floats per row): op(A)'s
 * row lists (compactRows: cnt, idx, val, cap) and B's (compactRows of the k × n matrix B:
 * bcnt, bidx, bval, bcap). Row i of C is Σ over row i's list, in order, of value · (row
 * `column` of B), each added only at that row's nonzeros (scattered into C's row, which
 * stays in L1). For dW = dZᵀ·X with X a relu output: the cost follows nnz(dZ) · nnz(X) per
 * example instead of nnz(dZ) · n. Each element is spmm's sum less its terms with a zero
 * factor from B (madd1, in list order). Overwrites C's rows.
 */
export function spmmScatter(
  i0: i32,
  i1: i32,
  n: i32,
  cnt: usize,
  idx: usize,
  val: usize,
  cap: i32,
  bcnt: usize,
  bidx: usize,
  bval: usize,
  bcap: i32,
  c: usize,
  ldc: i32,
): void {
  const ldcb = <usize>ldc << 2;
  for (let i = i0; i < i1; i++) {
    const row = c + <usize>i * ldcb;
    memory.fill(row, 0, <usize>n << 2);
    const na = load<i32>(cnt + (<usize>i << 2));
    const la = <usize>i * <usize>cap;
    for (let t = 0; t < na; t++) {
      const e = load<u32>(idx + ((la + <usize>t) << 2));
      const w = load<f32>(val + ((la + <usize>t) << 2));
      const nb = load<i32>(bcnt + (<usize>e << 2));
      let pi = bidx + ((<usize>e * <usize>bcap) << 2);
      let pv = bval + ((<usize>e * <usize>bcap) << 2);
      let q = 0;
      // Four at a time: the columns of one list are distinct, so the four stores never alias.
      for (; q + 4 <= nb; q += 4) {
        const c0 = row + (<usize>load<u32>(pi) << 2);
        const c1 = row + (<usize>load<u32>(pi, 4) << 2);
        const c2 = row + (<usize>load<u32>(pi, 8) << 2);
        const c3 = row + (<usize>load<u32>(pi, 12) << 2);
        store<f32>(c0, madd1(w, load<f32>(pv), load<f32>(c0)));
        store<f32>(c1, madd1(w, load<f32>(pv, 4), load<f32>(c1)));
        store<f32>(c2, madd1(w, load<f32>(pv, 8), load<f32>(c2)));
        store<f32>(c3, madd1(w, load<f32>(pv, 12), load<f32>(c3)));
        pi += 16;
        pv += 16;
      }
      for (; q < nb; q++) {
        const cq = row + (<usize>load<u32>(pi) << 2);
        store<f32>(cq, madd1(w, load<f32>(pv), load<f32>(cq)));
        pi += 4;
        pv += 4;
      }
    }
  }
}
