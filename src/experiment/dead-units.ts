// `rectigrad experiment dead-units`: how many relu units die, when, whether it matters, and
// what reviving or pruning them buys, in five parts:
//   E0 born dead     no training: bias-free relu networks at initialisation (born-dead.ts)
//   E1 death map     784-256-256-256-10 on MNIST over optimiser × learning rate × activation
//   E2 policies      the worst finite cell of E1 under keep / revive / revive dormant / prune
//   E3 the paper's   784-1000-1000-1000-10 with the L1 penalty: keep, revive, prune
//   E4 continual     permuted MNIST, one task after another (continual.ts)
// Every run (and every E0 group) is saved when it finishes; run again, the experiment skips
// what is saved and goes on with the rest. The sizes are those of `DEFAULT` (about an hour
// on two CPU cores) or of `QUICK` (seconds: the tests).
import type { Backend } from '../backend/backend.ts';
import { limitDataset, sampleDataset, type PixelDataset } from '../data/dataset.ts';
import { initialParams } from '../model/init.ts';
import { modelSpec, type Init } from '../model/spec.ts';
import type { Activation } from '../ops/activations.ts';
import type { OptimizerKind } from '../ops/optimizer.ts';
import type { DeadUnitPolicy } from '../train/dead-units.ts';
import { bornDead, BornDeadTally, type BornDeadCell } from './born-dead.ts';
import { continualRun, type ContinualPolicy, type ContinualResult, type ContinualSpec } from './continual.ts';
import { trainRun, type RunEnv, type TrainResult, type TrainSpec } from './dead-runs.ts';

export interface Setting {
  optimizer: OptimizerKind;
  lr: number;
}

/** A column of E1's map: the activation, its L1 penalty and initialiser. */
export interface Column {
  name: string;
  activation: Activation;
  l1: number;
  init: Init;
}

export interface PolicyChoice {
  name: string;
  policy: DeadUnitPolicy;
  tau: number;
}

export interface DeadUnitsConfig {
  name: 'default' | 'quick';
  /** MNIST images used (all when undefined): training, test. */
  trainLimit?: number;
  testLimit?: number;
  /** The fixed sample of training images every scan of E1–E3 covers. */
  sample: number;
  batch: number;
  seed: number;
  e0: { inits: Init[]; widths: number[]; depths: number[]; seeds: Record<number, number>; images: number };
  e1: {
    hidden: number[];
    epochs: number;
    settings: Setting[];
    columns: Column[];
    /** Further cells: depth and initialiser during training, at two settings. */
    extra: { name: string; hidden: number[]; init: Init; settings: Setting[] };
    window: number;
    scanEvery: number;
  };
  e2: { policies: PolicyChoice[]; window: number };
  e3: { hidden: number[]; l1: number; setting: Setting; epochs: number; policies: PolicyChoice[]; window: number; grace: number; scanEvery: number };
  e4: {
    hidden: number[];
    tasks: number;
    examplesPerTask: number;
    testImages: number;
    scanExamples: number;
    settings: Setting[];
    policies: { name: string; policy: ContinualPolicy; tau: number }[];
    every: number;
    replace: number;
    maturity: number;
  };
}

const E1_SETTINGS: Setting[] = [
  { optimizer: 'momentum', lr: 0.03 },
  { optimizer: 'momentum', lr: 0.1 },
  { optimizer: 'momentum', lr: 0.3 },
  { optimizer: 'adam', lr: 0.001 },
  { optimizer: 'adam', lr: 0.003 },
  { optimizer: 'adam', lr: 0.01 },
];

const COLUMNS: Column[] = [
  { name: 'relu', activation: 'relu', l1: 0, init: 'glorot' },
  { name: 'leaky_relu', activation: 'leaky_relu', l1: 0, init: 'glorot' },
  { name: 'relu+L1', activation: 'relu', l1: 0.001, init: 'glorot' },
];

const E2_POLICIES: PolicyChoice[] = [
  { name: 'keep', policy: 'keep', tau: 0 },
  { name: 'revive τ=0', policy: 'revive', tau: 0 },
  { name: 'revive τ=0.025', policy: 'revive', tau: 0.025 },
  { name: 'prune', policy: 'prune', tau: 0 },
];

const E3_POLICIES: PolicyChoice[] = [
  { name: 'keep', policy: 'keep', tau: 0 },
  { name: 'revive τ=0.025', policy: 'revive', tau: 0.025 },
  { name: 'prune τ=0.025', policy: 'prune', tau: 0.025 },
];

const E4_POLICIES: DeadUnitsConfig['e4']['policies'] = [
  { name: 'keep', policy: 'keep', tau: 0 },
  { name: 'revive dead at switch', policy: 'switch', tau: 0 },
  { name: 'revive dormant at switch', policy: 'switch', tau: 0.025 },
  { name: 'continual revival', policy: 'continual', tau: 0 },
];

export const DEFAULT: DeadUnitsConfig = {
  name: 'default',
  sample: 10_000,
  batch: 64,
  seed: 1,
  e0: {
    inits: ['glorot', 'he'],
    widths: [2, 4, 8, 16, 32, 128],
    depths: [2, 4, 8, 16, 32],
    seeds: { 2: 200, 4: 200, 8: 200, 16: 200, 32: 200, 128: 50 },
    images: 2000,
  },
  e1: {
    hidden: [256, 256, 256],
    epochs: 3,
    settings: E1_SETTINGS,
    columns: COLUMNS,
    extra: {
      name: 'relu',
      hidden: [256, 256, 256, 256, 256, 256],
      init: 'he',
      settings: [
        { optimizer: 'momentum', lr: 0.1 },
        { optimizer: 'adam', lr: 0.003 },
      ],
    },
    window: 3200,
    scanEvery: 15_000,
  },
  e2: { policies: E2_POLICIES, window: 10_000 },
  e3: {
    hidden: [1000, 1000, 1000],
    l1: 0.001,
    setting: { optimizer: 'momentum', lr: 0.03 },
    epochs: 2,
    policies: E3_POLICIES,
    window: 20_000,
    grace: 100,
    scanEvery: 30_000,
  },
  e4: {
    hidden: [128, 128, 128],
    tasks: 25,
    examplesPerTask: 8000,
    testImages: 2000,
    scanExamples: 1000,
    settings: [
      { optimizer: 'momentum', lr: 0.03 },
      { optimizer: 'adam', lr: 0.001 },
    ],
    policies: E4_POLICIES,
    every: 16,
    replace: 1,
    maturity: 100,
  },
};

/** Every part, tiny: a test's worth (seconds on two cores). */
export const QUICK: DeadUnitsConfig = {
  name: 'quick',
  trainLimit: 1280,
  testLimit: 500,
  sample: 500,
  batch: 64,
  seed: 1,
  e0: { inits: ['glorot', 'he'], widths: [2, 8], depths: [2, 4, 8], seeds: { 2: 20, 8: 20 }, images: 200 },
  e1: {
    hidden: [16, 16, 16],
    epochs: 1,
    settings: E1_SETTINGS,
    columns: COLUMNS,
    extra: { name: 'relu', hidden: [16, 16, 16, 16, 16, 16], init: 'he', settings: [{ optimizer: 'momentum', lr: 0.1 }] },
    window: 320,
    scanEvery: 640,
  },
  e2: { policies: E2_POLICIES, window: 320 },
  e3: {
    hidden: [32, 32, 32],
    l1: 0.001,
    setting: { optimizer: 'momentum', lr: 0.03 },
    epochs: 2,
    policies: E3_POLICIES,
    window: 640,
    grace: 5,
    scanEvery: 640,
  },
  e4: {
    hidden: [16, 16, 16],
    tasks: 3,
    examplesPerTask: 640,
    testImages: 200,
    scanExamples: 200,
    settings: [{ optimizer: 'momentum', lr: 0.03 }],
    policies: E4_POLICIES,
    every: 4,
    replace: 1,
    maturity: 4,
  },
};

export const PARTS = ['E0', 'E1', 'E2', 'E3', 'E4'] as const;
export type Part = (typeof PARTS)[number];

/** Everything the experiment has found so far (results.json). */
export interface DeadUnitsResults {
  config: DeadUnitsConfig;
  e0: BornDeadCell[];
  e1: TrainResult[];
  /** E2's cell (an E1 key) and its runs. */
  e2: { cell?: string; why?: string; runs: TrainResult[] };
  e3: TrainResult[];
  e4: ContinualResult[];
}

/** Where finished runs are kept between invocations (files, in the CLI). */
export interface RunStore {
  load<T>(key: string): T | undefined;
  save(key: string, value: unknown): void;
}

export interface ExperimentContext {
  config: DeadUnitsConfig;
  store: RunStore;
  makeBackend(): Promise<Backend>;
  mnist: { train: PixelDataset; test: PixelDataset };
  log(line: string): void;
  /** After each saved run or group (e.g. rewrite the report). */
  onProgress(results: DeadUnitsResults): Promise<void>;
}

const fmtLr = (lr: number) => String(lr);
export const settingName = (s: Setting): string => `${s.optimizer === 'adam' ? 'Adam' : 'momentum'}, lr ${fmtLr(s.lr)}`;

/** E1's cells in the order they run (the map, then the extra depth / initialiser cells). */
export function e1Specs(c: DeadUnitsConfig): TrainSpec[] {
  const base = { batch: c.batch, epochs: c.e1.epochs, seed: c.seed, policy: 'keep' as const, tau: 0, grace: 0, window: c.e1.window, scanEvery: c.e1.scanEvery };
  const map = c.e1.columns.flatMap((col) =>
    c.e1.settings.map((s) => ({
      ...base,
      key: `e1-${col.name}-${s.optimizer}-${s.lr}`,
      hidden: c.e1.hidden,
      activation: col.activation,
      init: col.init,
      l1: col.l1,
      optimizer: s.optimizer,
      lr: s.lr,
    })),
  );
  const x = c.e1.extra;
  const extra = [
    ...x.settings.map((s) => ({ hidden: c.e1.hidden, init: x.init, s })),
    ...x.settings.map((s) => ({ hidden: x.hidden, init: 'glorot' as Init, s })),
  ].map(({ hidden, init, s }) => ({
    ...base,
    key: `e1x-${x.name}-${hidden.length}x${hidden[0]}-${init}-${s.optimizer}-${s.lr}`,
    hidden,
    activation: 'relu' as Activation,
    init,
    l1: 0,
    optimizer: s.optimizer,
    lr: s.lr,
  }));
  return [...map, ...extra];
}

/** Fraction of all hidden units dead on the training sample at a run's end (1 for a diverged run). */
export function finalDeadFraction(r: TrainResult): number {
  if (r.diverged) return 1;
  const last = r.trace[r.trace.length - 1];
  return last.dead.reduce((s, x) => s + x, 0) / last.widths.reduce((s, x) => s + x, 0);
}

/**
 * E2's cell: of E1's map (not the extra cells), the run whose loss stayed finite with the
 * largest fraction of hidden units dead at its end; ties go to the earlier cell.
 */
export function worstFiniteCell(runs: TrainResult[]): TrainResult | undefined {
  return runs
    .filter((r) => !r.diverged && r.spec.key.startsWith('e1-'))
    .reduce<TrainResult | undefined>((w, r) => (!w || finalDeadFraction(r) > finalDeadFraction(w) ? r : w), undefined);
}

export function e2Specs(c: DeadUnitsConfig, cell: TrainSpec): TrainSpec[] {
  return c.e2.policies.map((p) => ({ ...cell, key: `e2-${p.name.replace(/[ =τ]+/g, '') || p.policy}`, policy: p.policy, tau: p.tau, window: c.e2.window }));
}

export function e3Specs(c: DeadUnitsConfig): TrainSpec[] {
  const e = c.e3;
  return e.policies.map((p) => ({
    key: `e3-${p.name.replace(/[ =τ]+/g, '')}`,
    hidden: e.hidden,
    activation: 'relu',
    init: 'glorot',
    l1: e.l1,
    optimizer: e.setting.optimizer,
    lr: e.setting.lr,
    batch: c.batch,
    epochs: e.epochs,
    seed: c.seed,
    policy: p.policy,
    tau: p.tau,
    grace: p.policy === 'revive' ? e.grace : 0,
    window: e.window,
    scanEvery: e.scanEvery,
  }));
}

export function e4Specs(c: DeadUnitsConfig): ContinualSpec[] {
  const e = c.e4;
  return e.settings.flatMap((s) =>
    e.policies.map((p) => ({
      key: `e4-${s.optimizer}-${s.lr}-${p.name.replace(/ /g, '-')}`,
      hidden: e.hidden,
      init: 'glorot' as Init,
      optimizer: s.optimizer,
      lr: s.lr,
      batch: c.batch,
      seed: c.seed,
      tasks: e.tasks,
      examplesPerTask: e.examplesPerTask,
      policy: p.policy,
      tau: p.tau,
      every: e.every,
      replace: e.replace,
      maturity: e.maturity,
    })),
  );
}

/** The E2 key of a policy choice, for the report. */
export const policyName = (c: DeadUnitsConfig, spec: TrainSpec, part: 'e2' | 'e3'): string =>
  (part === 'e2' ? c.e2.policies : c.e3.policies).find((p) => p.policy === spec.policy && p.tau === spec.tau)?.name ?? spec.policy;

export const continualPolicyName = (c: DeadUnitsConfig, spec: ContinualSpec): string =>
  c.e4.policies.find((p) => p.policy === spec.policy && p.tau === spec.tau)?.name ?? spec.policy;

/** Runs every part, skipping what the store already holds; returns the results. */
export async function runDeadUnits(ctx: ExperimentContext): Promise<DeadUnitsResults> {
  const { config: c, store, log } = ctx;
  const results: DeadUnitsResults = { config: c, e0: [], e1: [], e2: { runs: [] }, e3: [], e4: [] };
  const train = limitDataset(ctx.mnist.train, c.trainLimit);
  const test = limitDataset(ctx.mnist.test, c.testLimit);
  const env: RunEnv = { makeBackend: ctx.makeBackend, train, test, sample: sampleDataset(train, c.sample, c.seed * 7 + 1, 'MNIST training sample'), log };
  // A saved run is used only if it was made with the same settings: sizes changed between
  // invocations would mix two experiments in one report.
  const once = async <T extends { spec: unknown }>(key: string, spec: T['spec'], run: () => Promise<T>): Promise<T> => {
    const saved = store.load<T>(key);
    if (saved !== undefined) {
      if (JSON.stringify(saved.spec) !== JSON.stringify(spec)) {
        throw new Error(`the saved run ${key} was made with other settings (${JSON.stringify(saved.spec)}): use another --out`);
      }
      return saved;
    }
    log(`${key}: running`);
    const r = await run();
    store.save(key, r);
    return r;
  };

  // E0: born dead, one group per (initialiser, width), each read at every depth.
  const images = sampleDataset(ctx.mnist.train, c.e0.images, c.seed * 7 + 2);
  const x = Float32Array.from(images.images, (p) => p * images.scale + images.shift);
  const deepest = Math.max(...c.e0.depths);
  for (const init of c.e0.inits) {
    for (const width of c.e0.widths) {
      const seeds = c.e0.seeds[width] ?? 1;
      const spec = { init, width, depths: c.e0.depths, seeds, images: c.e0.images, seed: c.seed };
      const { cells } = await once(`e0-${init}-w${width}`, spec, async () => {
        const tally = new BornDeadTally(init, width, c.e0.depths);
        for (let s = 1; s <= seeds; s++) {
          const m = modelSpec({ inputs: 784, classes: 10, hidden: new Array(deepest).fill(width), activation: 'relu', init, seed: s });
          tally.add(bornDead(m, initialParams(m), x));
          // Let the event loop breathe (a signal, progress output) between networks.
          if (s % 10 === 0) await new Promise((r) => setImmediate(r));
        }
        return { spec, cells: tally.result() };
      });
      results.e0.push(...cells);
      await ctx.onProgress(results);
    }
  }

  // E1: the death map.
  for (const spec of e1Specs(c)) {
    results.e1.push(await once(spec.key, spec, () => trainRun(spec, env)));
    await ctx.onProgress(results);
  }

  // E2: the policies on E1's worst cell whose loss stayed finite.
  const worst = worstFiniteCell(results.e1);
  if (worst) {
    results.e2.cell = worst.spec.key;
    results.e2.why = `${(100 * finalDeadFraction(worst)).toFixed(1)}% of its hidden units dead at the end of E1`;
    for (const spec of e2Specs(c, worst.spec)) {
      results.e2.runs.push(await once(spec.key, spec, () => trainRun(spec, env)));
      await ctx.onProgress(results);
    }
  } else log('E2: every cell of E1 diverged; no cell to try the policies on');

  // E3: the paper's network with the L1 penalty.
  for (const spec of e3Specs(c)) {
    results.e3.push(await once(spec.key, spec, () => trainRun(spec, env)));
    await ctx.onProgress(results);
  }

  // E4: permuted MNIST.
  const e4env = {
    makeBackend: ctx.makeBackend,
    train: sampleDataset(ctx.mnist.train, c.e4.examplesPerTask, c.seed * 7 + 3, 'MNIST (permuted tasks)'),
    test: sampleDataset(ctx.mnist.test, c.e4.testImages, c.seed * 7 + 4, 'MNIST test (permuted tasks)'),
    scanExamples: c.e4.scanExamples,
    log,
  };
  for (const spec of e4Specs(c)) {
    results.e4.push(await once(spec.key, spec, () => continualRun(spec, e4env)));
    await ctx.onProgress(results);
  }
  return results;
}
