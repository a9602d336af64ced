// Picks a matmul candidate per product shape by timing each one that fits the adapter on
// the adapter itself, and returns the choice in the form tuning.matmulChoice takes.
// Timing is wall-clock over a few submits and one wait for the queue, so it includes
// ~0.1 ms of submit overhead per run: enough to separate kernels that differ by more than
// that, which is what the choice needs. Each (candidate, shape) gets buffers of its own.
import { candidateFits, candidateScratch, MATMUL_CANDIDATES, matmulWith, type MatmulCandidate } from '../../ops/matmul-candidates.ts';
import type { MatmulShape } from '../../ops/matmul.ts';
import type { BufRange, StepValues } from '../../ops/op.ts';
import type { GpuContext } from './device.ts';
import { WebGpuBackend } from './webgpu-backend.ts';

export interface AutotuneResult {
  shape: MatmulShape;
  /** Milliseconds per product of each candidate that fits, fastest first. */
  timings: { name: string; ms: number }[];
  best: MatmulCandidate;
}

const key = ({ M, N, K, transA, transB }: MatmulShape) => `${M}x${N}x${K}${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;

const values: StepValues = { lr: 0, t: 1, batchStart: 0 };

/** Bind regions start on 256-byte boundaries: 64 floats. */
const padded = (n: number) => Math.ceil(Math.max(1, n) / 64) * 64;

async function timeOne(ctx: GpuContext, c: MatmulCandidate, s: MatmulShape, repeats: number): Promise<number> {
  const { M, N, K } = s;
  const a: BufRange = { arena: 'a', offset: 0, length: M * K };
  const b: BufRange = { arena: 'b', offset: 0, length: K * N };
  const out: BufRange = { arena: 'c', offset: 0, length: M * N };
  const scratch: BufRange = { arena: 'scratch', offset: 0, length: Math.max(1, candidateScratch(c, s)) };
  const steps = matmulWith(c, 'autotune', s, { a, b, c: out, scratch });
  const backend = new WebGpuBackend(ctx);
  try {
    backend.allocate({ a: padded(M * K), b: padded(K * N), c: padded(M * N), scratch: padded(scratch.length) });
    // Non-zero data: some GPUs run faster on zeros.
    const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 997) / 997 - 0.5);
    backend.writeF(a, fill(M * K));
    backend.writeF(b, fill(K * N));
    await backend.prepare(steps);
    backend.run(steps, values); // first run: pipeline warm-up
    await backend.finish();
    const t0 = performance.now();
    for (let r = 0; r < repeats; r++) backend.run(steps, values);
    await backend.finish();
    return (performance.now() - t0) / repeats;
  } finally {
    backend.destroy();
  }
}

/**
 * Times every candidate that fits the adapter's limits on each shape (`repeats` runs
 * after one warm-up) and returns, per shape, the timings and the fastest, with a
 * `choice` for tuning.matmulChoice (undefined for shapes not timed: the planner's default).
 */
export async function autotuneMatmul(
  ctx: GpuContext,
  shapes: MatmulShape[],
  opts: { candidates?: MatmulCandidate[]; repeats?: number } = {},
): Promise<{ results: AutotuneResult[]; choice: (s: MatmulShape) => MatmulCandidate | undefined }> {
  const limits = ctx.device.limits;
  const candidates = (opts.candidates ?? MATMUL_CANDIDATES).filter((c) => candidateFits(c, limits));
  if (candidates.length === 0) throw new Error('no matmul candidate fits this adapter’s workgroup limits');
  const repeats = opts.repeats ?? 5;
  const results: AutotuneResult[] = [];
  const best = new Map<string, MatmulCandidate>();
  for (const shape of shapes) {
    if (best.has(key(shape))) continue;
    const timings: { name: string; ms: number; c: MatmulCandidate }[] = [];
    for (const c of candidates) timings.push({ name: c.name, ms: await timeOne(ctx, c, shape, repeats), c });
    timings.sort((x, y) => x.ms - y.ms);
    best.set(key(shape), timings[0].c);
    results.push({ shape, timings: timings.map(({ name, ms }) => ({ name, ms })), best: timings[0].c });
  }
  return { results, choice: (s) => best.get(key(s)) };
}
