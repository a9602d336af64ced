// Matmul configurations chosen by measurement on the adapter at hand. For each distinct
// product shape of a plan, every candidate configuration is compiled, checked against a
// float64 reference on sampled outputs (the correctness probe), and timed; the fastest that
// passed is used for that shape and remembered in the tuning cache (per engine version,
// adapter and shape), so later runs on the same adapter pay nothing. A candidate that does
// not fit the adapter, fails to compile or fails the probe is recorded with its error and
// never chosen. The whole search is bounded by a time budget.
import { candidateFits, candidateProblem, candidateScratch, MATMUL_CANDIDATES, matmulWith, type MatmulCandidate } from '../../ops/matmul-candidates.ts';
import type { MatmulShape } from '../../ops/matmul.ts';
import type { BufRange, PlanStep, StepValues } from '../../ops/op.ts';
import { layoutOf, shapeKey } from '../../ops/tuning.ts';
import { Rng } from '../../util/rng.ts';
import { ENGINE_VERSION } from '../../util/version.ts';
import type { AdapterDescription } from './device.ts';
import { tuningCache, type TuningCache } from './tuning-cache.ts';

/** What the autotuner needs of a backend (the WebGPU backend). */
export interface TunableBackend {
  readonly adapterInfo: AdapterDescription;
  readonly deviceLimits: GPUSupportedLimits;
  allocate(arenas: Record<string, number>): void;
  free(arenas: string[]): void;
  writeF(range: BufRange, data: ArrayLike<number>): void;
  readF(range: BufRange): Promise<Float32Array | Float64Array>;
  prepare(items: PlanStep[]): Promise<void>;
  run(items: PlanStep[], values: StepValues): void;
  finish(): Promise<void>;
}

export interface TuneProduct {
  /** What the product is in the plan (forward, dX, dW, or matmul for a bare product). */
  op: string;
  shape: MatmulShape;
}

export type CandidateResult = { config: string; gflops: number } | { config: string; error: string };

export interface TuneEntry {
  op: string;
  shape: [number, number, number];
  layout: string;
  candidates: CandidateResult[];
  chosen: string;
  /** The choice came from the tuning cache (candidates as measured then). */
  cached: boolean;
}

export interface TuneReport {
  adapter: string;
  cache: string;
  entries: TuneEntry[];
  /** The chosen candidate of each shape, by shapeKey. */
  chosen: Record<string, MatmulCandidate>;
  seconds: number;
}

export interface TuneOptions {
  candidates?: readonly MatmulCandidate[];
  /** Wall-clock budget for measuring, in ms (default 2000). Cached shapes cost nothing. */
  budgetMs?: number;
  /** Where choices are kept; null: measure every time and keep nothing. */
  cache?: TuningCache | null;
  /** Measure even what the cache holds. */
  force?: boolean;
  /** The candidate measured first for a shape (always measured, whatever the budget); default: the list's first. */
  first?: (shape: MatmulShape) => MatmulCandidate | undefined;
  /** Builds a candidate's plan steps (default: matmulWith). */
  build?: (c: MatmulCandidate, label: string, shape: MatmulShape, io: { a: BufRange; b: BufRange; c: BufRange; scratch?: BufRange }) => PlanStep[];
}

const STEP: StepValues = { lr: 0, t: 1, batchStart: 0 };
/** Aim each timed measurement at about this long, so submit overhead stays small beside it. */
const TARGET_MS = 8;
/** Dispatches in one timed command buffer at most. */
const MAX_REPS = 1024;
/** Outputs checked against the float64 reference per candidate. */
const PROBES = 48;

const now = () => performance.now();

export function adapterKey(a: AdapterDescription): string {
  return [a.vendor, a.architecture, a.device, a.description].join('|');
}

/** Why a candidate cannot run on this adapter, or undefined if it can. */
function misfit(c: MatmulCandidate, limits: GPUSupportedLimits): string | undefined {
  const bad = candidateProblem(c);
  if (bad) return bad;
  if (!candidateFits(c, limits)) {
    return `does not fit the adapter's workgroup limits (${limits.maxComputeInvocationsPerWorkgroup} threads, ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup storage)`;
  }
  return undefined;
}

/** Float64 reference values of PROBES sampled outputs, with the magnitude Σ|a·b| each may err by. */
function probes(s: MatmulShape, a: Float32Array, b: Float32Array, rng: Rng) {
  const { M, N, K, transA, transB } = s;
  const out: { at: number; ref: number; scale: number }[] = [];
  for (let p = 0; p < PROBES; p++) {
    const i = p === 0 ? M - 1 : rng.int(M); // the last row and column catch edge bugs
    const j = p === 1 ? N - 1 : rng.int(N);
    let ref = 0;
    let scale = 0;
    for (let k = 0; k < K; k++) {
      const x = a[transA ? k * M + i : i * K + k] * b[transB ? j * K + k : k * N + j];
      ref += x;
      scale += Math.abs(x);
    }
    out.push({ at: i * N + j, ref, scale });
  }
  return out;
}

/** Measure the candidates on each distinct shape (cached shapes excepted) and choose. */
export async function autotuneMatmul(backend: TunableBackend, products: TuneProduct[], opts: TuneOptions = {}): Promise<TuneReport> {
  const start = now();
  const deadline = start + (opts.budgetMs ?? 2000);
  const candidates = opts.candidates ?? MATMUL_CANDIDATES;
  const cache = opts.cache === null ? undefined : (opts.cache ?? tuningCache());
  const adapter = adapterKey(backend.adapterInfo);
  const entries: TuneEntry[] = [];
  const chosen: Record<string, MatmulCandidate> = {};
  const seen = new Set<string>();
  const rng = new Rng(20111);

  const distinct = products.filter(({ shape }) => !seen.has(shapeKey(shape)) && seen.add(shapeKey(shape)));
  for (const [index, { op, shape }] of distinct.entries()) {
    const key = shapeKey(shape);
    // Each shape gets an equal share of what is left of the budget.
    const shapeDeadline = now() + (deadline - now()) / (distinct.length - index);
    const cacheKey = `${ENGINE_VERSION}|${adapter}|${key}`;
    const base = { op, shape: [shape.M, shape.N, shape.K] as [number, number, number], layout: layoutOf(shape) };
    const hit = !opts.force && cache ? ((await cache.get(cacheKey)) as { chosen?: string; candidates?: CandidateResult[] } | undefined) : undefined;
    const hitCandidate = hit?.chosen ? candidates.find((c) => c.name === hit.chosen) : undefined;
    if (hit && hitCandidate) {
      chosen[key] = hitCandidate;
      entries.push({ ...base, candidates: hit.candidates ?? [], chosen: hit.chosen!, cached: true });
      continue;
    }

    const { M, N, K } = shape;
    const a = rng.fill(M * K);
    const b = rng.fill(K * N);
    const check = probes(shape, a, b, rng);
    const ra: BufRange = { arena: 'tune.a', offset: 0, length: M * K };
    const rb: BufRange = { arena: 'tune.b', offset: 0, length: K * N };
    const rc: BufRange = { arena: 'tune.c', offset: 0, length: M * N };
    // Split-K candidates need scratch for their partial products.
    const scratchLength = Math.max(1, ...candidates.map((c) => (candidateProblem(c) ? 0 : candidateScratch(c, shape))));
    const rs: BufRange = { arena: 'tune.scratch', offset: 0, length: scratchLength };
    backend.allocate({ 'tune.a': M * K, 'tune.b': K * N, 'tune.c': M * N, 'tune.scratch': scratchLength });
    const results: CandidateResult[] = [];
    try {
      backend.writeF(ra, a);
      backend.writeF(rb, b);
      const pick = opts.first?.(shape);
      const lead = pick && candidates.find((c) => c.name === pick.name);
      const order = lead ? [lead, ...candidates.filter((c) => c.name !== lead.name)] : candidates;
      for (const [ci, cand] of order.entries()) {
        const config = cand.name;
        // The first in order (`first`'s pick, else the list's first) is always measured, whatever the budget.
        if (ci > 0 && now() > shapeDeadline) {
          results.push({ config, error: `not measured: the tuning budget (${opts.budgetMs ?? 2000} ms) ran out` });
          continue;
        }
        const bad = misfit(cand, backend.deviceLimits);
        if (bad) {
          results.push({ config, error: bad });
          continue;
        }
        try {
          const steps = (opts.build ?? matmulWith)(cand, `tune ${key} ${config}`, shape, { a: ra, b: rb, c: rc, scratch: rs });
          await backend.prepare(steps);
          backend.run(steps, STEP);
          const c = await backend.readF(rc);
          const wrong = check.find((p) => !(Math.abs(c[p.at] - p.ref) <= Math.max(1e-4, 4 * K * 2 ** -24) * p.scale + 1e-30));
          if (wrong) {
            results.push({ config, error: `failed the correctness probe: output ${wrong.at} is ${c[wrong.at]}, expected ${wrong.ref.toPrecision(6)}` });
            continue;
          }
          // One untimed run first: the first run after the probe carried a one-off cost of
          // 20 ms and more on an H200 (a single 4096³ product read 5 TFLOP/s, 27 when timed
          // again). Then time command buffers of r dispatches, multiplying r until one runs
          // TARGET_MS (one dispatch alone is mostly submit and wait latency on a fast GPU),
          // at least twice, and keep the best per-dispatch time.
          backend.run(steps, STEP);
          await backend.finish();
          let r = 1;
          let per = Infinity;
          for (let sample = 1; ; sample++) {
            const t0 = now();
            backend.run(Array.from({ length: r }, () => steps).flat(), STEP);
            await backend.finish();
            const dt = now() - t0;
            per = Math.min(per, dt / r);
            if ((dt >= TARGET_MS && sample >= 2) || now() + 2 * dt > shapeDeadline) break;
            if (dt < TARGET_MS) {
              if (r >= MAX_REPS) break;
              r = Math.min(MAX_REPS, r * Math.min(8, Math.max(2, Math.ceil(TARGET_MS / Math.max(dt, 1e-3)))));
            }
          }
          results.push({ config, gflops: (2 * M * N * K) / (per * 1e6) });
        } catch (e) {
          results.push({ config, error: (e as Error).message.split('\n')[0] });
        }
      }
    } finally {
      backend.free(['tune.a', 'tune.b', 'tune.c', 'tune.scratch']);
    }
    const best = results.reduce<{ config: string; gflops: number } | undefined>((m, r) => ('gflops' in r && (!m || r.gflops > m.gflops) ? r : m), undefined);
    if (best) {
      chosen[key] = candidates.find((c) => c.name === best.config)!;
      await cache?.set(cacheKey, { chosen: best.config, candidates: results });
    }
    entries.push({ ...base, candidates: results, chosen: best?.config ?? 'default (no candidate passed)', cached: false });
  }
  return { adapter, cache: cache?.where ?? 'none', entries, chosen, seconds: (now() - start) / 1000 };
}
