// Matmul kernel candidates: the register-tiled kernel (shaders/matmul.wgsl, best on
// SwiftShader), the workgroup-memory tiled kernel for hardware GPUs
// (shaders/matmul_tiled*.wgsl; single or double buffered) and its split-K form (partial
// products over K slices, then shaders/matmul_splitk_reduce.wgsl). Every candidate computes
// the same C = op(A)·op(B) (and the fused bias + activation epilogue) as src/ops/matmul.ts;
// which is fastest depends on the adapter and the shape, so each has a config type, a check
// against the adapter's limits and a plan builder, and MATMUL_CANDIDATES lists a few for an
// autotuner to time.
import { matmul, matmulBiasAct, matmulBiasActOp, matmulCpu, matmulOp, matmulSumsq, matmulSumsqScratch, type MatmulShape, type MatmulTiles } from './matmul.ts';
import { activate } from './activations.ts';
import { ceilDiv, type BufRange, type Constants, type OpDef, type PlanStep, type StepValues, type View } from './op.ts';

/** Workgroup-memory tile: BM × BN outputs per workgroup, BK deep k steps, TM × TN per thread. */
export interface TiledConfig {
  BM: number;
  BN: number;
  BK: number;
  /** Rows and columns per thread: 4 or 8 each. */
  TM: number;
  TN: number;
  /**
   * Double buffering: two copies of each tile in workgroup memory, the next k step loaded
   * into registers while this one is multiplied, one barrier per k step (for hardware GPUs).
   */
  DB?: boolean;
}

export type MatmulCandidate =
  | { kind: 'register'; name: string; tiles: MatmulTiles }
  | { kind: 'tiled'; name: string; tile: TiledConfig }
  /** Split-K: at most `slices` partial products over K, reduced in a fixed order. */
  | { kind: 'splitk'; name: string; tile: TiledConfig; slices: number };

/** The adapter limits a candidate must fit (a GPUSupportedLimits satisfies this). */
export interface WorkgroupLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
}

const tiled = (BM: number, BN: number, BK: number, TM: number, TN: number): TiledConfig => ({ BM, BN, BK, TM, TN });
const doubleBuffered = (BM: number, BN: number, BK: number, TM: number, TN: number): TiledConfig => ({ BM, BN, BK, TM, TN, DB: true });

/** Loads of each operand's next k step that a thread of a double-buffered kernel holds in registers (PF_MAX in shaders/matmul_tiled_body.wgsl). */
const PREFETCH_MAX = 8;

/**
 * A short list for an autotuner to time per adapter and shape: the SwiftShader register
 * kernel, tiled kernels of 64 and 128 on a side (16 × 16 threads each), two of them double
 * buffered ('tiled-db': the next k step's loads in flight during this one's multiply, for
 * large products; twice the workgroup memory, so beyond WebGPU's default 16 KiB), and
 * split-K for products with few rows or columns of C and a long K (forward and dX at small
 * batch).
 */
export const MATMUL_CANDIDATES: MatmulCandidate[] = [
  { kind: 'register', name: 'register 8x8@8x8', tiles: { TM: 8, TN: 8, WG_X: 8, WG_Y: 8 } },
  { kind: 'tiled', name: 'tiled 64x64 k16 t4x4', tile: tiled(64, 64, 16, 4, 4) },
  { kind: 'tiled', name: 'tiled 64x64 k32 t4x4', tile: tiled(64, 64, 32, 4, 4) },
  { kind: 'tiled', name: 'tiled 128x64 k16 t8x4', tile: tiled(128, 64, 16, 8, 4) },
  { kind: 'tiled', name: 'tiled 64x128 k16 t4x8', tile: tiled(64, 128, 16, 4, 8) },
  { kind: 'tiled', name: 'tiled 128x128 k8 t8x8', tile: tiled(128, 128, 8, 8, 8) },
  { kind: 'tiled', name: 'tiled 128x128 k16 t8x8', tile: tiled(128, 128, 16, 8, 8) },
  { kind: 'tiled', name: 'tiled-db 128x64 k16 t8x4', tile: doubleBuffered(128, 64, 16, 8, 4) },
  { kind: 'tiled', name: 'tiled-db 128x128 k8 t8x8', tile: doubleBuffered(128, 128, 8, 8, 8) },
  { kind: 'splitk', name: 'splitk2 64x64 k16 t4x4', tile: tiled(64, 64, 16, 4, 4), slices: 2 },
  { kind: 'splitk', name: 'splitk4 64x64 k16 t4x4', tile: tiled(64, 64, 16, 4, 4), slices: 4 },
  { kind: 'splitk', name: 'splitk8 64x64 k32 t4x4', tile: tiled(64, 64, 32, 4, 4), slices: 8 },
];

/**
 * The candidate a hardware GPU starts from before measuring (and without it), and the one
 * the autotuner measures first, so that a budget cut short still leaves a good kernel. Read
 * off an H200's autotune table (docs/gpu.md): large products take the 128×128 tile;
 * products with few 64×64 output tiles and a long K split K so that enough workgroups
 * run; the rest take the 64×64 tile, with BK 16 when K is short.
 */
export function heuristicCandidate(s: Pick<MatmulShape, 'M' | 'N' | 'K'>): MatmulCandidate {
  const tiles = ceilDiv(s.M, 64) * ceilDiv(s.N, 64);
  const name =
    s.M * s.N >= 2048 * 2048
      ? 'tiled 128x128 k8 t8x8'
      : tiles <= 32 && s.K >= 512
        ? 'splitk8 64x64 k32 t4x4'
        : (tiles <= 128 && s.K >= 256) || (tiles <= 256 && s.K >= 512)
          ? 'splitk4 64x64 k16 t4x4'
          : s.K < 128
            ? 'tiled 64x64 k16 t4x4'
            : 'tiled 64x64 k32 t4x4';
  return MATMUL_CANDIDATES.find((c) => c.name === name)!;
}

/** Threads of a workgroup along x (columns) and y (rows). */
function workgroupOf(c: MatmulCandidate): { x: number; y: number; storageBytes: number } {
  if (c.kind === 'register') return { x: c.tiles.WG_X, y: c.tiles.WG_Y, storageBytes: 0 };
  const { BM, BN, BK, TM, TN, DB } = c.tile;
  // Each k row of both tiles is padded by 4 floats (see shaders/matmul_tiled_body.wgsl); DB keeps two copies.
  return { x: BN / TN, y: BM / TM, storageBytes: (DB ? 2 : 1) * 4 * BK * (BM + BN + 8) };
}

/** Why the candidate's own parameters are invalid, or undefined when they are fine. */
export function candidateProblem(c: MatmulCandidate): string | undefined {
  if (c.kind === 'register') {
    const { TM, TN, WG_X, WG_Y } = c.tiles;
    if (![TM, TN, WG_X, WG_Y].every((v) => Number.isInteger(v) && v >= 1)) return 'register tiles must be positive integers';
    if (TM > 8 || TN > 8) return 'register tiles TM, TN must be at most 8';
    return undefined;
  }
  const { BM, BN, BK, TM, TN } = c.tile;
  if (![BM, BN, BK, TM, TN].every((v) => Number.isInteger(v) && v >= 1)) return 'tile sizes must be positive integers';
  if ((TM !== 4 && TM !== 8) || (TN !== 4 && TN !== 8)) return 'TM and TN must be 4 or 8';
  if (BM % TM !== 0 || BN % TN !== 0) return 'BM must be a multiple of TM and BN of TN';
  if (BK % 4 !== 0) return 'BK must be a multiple of 4';
  if (c.tile.DB) {
    // Scalar loads (the worst case): BM·BK elements of A over the workgroup's threads, BN·BK of B.
    const threads = (BM / TM) * (BN / TN);
    const runs = Math.ceil((Math.max(BM, BN) * BK) / threads);
    if (runs > PREFETCH_MAX)
      return `double buffering holds at most ${PREFETCH_MAX} loads per thread of each operand, and this tile needs ${runs}: lower BK or raise the threads (smaller TM, TN)`;
  }
  if (c.kind === 'splitk' && !(Number.isInteger(c.slices) && c.slices >= 1)) return 'split-K slices must be a positive integer';
  return undefined;
}

/** Whether the candidate is valid and its workgroup fits the adapter's limits. */
export function candidateFits(c: MatmulCandidate, limits: WorkgroupLimits): boolean {
  if (candidateProblem(c)) return false;
  const wg = workgroupOf(c);
  return (
    wg.storageBytes <= limits.maxComputeWorkgroupStorageSize &&
    wg.x * wg.y <= limits.maxComputeInvocationsPerWorkgroup &&
    wg.x <= limits.maxComputeWorkgroupSizeX &&
    wg.y <= limits.maxComputeWorkgroupSizeY
  );
}

// ---------------------------------------------------------------------------------------
// Ops and CPU twins. The tiled kernels compute the plain product, so their twins are the
// register kernel's twins; split-K's two passes each have their own.

/** Whether every run of 4 along each stored operand's contiguous dimension is a whole vec4. */
export function vec4Loads({ M, N, K, transA, transB }: MatmulShape): boolean {
  return (transA ? M : K) % 4 === 0 && (transB ? K : N) % 4 === 0;
}

const tiledOps = (shader: string) => ({
  plain: { shader, entry: 'main', group: 'matmul', cpu: matmulOp.cpu } as OpDef,
  sumsq: { shader, entry: 'main_sumsq', group: 'matmul', cpu: tiledSumsqCpu } as OpDef,
  biasAct: { shader, entry: 'main_bias_act', group: 'matmul', cpu: matmulBiasActOp.cpu } as OpDef,
  partial: { shader, entry: 'main_partial', group: 'matmul', cpu: partialCpu } as OpDef,
});

/** The product, and each thread's Σ of squares of its TM consecutive rows × TN consecutive columns, as main_sumsq writes them. */
function tiledSumsqCpu(k: Record<string, number>, b: Record<string, View>, step: StepValues): void {
  matmulOp.cpu(k, b, step);
  const { M, N, BM, BN, TM, TN, WG_X, WG_Y } = k;
  const c = b.c.f;
  const tilesN = ceilDiv(N, BN);
  for (let tm = 0; tm < ceilDiv(M, BM); tm++)
    for (let tn = 0; tn < tilesN; tn++)
      for (let ly = 0; ly < WG_Y; ly++)
        for (let lx = 0; lx < WG_X; lx++) {
          let q = 0;
          for (let i = 0; i < TM; i++) {
            const r = tm * BM + ly * TM + i;
            if (r >= M) break;
            for (let j = 0; j < TN; j++) {
              const col = tn * BN + lx * TN + j;
              if (col < N) q += c[r * N + col] ** 2;
            }
          }
          b.sq.f[((tm * tilesN + tn) * WG_Y + ly) * WG_X + lx] = q;
        }
}

/** part[s·M·N ..] = the product over k in [s·KCHUNK, min(K, (s+1)·KCHUNK)), s < SLICES. */
function partialCpu(
  { M, N, K, TRANS_A, TRANS_B, SLICES, KCHUNK }: Record<string, number>,
  { a, b, part }: Record<string, { f: Float32Array | Float64Array }>,
): void {
  const af = a.f;
  const bf = b.f;
  const Ctor = part.f instanceof Float64Array ? Float64Array : Float32Array;
  for (let s = 0; s < SLICES; s++) {
    const k0 = s * KCHUNK;
    const kc = Math.min(K, k0 + KCHUNK) - k0;
    // op(A) and op(B) of the slice, copied out row-major, then the plain product.
    const as = new Ctor(M * kc);
    const bs = new Ctor(kc * N);
    for (let i = 0; i < M; i++) for (let k = 0; k < kc; k++) as[i * kc + k] = af[TRANS_A ? (k0 + k) * M + i : i * K + k0 + k];
    for (let k = 0; k < kc; k++) for (let j = 0; j < N; j++) bs[k * N + j] = bf[TRANS_B ? j * K + k0 + k : (k0 + k) * N + j];
    matmulCpu(M, N, kc, false, false, as, bs, part.f.subarray(s * M * N, (s + 1) * M * N));
  }
}

/** Threads (and elements of C) per workgroup of the split-K reduce. */
const SPLITK_REDUCE_WG = 256;

/** The slices' sum, in slice order, as the GPU sums them. */
function sliceSum(part: Float32Array | Float64Array, MN: number, slices: number, idx: number): number {
  let s = part[idx];
  for (let sl = 1; sl < slices; sl++) s = part instanceof Float32Array ? Math.fround(s + part[sl * MN + idx]) : s + part[sl * MN + idx];
  return s;
}

export const splitKReduceOp: OpDef = {
  shader: 'matmul_splitk_reduce',
  entry: 'main',
  group: 'matmul',
  cpu({ M, N, SLICES }, { part, c }) {
    for (let i = 0; i < M * N; i++) c.f[i] = sliceSum(part.f, M * N, SLICES, i);
  },
};

/** The reduce with ‖C‖² per workgroup of 256 elements (the GPU sums each by a tree: same value up to order). */
export const splitKReduceSumsqOp: OpDef = {
  shader: 'matmul_splitk_reduce',
  entry: 'main_sumsq',
  group: 'matmul',
  cpu({ M, N, SLICES }, { part, c, sq }) {
    for (let i = 0; i < M * N; i++) c.f[i] = sliceSum(part.f, M * N, SLICES, i);
    for (let g = 0; g < Math.ceil((M * N) / SPLITK_REDUCE_WG); g++) {
      let q = 0;
      for (let i = g * SPLITK_REDUCE_WG; i < Math.min(M * N, (g + 1) * SPLITK_REDUCE_WG); i++) q += c.f[i] ** 2;
      sq.f[g] = q;
    }
  },
};

export const splitKReduceBiasActOp: OpDef = {
  shader: 'matmul_splitk_reduce',
  entry: 'main_bias_act',
  group: 'matmul',
  cpu({ M, N, SLICES, ACT, ALPHA }, { part, bias, z, out }) {
    for (let i = 0; i < M * N; i++) {
      z.f[i] = sliceSum(part.f, M * N, SLICES, i) + bias.f[i % N];
      // Read back so the activation sees z as stored (rounded in float32 mode), as on the GPU.
      out.f[i] = activate(ACT, ALPHA, z.f[i]);
    }
  },
};

export const TILED_OPS = tiledOps('matmul_tiled');
export const TILED_VEC4_OPS = tiledOps('matmul_tiled_vec4');

// ---------------------------------------------------------------------------------------
// Plan builders

const MAX_WORKGROUPS = 65535;

function check(label: string, c: MatmulCandidate, shape: MatmulShape, bindings: Record<string, BufRange | undefined>, needs: Record<string, number>): void {
  const problem = candidateProblem(c);
  if (problem) throw new Error(`${label}: matmul candidate ${c.name}: ${problem}`);
  for (const [k, v] of Object.entries({ M: shape.M, N: shape.N, K: shape.K })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${label}: matmul ${k} must be a positive integer, not ${v}`);
  }
  for (const [name, need] of Object.entries(needs)) {
    const r = bindings[name];
    if (!r) throw new Error(`${label}: matmul candidate ${c.name} needs a region for ${name} (${need} floats)`);
    if (r.length < need) throw new Error(`${label}: matmul binding ${name} holds ${r.length} floats but needs ${need}`);
  }
}

/** K per slice (a multiple of BK, so vec4 runs never straddle a slice) and the slices used. */
export function splitKSlices(shape: MatmulShape, tile: TiledConfig, slices: number): { kchunk: number; slices: number } {
  const kchunk = ceilDiv(ceilDiv(shape.K, slices), tile.BK) * tile.BK;
  return { kchunk, slices: ceilDiv(shape.K, kchunk) };
}

/** Floats of scratch the candidate needs for this shape (split-K's partial products; else 0). */
export function candidateScratch(c: MatmulCandidate, shape: MatmulShape): number {
  if (c.kind !== 'splitk') return 0;
  const { slices } = splitKSlices(shape, c.tile, c.slices);
  return slices > 1 ? slices * shape.M * shape.N : 0;
}

function tiledConstants(shape: MatmulShape, tile: TiledConfig) {
  const { M, N, K, transA, transB } = shape;
  const { BM, BN, BK, TM, TN, DB } = tile;
  return { M, N, K, TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, BM, BN, BK, TM, TN, WG_X: BN / TN, WG_Y: BM / TM, ...(DB ? { DB: 1 } : {}) };
}

/** The one-pass tiled kernel's step (entry main or main_bias_act). */
function tiledStep(
  label: string,
  shape: MatmulShape,
  tile: TiledConfig,
  biasAct: { act: number; alpha: number } | undefined,
  bindings: Record<string, BufRange>,
  sumsq = false,
): PlanStep {
  const ops = vec4Loads(shape) ? TILED_VEC4_OPS : TILED_OPS;
  const tilesN = ceilDiv(shape.N, tile.BN);
  const tilesM = ceilDiv(shape.M, tile.BM);
  if (tilesN > MAX_WORKGROUPS) throw new Error(`${label}: matmul N = ${shape.N} needs ${tilesN} workgroups along x (at most ${MAX_WORKGROUPS})`);
  const gridZ = ceilDiv(tilesM, MAX_WORKGROUPS);
  const gridY = ceilDiv(tilesM, gridZ);
  const extra: Constants = biasAct ? { ACT: biasAct.act, ALPHA: biasAct.alpha } : {};
  return {
    op: biasAct ? ops.biasAct : sumsq ? ops.sumsq : ops.plain,
    label,
    constants: { ...tiledConstants(shape, tile), GRID_Y: gridY, ...extra },
    bindings,
    dispatch: [tilesN, gridY, gridZ],
  };
}

/** Split-K: the partial products into `part`, then the fixed-order reduce (plain or epilogue). */
function splitKSteps(
  label: string,
  shape: MatmulShape,
  tile: TiledConfig,
  slices: number,
  biasAct: { act: number; alpha: number } | undefined,
  io: { a: BufRange; b: BufRange; part: BufRange; c?: BufRange; bias?: BufRange; z?: BufRange; out?: BufRange; sq?: BufRange },
): PlanStep[] {
  const ops = vec4Loads(shape) ? TILED_VEC4_OPS : TILED_OPS;
  const { M, N } = shape;
  const s = splitKSlices(shape, tile, slices);
  const tilesN = ceilDiv(N, tile.BN);
  const tilesM = ceilDiv(M, tile.BM);
  if (tilesN > MAX_WORKGROUPS || tilesM > MAX_WORKGROUPS) {
    throw new Error(`${label}: split-K matmul of ${M} × ${N} needs more than ${MAX_WORKGROUPS} tiles along a side: use a one-pass candidate`);
  }
  const partial: PlanStep = {
    op: ops.partial,
    label: `${label} (split-K partial)`,
    constants: { ...tiledConstants(shape, tile), KCHUNK: s.kchunk, SLICES: s.slices },
    bindings: { a: io.a, b: io.b, part: io.part },
    dispatch: [tilesN, tilesM, s.slices],
  };
  const groups = ceilDiv(M * N, SPLITK_REDUCE_WG);
  const gridX = Math.min(groups, MAX_WORKGROUPS);
  const gridY = ceilDiv(groups, gridX);
  if (gridY > MAX_WORKGROUPS) throw new Error(`${label}: split-K reduce over ${M * N} elements exceeds one dispatch`);
  const reduce: PlanStep = biasAct
    ? {
        op: splitKReduceBiasActOp,
        label: `${label} (split-K reduce)`,
        constants: { M, N, SLICES: s.slices, GRID_X: gridX, ACT: biasAct.act, ALPHA: biasAct.alpha },
        bindings: { part: io.part, bias: io.bias!, z: io.z!, out: io.out! },
        dispatch: [gridX, gridY, 1],
      }
    : {
        op: io.sq ? splitKReduceSumsqOp : splitKReduceOp,
        label: `${label} (split-K reduce)`,
        constants: { M, N, SLICES: s.slices, GRID_X: gridX },
        bindings: io.sq ? { part: io.part, c: io.c!, sq: io.sq } : { part: io.part, c: io.c! },
        dispatch: [gridX, gridY, 1],
      };
  return [partial, reduce];
}

/**
 * C[M×N] = op(A)·op(B) with the given candidate. Split-K needs `scratch` (at least
 * candidateScratch(c, shape) floats, in an arena other than a's and b's); when K fits one
 * slice it runs the one-pass tiled kernel instead.
 */
export function matmulWith(
  c: MatmulCandidate,
  label: string,
  shape: MatmulShape,
  io: { a: BufRange; b: BufRange; c: BufRange; scratch?: BufRange },
): PlanStep[] {
  const { M, N, K } = shape;
  const scratch = candidateScratch(c, shape);
  check(label, c, shape, io, { a: M * K, b: K * N, c: M * N, ...(scratch ? { scratch } : {}) });
  if (c.kind === 'register') return [matmul(label, shape, { a: io.a, b: io.b, c: io.c }, c.tiles)];
  if (c.kind === 'tiled' || scratch === 0) return [tiledStep(label, shape, c.tile, undefined, { a: io.a, b: io.b, c: io.c })];
  return splitKSteps(label, shape, c.tile, c.slices, undefined, { a: io.a, b: io.b, part: io.scratch!, c: io.c });
}

/**
 * Floats of ‖C‖² partials the candidate's sum-of-squares epilogue writes for this shape: one
 * per thread of every workgroup (register and tiled kernels; split-K when K fits one slice),
 * or one per workgroup of split-K's reduce.
 */
export function sumsqScratchWith(c: MatmulCandidate, shape: MatmulShape): number {
  if (c.kind === 'register') return matmulSumsqScratch(shape, c.tiles);
  if (c.kind === 'splitk' && candidateScratch(c, shape) > 0) return ceilDiv(shape.M * shape.N, SPLITK_REDUCE_WG);
  return ceilDiv(shape.M, c.tile.BM) * ceilDiv(shape.N, c.tile.BN) * (c.tile.BM / c.tile.TM) * (c.tile.BN / c.tile.TN);
}

/**
 * C = op(A)·op(B) with the candidate, and its sum of squares in partials (sumsqScratchWith
 * floats). Split-K needs `scratch` as in matmulWith; its reduce writes the partials.
 */
export function matmulSumsqWith(
  c: MatmulCandidate,
  label: string,
  shape: MatmulShape,
  io: { a: BufRange; b: BufRange; c: BufRange; part: BufRange; scratch?: BufRange },
): PlanStep[] {
  const n = sumsqScratchWith(c, shape);
  const scratch = candidateScratch(c, shape);
  check(label, c, shape, io, { a: shape.M * shape.K, b: shape.K * shape.N, c: shape.M * shape.N, part: n, ...(scratch ? { scratch } : {}) });
  if (c.kind === 'register') return [matmulSumsq(label, shape, { a: io.a, b: io.b, c: io.c, part: io.part }, c.tiles)];
  if (c.kind === 'tiled' || scratch === 0) return [tiledStep(label, shape, c.tile, undefined, { a: io.a, b: io.b, c: io.c, sq: io.part }, true)];
  return splitKSteps(label, shape, c.tile, c.slices, undefined, { a: io.a, b: io.b, part: io.scratch!, c: io.c, sq: io.part });
}

/** z = op(A)·op(B) + bias (broadcast over rows), out = activate(act, alpha, z), with the given candidate. */
export function matmulBiasActWith(
  c: MatmulCandidate,
  label: string,
  shape: MatmulShape,
  act: number,
  alpha: number,
  io: { a: BufRange; b: BufRange; bias: BufRange; z: BufRange; out: BufRange; scratch?: BufRange },
): PlanStep[] {
  const { M, N, K } = shape;
  if (!Number.isInteger(act) || act < 0 || act > 6) throw new Error(`${label}: activation id ${act} is not one of 0..6`);
  const scratch = candidateScratch(c, shape);
  check(label, c, shape, io, { a: M * K, b: K * N, bias: N, z: M * N, out: M * N, ...(scratch ? { scratch } : {}) });
  const { a, b, bias, z, out } = io;
  if (c.kind === 'register') return [matmulBiasAct(label, shape, act, alpha, { a, b, bias, z, out }, c.tiles)];
  if (c.kind === 'tiled' || scratch === 0) return [tiledStep(label, shape, c.tile, { act, alpha }, { a, b, bias, z, out })];
  return splitKSteps(label, shape, c.tile, c.slices, { act, alpha }, { a, b, part: io.scratch!, bias, z, out });
}
