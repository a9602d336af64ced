// Every matmul candidate against a float64 reference on random shapes of each layout, on
// one WebGPU backend: the kernel tests of test/matmul-sweep-*.test.ts, and the same sweep
// that gpu-check runs on a real GPU (where compiling a pipeline takes milliseconds, not
// the second SwiftShader needs).
import type { WebGpuBackend } from '../../src/backend/webgpu/webgpu-backend.ts';
import { activate } from '../../src/ops/activations.ts';
import { matmulCpu, type MatmulShape } from '../../src/ops/matmul.ts';
import { candidateFits, candidateProblem, candidateScratch, matmulBiasActWith, matmulWith, type MatmulCandidate } from '../../src/ops/matmul-candidates.ts';
import type { BufRange, PlanStep } from '../../src/ops/op.ts';
import { Rng } from '../../src/util/rng.ts';

/** The three products of training: forward X·Wᵀ (with bias and activation), dX = dZ·W, dW = dZᵀ·X. */
export const LAYOUTS = [
  { name: 'NT forward (bias + activation)', transA: false, transB: true, biasAct: true },
  { name: 'NN dX', transA: false, transB: false, biasAct: false },
  { name: 'TN dW', transA: true, transB: false, biasAct: false },
] as const;
export type Layout = (typeof LAYOUTS)[number];

/** A dimension up to ~150: 1, odd, multiples of 4 (vec4 loads), and around the tile edges 64 and 128. */
function dim(rng: Rng): number {
  const r = rng.next();
  if (r < 0.1) return 1;
  if (r < 0.3) return 4 * (1 + rng.int(37));
  if (r < 0.45) return [63, 65, 127, 129][rng.int(4)];
  return 1 + 2 * rng.int(75);
}

/** `count` shapes of a layout: fixed edge cases first (1×1×1, M = 1, K = 1, vec4, long K), then random ones. */
export function sweepShapes(rng: Rng, count: number, l: Layout): MatmulShape[] {
  const { transA, transB } = l;
  const s: MatmulShape[] = [
    { M: 1, N: 1, K: 1, transA, transB },
    { M: 1, N: 70, K: 133, transA, transB },
    { M: 5, N: 9, K: 1, transA, transB },
    { M: 68, N: 132, K: 200, transA, transB },
    { M: 129, N: 3, K: 57, transA, transB },
  ];
  while (s.length < count) s.push({ M: dim(rng), N: dim(rng), K: dim(rng), transA, transB });
  return s.slice(0, count);
}

export interface SweepCase {
  candidate: string;
  layout: string;
  shape: [number, number, number];
  /** Largest error relative to the largest |reference| (z and the activated output). */
  relErr?: number;
  error?: string;
}

/** Relative tolerance: f32 accumulation over K ≤ ~200 terms of magnitude ≤ 1. */
export const SWEEP_TOLERANCE = 1e-4;

function relErr(want: Float64Array, got: ArrayLike<number>): number {
  let scale = 1e-30;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    const d = Math.abs(want[i] - got[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst / scale;
}

/**
 * Runs one candidate on one shape through the real WGSL and compares with the float64 twin.
 * The backend's arenas `sweep.in`, `sweep.out`, `sweep.scratch` are allocated per case and freed.
 */
export async function sweepCase(backend: WebGpuBackend, c: MatmulCandidate, s: MatmulShape, l: Layout, rng: Rng): Promise<SweepCase> {
  const { M, N, K } = s;
  const base = { candidate: c.name, layout: l.name, shape: [M, N, K] as [number, number, number] };
  const bad = candidateProblem(c) ?? (candidateFits(c, backend.deviceLimits) ? undefined : "does not fit the adapter's workgroup limits");
  if (bad) return { ...base, error: bad };
  const pad = (n: number) => Math.ceil(n / 64) * 64; // 256-byte aligned offsets
  const a: BufRange = { arena: 'sweep.in', offset: 0, length: M * K };
  const b: BufRange = { arena: 'sweep.in', offset: pad(M * K), length: K * N };
  const bias: BufRange = { arena: 'sweep.in', offset: pad(M * K) + pad(K * N), length: N };
  const z: BufRange = { arena: 'sweep.out', offset: 0, length: M * N };
  const out: BufRange = { arena: 'sweep.out', offset: pad(M * N), length: M * N };
  const scratch: BufRange = { arena: 'sweep.scratch', offset: 0, length: Math.max(1, candidateScratch(c, s)) };
  const act = 1 + rng.int(6); // every activation but linear, in turn
  const alpha = 0.01 + 0.2 * rng.next();
  const steps: PlanStep[] = l.biasAct
    ? matmulBiasActWith(c, 'sweep', s, act, alpha, { a, b, bias, z, out, scratch })
    : matmulWith(c, 'sweep', s, { a, b, c: z, scratch });
  const da = rng.fill(M * K);
  const db = rng.fill(K * N);
  const dbias = rng.fill(N);
  backend.allocate({ 'sweep.in': bias.offset + N, 'sweep.out': out.offset + M * N, 'sweep.scratch': scratch.length });
  try {
    backend.writeF(a, da);
    backend.writeF(b, db);
    if (l.biasAct) backend.writeF(bias, dbias);
    await backend.prepare(steps);
    backend.run(steps, { lr: 0, t: 1, batchStart: 0 });
    const wantZ = new Float64Array(M * N);
    matmulCpu(M, N, K, s.transA, s.transB, Float64Array.from(da), Float64Array.from(db), wantZ);
    if (!l.biasAct) return { ...base, relErr: relErr(wantZ, await backend.readF(z)) };
    for (let i = 0; i < wantZ.length; i++) wantZ[i] += dbias[i % N];
    const wantOut = wantZ.map((v) => activate(act, alpha, v));
    return { ...base, relErr: Math.max(relErr(wantZ, await backend.readF(z)), relErr(wantOut, await backend.readF(out))) };
  } catch (e) {
    return { ...base, error: (e as Error).message.split('\n')[0] };
  } finally {
    backend.free(['sweep.in', 'sweep.out', 'sweep.scratch']);
  }
}

/** The whole sweep: `perLayout` shapes of each layout for every candidate. */
export async function sweepAll(backend: WebGpuBackend, candidates: MatmulCandidate[], perLayout: number, seed = 20261130): Promise<SweepCase[]> {
  const rng = new Rng(seed);
  const cases: SweepCase[] = [];
  for (const l of LAYOUTS) {
    const shapes = sweepShapes(rng, perLayout, l);
    for (const c of candidates) for (const s of shapes) cases.push(await sweepCase(backend, c, s, l, rng));
  }
  return cases;
}
