// Property-based tests of the command line's parsing (no training is run): the option
// value parsers on arbitrary strings, and `train`'s whole argument list on generated
// flag combinations, end in a correct parse or commander's own error with a message
// naming the flag — never another exception.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../src/backend/create.ts';
import { fraction, nonNegative, nonNegativeInt, oneOf, positive, positiveInt, widthList } from '../src/cli/options.ts';
import { trainCommand } from '../src/cli/train.ts';
import { ACTIVATIONS } from '../src/ops/activations.ts';

const RUNS = 10_000;

/** Strings near the boundaries of every parser, plus anything at all. */
const numberish = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '0',
    '1',
    '-1',
    '+1',
    '1.5',
    '1e3',
    '0x10',
    '00',
    '007',
    'NaN',
    'Infinity',
    '-0',
    '9007199254740991',
    '9007199254740993',
    '1'.repeat(400),
    'none',
    'relu',
    ',',
    '1,,2',
    ' 3 ,4',
    '１２',
  ),
  fc.nat().map(String),
  fc.double().map(String),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.array(fc.nat(5000).map(String), { maxLength: 5 }).map((a) => a.join(',')),
  fc.tuple(fc.constantFrom(' ', '\t', '\n', ''), fc.nat(999).map(String), fc.constantFrom(' ', '\n', '', 'x')).map((p) => p.join('')),
  fc.string({ maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

/** A parser's outcome: its value, or its InvalidArgumentError's message (anything else is thrown on). */
function outcome<T>(f: () => T): { ok: true; value: T } | { ok: false; message: string } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    return { ok: false, message: e.message };
  }
}

/** The digits of a whole number as a person would write it: "007" → "7". */
const canonicalDigits = (s: string) => s.trim().replace(/^0+(?=\d)/, '');

describe('option value parsers, property-based', () => {
  it(`parse ${RUNS} strings correctly or name the flag and the value`, () => {
    fc.assert(
      fc.property(numberish, (v) => {
        // Plain checks, not expect(): six parsers × 10,000 inputs, and expect() is the slow part.
        const one = (flag: string, r: ReturnType<typeof outcome>, accept: boolean, value?: unknown) => {
          const fail = (why: string) => {
            throw new Error(`${flag} on ${JSON.stringify(v)}: ${why}`);
          };
          if (r.ok !== accept) fail(r.ok ? `accepted as ${JSON.stringify(r.value)}` : `refused: ${r.message}`);
          if (r.ok && !Object.is(r.value, value) && JSON.stringify(r.value) !== JSON.stringify(value))
            fail(`gave ${JSON.stringify(r.value)}, expected ${JSON.stringify(value)}`);
          if (!r.ok && (!r.message.startsWith(flag) || r.message.includes('\n'))) fail(`message ${JSON.stringify(r.message)}`);
        };
        const digits = /^\d+$/.test(v.trim());
        const n = Number(v);
        // Whole numbers: written in digits, exactly representable (so String(n) gives them back).
        const whole = digits && Number.isSafeInteger(n) && String(n) === canonicalDigits(v);
        one(
          '--batch',
          outcome(() => positiveInt('--batch')(v)),
          whole && n >= 1,
          n,
        );
        one(
          '--seed',
          outcome(() => nonNegativeInt('--seed')(v)),
          whole,
          n,
        );
        const finite = v.trim() !== '' && Number.isFinite(n);
        one(
          '--l1',
          outcome(() => nonNegative('--l1')(v)),
          finite && n >= 0,
          n,
        );
        one(
          '--lr',
          outcome(() => positive('--lr')(v)),
          finite && n > 0,
          n,
        );
        one(
          '--dead-alarm',
          outcome(() => fraction('--dead-alarm')(v)),
          finite && n > 0 && n <= 1,
          n,
        );
        one(
          '--backend',
          outcome(() => oneOf('--backend', BACKENDS)(v)),
          (BACKENDS as readonly string[]).includes(v),
          v,
        );
        const parts = v.split(',').map((p) => p.trim());
        const empty = v.trim() === '' || v.trim() === 'none';
        const widths = parts.every((p) => /^\d+$/.test(p) && Number.isSafeInteger(Number(p)) && Number(p) >= 1);
        one(
          '--layers',
          outcome(() => widthList('--layers')(v)),
          empty || widths,
          empty ? [] : parts.map(Number),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

// `train`'s flags with a valid and some invalid values each; `undefined` marks a switch.
const FLAGS: Record<string, string[] | undefined> = {
  '--data': ['mnist', 'synthetic', 'cifar'],
  '--data-dir': ['/tmp', ''],
  '--layers': ['1000,1000,1000', '32', 'none', '0', '5,,5', '99999999999999999999'],
  '--activation': [...ACTIVATIONS, 'gelu', 'RELU'],
  '--init': ['glorot', 'he', 'uniform', 'xavier'],
  '--l1': ['0', '1e-4', '-1', 'x'],
  '--optimizer': ['sgd', 'momentum', 'adam', 'rmsprop'],
  '--lr': ['0.1', '0', '-0.1', '1e999'],
  '--lr-schedule': ['cosine', 'step', 'constant', 'linear', 'Cosine'],
  '--lr-step-every': ['100', '2e', '0', '1.5e'],
  '--lr-gamma': ['0.1', '1', '0', '1.5'],
  '--warmup': ['1e', '0', '-1', 'e'],
  '--momentum': ['0.9', '-0.9'],
  '--weight-decay': ['0', '1e-4', 'NaN'],
  '--clip': ['0', '5', 'Infinity'],
  '--max-norm': ['0', '3.5', '-1', 'x'],
  '--dropout': ['0', '0.5', '1', '-0.1', 'NaN'],
  '--input-dropout': ['0.2', '0.99', '1.5'],
  '--batch': ['64', '0', '1.5', '1e3', ' 32 '],
  '--epochs': ['1', '3', '0', '-2'],
  '--steps': ['100', '0', 'ten'],
  '--train-limit': ['320', '0'],
  '--test-limit': ['150', 'x'],
  '--backend': [...BACKENDS, 'gpu'],
  '--seed': ['0', '1', '-1', '2.5'],
  '--save': ['m.safetensors', ''],
  '--resume': ['m.safetensors'],
  '--json': ['out.json'],
  '--dead-units': ['revive', 'keep', 'prune', 'zap'],
  '--dead-window': ['6400', '0', '1.5'],
  '--dormant-tau': ['0.025', '-1'],
  '--revive-grace': ['100', 'x'],
  '--dead-alarm': ['0.5', '0', '2'],
  '--stop-on-dead-layer': undefined,
  '--no-telemetry': undefined,
  '--quiet': undefined,
};

/**
 * One token group of an argument list — a flag (as `--f v` or `--f=v`), a stray word, or an
 * unknown flag — and whether it is certainly valid (a flag with the first value of its list).
 */
const token = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(fc.constantFrom(...Object.keys(FLAGS)), fc.nat(), fc.boolean(), fc.option(numberish, { freq: 6 })).map(([f, i, joined, junk]) => {
      const values = FLAGS[f];
      if (!values) return { argv: joined ? [`${f}=x`] : [f], valid: !joined };
      const v = junk ?? values[i % values.length];
      return { argv: joined ? [`${f}=${v}`] : [f, v], valid: junk === undefined && i % values.length === 0 };
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(['--frobnicate'], ['-x'], ['extra'], ['--'], ['-'], ['--batch'], ['--layers'], ['--help'], ['-h'], ['--no-quiet'])
      .map((argv) => ({ argv, valid: false })),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }).map((s) => ({ argv: [s], valid: false })) },
);

/** Parses `train`'s arguments with commander exactly as the CLI does, but with an action that only records the flags. */
function parseTrain(argv: string[]): Record<string, unknown> {
  const cmd: Command = trainCommand();
  let flags: Record<string, unknown> | undefined;
  cmd.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  cmd.action((f: Record<string, unknown>) => {
    flags = f;
  });
  cmd.parse(argv, { from: 'user' });
  if (!flags) throw new Error('the action did not run');
  return flags;
}

const posInt = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 1;

describe('train command line, property-based', () => {
  it(`parses ${RUNS} generated argument lists into well-typed settings or a commander error`, () => {
    const seen = { parsed: 0, refused: 0 };
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), (groups) => {
        const argv = groups.flatMap((g) => g.argv);
        let f: Record<string, any>;
        try {
          f = parseTrain(argv);
        } catch (e) {
          if (!(e instanceof CommanderError)) throw e;
          // Known flags, each with a valid value, always parse.
          expect(groups.every((g) => g.valid)).toBe(false);
          seen.refused++;
          if (e.code !== 'commander.helpDisplayed') expect(e.message).toMatch(/^error: /);
          return;
        }
        seen.parsed++;
        expect(['mnist', 'synthetic']).toContain(f.data);
        expect(Array.isArray(f.layers) && f.layers.every(posInt)).toBe(true);
        expect(ACTIVATIONS).toContain(f.activation);
        expect(['glorot', 'he', 'uniform']).toContain(f.init);
        expect(['sgd', 'momentum', 'adam']).toContain(f.optimizer);
        expect(['constant', 'step', 'cosine']).toContain(f.lrSchedule);
        if (f.lrGamma !== undefined) expect(f.lrGamma > 0 && f.lrGamma <= 1).toBe(true);
        const length = (l: any, min: number) => Object.keys(l).length === 1 && Number.isSafeInteger(l.steps ?? l.epochs) && (l.steps ?? l.epochs) >= min;
        if (f.lrStepEvery !== undefined) expect(length(f.lrStepEvery, 1)).toBe(true);
        if (f.warmup !== undefined) expect(length(f.warmup, 0)).toBe(true);
        expect(BACKENDS).toContain(f.backend);
        for (const k of ['l1', 'momentum', 'weightDecay', 'clip', 'maxNorm']) expect(Number.isFinite(f[k]) && f[k] >= 0).toBe(true);
        for (const k of ['dropout', 'inputDropout']) expect(f[k] >= 0 && f[k] < 1).toBe(true);
        if (f.lr !== undefined) expect(Number.isFinite(f.lr) && f.lr > 0).toBe(true);
        for (const k of ['batch', 'epochs']) expect(posInt(f[k])).toBe(true);
        for (const k of ['steps', 'trainLimit', 'testLimit']) if (f[k] !== undefined) expect(posInt(f[k])).toBe(true);
        expect(Number.isSafeInteger(f.seed) && f.seed >= 0).toBe(true);
        expect(typeof f.telemetry).toBe('boolean');
        expect(typeof f.quiet).toBe('boolean');
        for (const k of ['dataDir', 'save', 'resume', 'json']) if (f[k] !== undefined) expect(typeof f[k]).toBe('string');
        expect(['keep', 'revive', 'prune']).toContain(f.deadUnits);
        if (f.deadWindow !== undefined) expect(posInt(f.deadWindow)).toBe(true);
        expect(Number.isFinite(f.dormantTau) && f.dormantTau >= 0).toBe(true);
        expect(Number.isSafeInteger(f.reviveGrace) && f.reviveGrace >= 0).toBe(true);
        expect(f.deadAlarm > 0 && f.deadAlarm <= 1).toBe(true);
        expect(typeof f.stopOnDeadLayer).toBe('boolean');
      }),
      { numRuns: RUNS },
    );
    console.log(`train argv: ${RUNS} inputs: ${seen.parsed} parsed, ${seen.refused} refused by commander`);
    expect(seen.parsed).toBeGreaterThan(RUNS / 10);
  });

  it('parses the valid combinations it is given, with the last value of a repeated flag winning', () => {
    const f = parseTrain([
      '--layers',
      '32,16',
      '--batch=32',
      '--optimizer',
      'adam',
      '--no-telemetry',
      '--batch',
      '16',
      '--lr',
      '1e-3',
      '--save',
      'm.safetensors',
    ]);
    expect(f).toMatchObject({ layers: [32, 16], batch: 16, optimizer: 'adam', telemetry: false, lr: 0.001, save: 'm.safetensors', epochs: 1, data: 'mnist' });
    expect(() => parseTrain(['--layers', '99999999999999999999'])).toThrow(
      /--layers takes comma-separated layer widths like 1000,1000,1000; "99999999999999999999" is not one/,
    );
    expect(() => parseTrain(['extra'])).toThrow(/too many arguments/);
  });
});
