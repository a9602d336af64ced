// Which path a product takes, from what its products cost on this machine as it runs. The
// start-up measurement (a few calls per shape, timed on random data) gives each shape a
// first estimate; on a shared machine it is close to random, and at large batches the
// budget runs out before every shape is timed. So the estimates are refined from the real
// products: the dense path's time per shape, the sparse path's time per unit of density per
// product (its cost is close to linear in op(A)'s density), each the median of the recent
// runs (a busy core only adds time, and a median shrugs off a few such runs). The path not
// taken is run now and then (a probe) when the two are close, so that both stay fresh; a
// probe's extra cost is bounded (PROBES). A shape the start-up left untimed starts from a
// timed shape's estimate scaled by M·N·K, before its own runs take over.

/** Recent runs a median is taken over. */
const WINDOW = 9;
/** Crossover for a shape when no shape at all was timed at start-up (the budget was 0). */
export const DEFAULT_CROSSOVER = 0.25;
/**
 * How often the path not taken is probed, by how much slower it is predicted to be: a
 * probe of a path r× slower every p steps costs (r − 1) / p of that product's time, at
 * most 1.6 % here (r < 1.5, p 32), 1.2 % (r < 4, p 256), and rarely beyond.
 */
const PROBES: [ratio: number, period: number][] = [
  [1.5, 32],
  [4, 256],
  [Infinity, 2048],
];
/**
 * A path with fewer than MIN_RUNS runs of its own (known only from the start-up timing,
 * which under load is close to random, or from another shape) is probed every
 * UNKNOWN_PERIOD steps: a few slow runs once, at the start.
 */
const UNKNOWN_PERIOD = 2;
const MIN_RUNS = 3;
/**
 * Runs of each path a product makes (of the dense path, a shape) before their times count.
 * A function's first calls run V8's baseline WebAssembly code while the optimising tier
 * compiles in the background (per function, and in every helper thread), and fault in
 * scratch pages: measured (Node 20, 2026-12-01) the paper network's first forward product
 * took 2.8 and 1.9 ms on the sparse path in its first two steps and 0.65 ms from the third.
 * Counted, those two held the median above the dense path's 1.6 ms, and the product ran
 * dense for 30 to over 120 steps before probes outvoted them.
 */
const WARMUP_RUNS = 2;
/** Steps after which every product has runs of its own on both paths (where it probes at all): a new backend's exploring is over. */
export const EXPLORE_STEPS = UNKNOWN_PERIOD * (WARMUP_RUNS + MIN_RUNS);
/** Sparse runs below this density say little about the cost per unit of density (fixed costs dominate): not sampled. */
const MIN_SAMPLE_DENSITY = 0.01;
/** A product with (almost) no zeros has nothing to skip: the sparse path is not probed there. */
const MAX_PROBE_DENSITY = 0.95;

/** A shape's start-up timing: the dense product's fastest time and the crossover density. */
export interface ShapeTiming {
  denseMs: number;
  crossover: number;
}

/** Start-up timings (this process), by shape key (shape and thread count: the machine does not change). */
export const startupTimings = new Map<string, ShapeTiming>();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const push = (xs: number[], x: number) => {
  xs.push(x);
  if (xs.length > WINDOW) xs.shift();
};

interface Product {
  /** Sparse runs: ms per unit of op(A)'s density. */
  sparseRate: number[];
  /** Sparse runs made, counted or not (the first WARMUP_RUNS are not). */
  sparseRuns: number;
  steps: number;
  lastProbe: number;
}

export interface ShapeInfo {
  /** Key of the shape and thread count, as in startupTimings. */
  key: string;
  /** The transposes ("NT", "NN", "TN"): products of the same kind scale alike. */
  kind: string;
  /** M·N·K. */
  work: number;
  /** The thread-count suffix of keys that share this machine setting. */
  threads: number;
}

export interface Estimate {
  crossover: number;
  /** Predicted ms of each path at the given density (undefined when nothing is known yet). */
  denseMs?: number;
  sparseMs?: number;
  /** Whether each path has MIN_RUNS runs of its own (else it is probed soon). */
  denseKnown: boolean;
  sparseKnown: boolean;
}

export interface Choice {
  sparse: boolean;
  /** True when this run takes the path the estimates do not favour, to keep it fresh. */
  probe: boolean;
}

export class PathChooser {
  private readonly dense = new Map<string, number[]>();
  /** Dense runs made per shape, counted or not (the first WARMUP_RUNS are not). */
  private readonly denseRuns = new Map<string, number>();
  private readonly products = new Map<string, Product>();

  private product(label: string): Product {
    let p = this.products.get(label);
    if (!p) this.products.set(label, (p = { sparseRate: [], sparseRuns: 0, steps: 0, lastProbe: 0 }));
    return p;
  }

  /** The start-up timing of this shape, or one derived from timed shapes (same kind first) scaled by M·N·K. */
  private startup(s: ShapeInfo): ShapeTiming | undefined {
    const own = startupTimings.get(s.key);
    if (own) return own;
    const timed = [...startupTimings].flatMap(([k, t]) => {
      const w = parseKey(k);
      return w && w.threads === s.threads ? [{ ...t, ...w }] : [];
    });
    const same = timed.filter((t) => t.kind === s.kind);
    const from = same.length ? same : timed;
    if (from.length === 0) return undefined;
    return {
      denseMs: median(from.map((t) => (t.denseMs * s.work) / t.work)),
      crossover: median(from.map((t) => t.crossover)),
    };
  }

  /** The current estimate for a product of this shape at op(A) density `density`. */
  estimate(label: string, s: ShapeInfo, density: number): Estimate {
    const seed = this.startup(s);
    const runs = this.dense.get(s.key) ?? [];
    const rates = this.products.get(label)?.sparseRate ?? [];
    const denseMs = runs.length ? median(runs) : seed?.denseMs;
    const seedRate = seed && seed.denseMs / Math.max(seed.crossover, 0.01);
    const rate = rates.length ? median(rates) : seedRate;
    const denseKnown = runs.length >= MIN_RUNS;
    const sparseKnown = rates.length >= MIN_RUNS;
    if (denseMs === undefined || rate === undefined) return { crossover: seed?.crossover ?? DEFAULT_CROSSOVER, denseKnown, sparseKnown };
    return { crossover: Math.min(1, denseMs / rate), denseMs, sparseMs: rate * density, denseKnown, sparseKnown };
  }

  /** The path for this run of a product: below the crossover sparse, now and then the other path as a probe. */
  choose(label: string, s: ShapeInfo, density: number): Choice {
    const p = this.product(label);
    p.steps++;
    const e = this.estimate(label, s, density);
    const sparse = density < e.crossover;
    const otherKnown = sparse ? e.denseKnown : e.sparseKnown;
    let period: number;
    if (!otherKnown) period = UNKNOWN_PERIOD;
    else {
      // An all-zero op(A) (a dead layer) costs ~nothing sparse: the ratio is then ∞ or NaN,
      // and the rarest probe applies.
      const ratio = sparse ? e.denseMs! / e.sparseMs! : e.sparseMs! / e.denseMs!;
      period = (PROBES.find(([r]) => ratio < r) ?? PROBES[PROBES.length - 1])[1];
    }
    const probe = p.steps - p.lastProbe >= period && density >= MIN_SAMPLE_DENSITY && (sparse || density < MAX_PROBE_DENSITY);
    if (probe) p.lastProbe = p.steps;
    return { sparse: sparse !== probe, probe };
  }

  /** What a run cost: `ms` on the path taken, at op(A) density `density`. */
  observe(label: string, s: ShapeInfo, sparse: boolean, density: number, ms: number): void {
    if (!sparse) {
      const made = (this.denseRuns.get(s.key) ?? 0) + 1;
      this.denseRuns.set(s.key, made);
      if (made <= WARMUP_RUNS) return;
      let runs = this.dense.get(s.key);
      if (!runs) this.dense.set(s.key, (runs = []));
      push(runs, ms);
      return;
    }
    const p = this.product(label);
    if (++p.sparseRuns <= WARMUP_RUNS) return;
    if (density >= MIN_SAMPLE_DENSITY) push(p.sparseRate, ms / density);
  }
}

/** "64×1000×784 NT/2" → its kind, M·N·K and threads. */
function parseKey(key: string): { kind: string; work: number; threads: number } | undefined {
  const m = /^(\d+)×(\d+)×(\d+) ([NT]{2})\/(\d+)$/.exec(key);
  return m ? { kind: m[4], work: +m[1] * +m[2] * +m[3], threads: +m[5] } : undefined;
}
