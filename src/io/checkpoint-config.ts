// The training settings a checkpoint carries in its `config` metadata, so that
// `rectigrad train --resume` (and the demo page) can continue a run exactly. One schema
// for every writer and reader: build it with runConfig(), read it back with
// parseRunConfig(), which names the first missing or wrong field. Browser-safe.
import type { DatasetName } from '../data/load.ts';
import { CONSTANT_LR, LR_SCHEDULES, scheduleProblem, type LrSchedule, type LrScheduleKind } from '../ops/lr-schedule.ts';
import { DEFAULT_LR, DEFAULT_OPTIMIZER, type OptimizerConfig, type OptimizerKind } from '../ops/optimizer.ts';
import { CheckpointError } from './safetensors.ts';

export interface RunConfig {
  /** The dataset by name; `dataDir` names a directory of IDX files standing in for MNIST. */
  data: DatasetName;
  dataDir?: string;
  /** Only the first n training examples were used. */
  trainLimit?: number;
  /** For the record: the first n test examples were evaluated. */
  testLimit?: number;
  /** For the record: the run was planned for this many epochs. */
  epochs?: number;
  batch: number;
  /** The base learning rate; `lrSchedule` says how it changes with the step. */
  lr: number;
  /** Steps are counted from the run's start, so a resumed run continues the schedule where it was. */
  lrSchedule: LrSchedule;
  /** L1 activation penalty λ. */
  l1: number;
  optimizer: OptimizerConfig;
  /** Max-norm bound on each unit's incoming weights, applied after every update (present only when on, > 0). */
  maxNorm?: number;
  /** Inverted dropout while training (present only when on): drop probabilities of hidden outputs and of the input. */
  dropout?: RunDropout;
  /** Seed of initialisation, shuffling and synthetic data. */
  seed: number;
  telemetry: boolean;
  /** What the run does about dead units (recorded when not the defaults), so a resumed run carries on alike. */
  deadUnits?: RunDeadUnits;
}

/** A run's dropout: `hidden` for every hidden layer's output, `input` (when on) for the pixels; masks seeded by the run's seed. */
export interface RunDropout {
  hidden: number;
  input?: number;
}

/** The dead-unit settings of a run (the trainer's deadUnits … stopOnDeadLayer options). */
export interface RunDeadUnits {
  policy: 'keep' | 'revive' | 'prune';
  /** Window and examples scanned per check; absent: one epoch. */
  window?: number;
  tau: number;
  grace: number;
  alarm: number;
  stop: boolean;
}

const DATA_NAMES = ['mnist', 'synthetic'] as const satisfies readonly DatasetName[];
const KINDS = ['sgd', 'momentum', 'adam'] as const satisfies readonly OptimizerKind[];

/** A complete RunConfig from the settings given, the defaults for the rest (lr: the optimiser's). */
export function runConfig(c: Partial<Omit<RunConfig, 'optimizer'>> & { optimizer?: Partial<OptimizerConfig> } = {}): RunConfig {
  const optimizer: OptimizerConfig = { ...DEFAULT_OPTIMIZER, ...c.optimizer };
  return parseRunConfig(
    {
      data: 'mnist',
      batch: 64,
      l1: 0,
      seed: 1,
      telemetry: true,
      ...c,
      optimizer,
      lr: c.lr ?? DEFAULT_LR[optimizer.kind],
      lrSchedule: c.lrSchedule ?? CONSTANT_LR,
    },
    'run config',
  );
}

/**
 * Check a checkpoint's config (as parsed from its metadata) field by field and return it
 * typed; a missing or wrong field is a CheckpointError naming it. Unknown fields are
 * ignored (a newer writer may record more). A config without `lrSchedule` (written before
 * schedules existed) trained at a constant rate.
 */
export function parseRunConfig(value: unknown, name = 'checkpoint'): RunConfig {
  const fail = (field: string, what: string, got: unknown): never => {
    throw new CheckpointError(`${name}: its run config ${got === undefined ? `lacks ${field}` : `has ${field} = ${JSON.stringify(got)}`} (expected ${what})`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CheckpointError(`${name}: its run config is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}, not an object`);
  }
  const o = value as Record<string, unknown>;
  const num = (src: Record<string, unknown>, field: string, path: string, what: string, ok: (x: number) => boolean): number => {
    const v = src[field];
    return typeof v === 'number' && Number.isFinite(v) && ok(v) ? v : fail(path, what, v);
  };
  const optional = <T>(field: string, read: () => T): T | undefined => (o[field] === undefined || o[field] === null ? undefined : read());
  const posInt = (x: number) => Number.isInteger(x) && x >= 1;

  const data = o.data;
  if (!DATA_NAMES.includes(data as DatasetName)) fail('data', `one of ${DATA_NAMES.join(', ')}`, data);
  const dataDir = optional('dataDir', () => (typeof o.dataDir === 'string' && o.dataDir !== '' ? o.dataDir : fail('dataDir', 'a directory path', o.dataDir)));
  const opt = o.optimizer;
  if (typeof opt !== 'object' || opt === null || Array.isArray(opt)) fail('optimizer', 'an object', opt);
  const op = opt as Record<string, unknown>;
  if (!KINDS.includes(op.kind as OptimizerKind)) fail('optimizer.kind', `one of ${KINDS.join(', ')}`, op.kind);
  const unit = (x: number) => x >= 0 && x < 1;
  const nonNeg = (x: number) => x >= 0;
  const optimizer: OptimizerConfig = {
    kind: op.kind as OptimizerKind,
    momentum: num(op, 'momentum', 'optimizer.momentum', 'a number in [0, 1)', unit),
    beta1: num(op, 'beta1', 'optimizer.beta1', 'a number in [0, 1)', unit),
    beta2: num(op, 'beta2', 'optimizer.beta2', 'a number in [0, 1)', unit),
    eps: num(op, 'eps', 'optimizer.eps', 'a number > 0', (x) => x > 0),
    weightDecay: num(op, 'weightDecay', 'optimizer.weightDecay', 'a number ≥ 0', nonNeg),
    clipNorm: num(op, 'clipNorm', 'optimizer.clipNorm', 'a number ≥ 0', nonNeg),
  };
  const lrSchedule = o.lrSchedule === undefined || o.lrSchedule === null ? CONSTANT_LR : parseSchedule(o.lrSchedule, fail);
  const telemetry = typeof o.telemetry === 'boolean' ? o.telemetry : fail('telemetry', 'true or false', o.telemetry);
  const c: RunConfig = {
    data: data as DatasetName,
    batch: num(o, 'batch', 'batch', 'a positive whole number', posInt),
    lr: num(o, 'lr', 'lr', 'a number > 0', (x) => x > 0),
    lrSchedule,
    l1: num(o, 'l1', 'l1', 'a number ≥ 0', nonNeg),
    optimizer,
    seed: num(o, 'seed', 'seed', 'a whole number ≥ 0', (x) => Number.isInteger(x) && x >= 0),
    telemetry,
  };
  // Optional fields appear only when set, so a config survives a JSON round trip unchanged.
  const extra: Partial<RunConfig> = {
    dataDir,
    trainLimit: optional('trainLimit', () => num(o, 'trainLimit', 'trainLimit', 'a positive whole number', posInt)),
    testLimit: optional('testLimit', () => num(o, 'testLimit', 'testLimit', 'a positive whole number', posInt)),
    epochs: optional('epochs', () => num(o, 'epochs', 'epochs', 'a positive whole number', posInt)),
    // 0 is off, the same as absent: recorded only when on.
    maxNorm: optional('maxNorm', () => num(o, 'maxNorm', 'maxNorm', 'a number ≥ 0 (0 = off)', nonNeg)) || undefined,
  };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  const dropout = optional('dropout', () => parseDropout(o.dropout, fail));
  if (dropout) c.dropout = dropout;
  const dead = optional('deadUnits', () => parseDeadUnits(o.deadUnits, fail));
  if (dead) c.deadUnits = dead;
  return c;
}

/** The schedule's fields by kind, each checked; the first wrong one is named. */
function parseSchedule(value: unknown, fail: (field: string, what: string, got: unknown) => never): LrSchedule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('lrSchedule', 'an object', value);
  const o = value as Record<string, unknown>;
  const kind = o.kind as LrScheduleKind;
  if (!LR_SCHEDULES.includes(kind)) return fail('lrSchedule.kind', `one of ${LR_SCHEDULES.join(', ')}`, o.kind);
  const int = (field: string, min: number): number => {
    const v = o[field];
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : fail(`lrSchedule.${field}`, `a whole number ≥ ${min}`, v);
  };
  let s: LrSchedule;
  if (kind === 'constant') s = { kind };
  else if (kind === 'step') {
    const gamma = o.gamma;
    s = {
      kind,
      every: int('every', 1),
      gamma: typeof gamma === 'number' && gamma > 0 && gamma <= 1 ? gamma : fail('lrSchedule.gamma', 'a number in (0, 1]', gamma),
    };
  } else {
    s = { kind, warmup: int('warmup', 0), total: int('total', 1) };
    if (s.warmup >= s.total) fail('lrSchedule.warmup', `fewer steps than lrSchedule.total (${s.total})`, s.warmup);
  }
  const problem = scheduleProblem(s);
  return problem ? fail('lrSchedule', problem, value) : s;
}

/** Drop rates as a run records them: absent when both are 0 (only a run with dropout records it), `input` only when on. */
export function runDropout(hidden = 0, input = 0): RunDropout | undefined {
  if (!hidden && !input) return undefined;
  return input ? { hidden, input } : { hidden };
}

/** Off (both rates 0) reads as absent, so that only a run with dropout records it. */
function parseDropout(value: unknown, fail: (field: string, what: string, got: unknown) => never): RunDropout | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('dropout', 'an object', value);
  const d = value as Record<string, unknown>;
  const rate = (field: string): number => {
    const v = d[field];
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1 ? v : fail(`dropout.${field}`, 'a drop probability in [0, 1)', v);
  };
  const hidden = rate('hidden');
  const input = d.input === undefined || d.input === null ? 0 : rate('input');
  return runDropout(hidden, input);
}

function parseDeadUnits(value: unknown, fail: (field: string, what: string, got: unknown) => never): RunDeadUnits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('deadUnits', 'an object', value);
  const d = value as Record<string, unknown>;
  const num = (field: string, what: string, ok: (x: number) => boolean): number => {
    const v = d[field];
    return typeof v === 'number' && Number.isFinite(v) && ok(v) ? v : fail(`deadUnits.${field}`, what, v);
  };
  const policy = d.policy;
  if (policy !== 'keep' && policy !== 'revive' && policy !== 'prune') fail('deadUnits.policy', 'one of keep, revive, prune', policy);
  const out: RunDeadUnits = {
    policy: policy as RunDeadUnits['policy'],
    tau: num('tau', 'a number ≥ 0', (x) => x >= 0),
    grace: num('grace', 'a whole number ≥ 0', (x) => Number.isInteger(x) && x >= 0),
    alarm: num('alarm', 'a fraction in (0, 1]', (x) => x > 0 && x <= 1),
    stop: typeof d.stop === 'boolean' ? d.stop : fail('deadUnits.stop', 'true or false', d.stop),
  };
  if (d.window !== undefined && d.window !== null) out.window = num('window', 'a positive whole number', (x) => Number.isInteger(x) && x >= 1);
  return out;
}
