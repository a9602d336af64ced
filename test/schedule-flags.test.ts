// `train`'s learning-rate schedule flags: they parse, bad values and flags that do not
// belong to the chosen schedule are refused in one line, and the schedule reaches the
// checkpoint and the JSON, and is kept on --resume.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { scheduleFromFlags } from '../src/cli/schedule-flags.ts';
import { trainCommand } from '../src/cli/train.ts';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';
import { parseRunConfig } from '../src/io/checkpoint-config.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 120_000 });

function parseTrain(argv: string[]): Record<string, unknown> {
  const cmd: Command = trainCommand();
  let flags: Record<string, unknown> | undefined;
  cmd.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  cmd.action((f: Record<string, unknown>) => {
    flags = f;
  });
  cmd.parse(argv, { from: 'user' });
  return flags!;
}

const refused = (argv: string[]) => {
  try {
    parseTrain(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(CommanderError);
    return (e as Error).message;
  }
  return expect.unreachable(`${argv.join(' ')} was accepted`);
};

describe('schedule flags', () => {
  it('parse: steps or epochs for lengths, constant by default', () => {
    expect(parseTrain([])).toMatchObject({ lrSchedule: 'constant' });
    expect(parseTrain(['--lr-schedule', 'cosine', '--warmup', '2e'])).toMatchObject({ lrSchedule: 'cosine', warmup: { epochs: 2 } });
    expect(parseTrain(['--lr-schedule', 'cosine', '--warmup', '0'])).toMatchObject({ warmup: { steps: 0 } });
    expect(parseTrain(['--lr-schedule=step', '--lr-step-every', '500', '--lr-gamma', '0.5'])).toMatchObject({
      lrSchedule: 'step',
      lrStepEvery: { steps: 500 },
      lrGamma: 0.5,
    });
  });

  it('refuse bad values, naming the flag', () => {
    expect(refused(['--lr-schedule', 'linear'])).toMatch(/--lr-schedule takes one of constant, step, cosine; got "linear"/);
    expect(refused(['--lr-gamma', '0'])).toMatch(/--lr-gamma takes a number in \(0, 1\]/);
    expect(refused(['--lr-gamma', '1.5'])).toMatch(/--lr-gamma takes a number in \(0, 1\]/);
    expect(refused(['--lr-gamma', 'half'])).toMatch(/--lr-gamma takes a number in \(0, 1\].*"half"/);
    expect(refused(['--lr-step-every', '0'])).toMatch(/--lr-step-every takes a number of steps \(e\.g\. 500\) or of epochs \(e\.g\. 2e\)/);
    expect(refused(['--warmup', '-1'])).toMatch(/--warmup takes a number of steps .* got "-1"/);
    expect(refused(['--warmup', '1.5e'])).toMatch(/--warmup takes/);
  });

  it('turn into a schedule in steps; flags of another schedule and lengths that do not fit are errors', () => {
    // 100 steps per epoch, 1000 steps in the run.
    const s = (f: Parameters<typeof scheduleFromFlags>[0]) => scheduleFromFlags(f, 100, 1000);
    expect(s({ lrSchedule: 'constant' })).toEqual({ kind: 'constant' });
    expect(s({ lrSchedule: 'cosine', warmup: { epochs: 2 } })).toEqual({ kind: 'cosine', warmup: 200, total: 1000 });
    expect(s({ lrSchedule: 'cosine' })).toEqual({ kind: 'cosine', warmup: 0, total: 1000 });
    expect(s({ lrSchedule: 'step', lrStepEvery: { epochs: 3 } })).toEqual({ kind: 'step', every: 300, gamma: 0.1 });
    expect(s({ lrSchedule: 'step', lrStepEvery: { steps: 50 }, lrGamma: 0.7 })).toEqual({ kind: 'step', every: 50, gamma: 0.7 });
    expect(() => s({ lrSchedule: 'step' })).toThrow(/--lr-schedule step needs --lr-step-every N/);
    expect(() => s({ lrSchedule: 'constant', warmup: { steps: 10 } })).toThrow(
      /^--warmup applies to --lr-schedule cosine only \(this run's schedule is constant\): add --lr-schedule cosine or drop --warmup$/,
    );
    expect(() => s({ lrSchedule: 'cosine', lrGamma: 0.5 })).toThrow(/--lr-gamma applies to --lr-schedule step only/);
    expect(() => s({ lrSchedule: 'cosine', lrStepEvery: { steps: 5 } })).toThrow(/--lr-step-every applies to --lr-schedule step only/);
    expect(() => s({ lrSchedule: 'cosine', warmup: { epochs: 10 } })).toThrow(
      /--warmup 10 epochs \(1000 steps\) is not shorter than the run \(1000 steps\).*shorten --warmup or train longer/,
    );
  });
});

describe('schedule flags end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rectigrad-sched-'));
  // 320 examples at batch 32: 10 steps per epoch.
  const small = ['--data', 'synthetic', '--layers', '8', '--train-limit', '320', '--test-limit', '100', '--batch', '32', '--backend', 'cpu', '--quiet'];
  /** The error output of a run that must fail; `lines`: how many (commander adds a usage hint to its own). */
  const fail = async (args: string[], lines = 1) => {
    const e = await cli(args).then(
      () => expect.unreachable('should have failed'),
      (err: { code: number; stderr: string }) => err,
    );
    expect(e.code).toBe(1);
    expect(e.stderr.trim().split('\n')).toHaveLength(lines);
    expect(e.stderr).not.toMatch(/\n\s+at /);
    return e.stderr.trim();
  };

  it('cosine over the run goes into the JSON and the checkpoint, and --resume keeps it and refuses to run past its end', async () => {
    const ck = join(dir, 'c.safetensors');
    const json = join(dir, 'c.json');
    await cli(['train', ...small, '--epochs', '3', '--steps', '12', '--lr-schedule', 'cosine', '--warmup', '1e', '--save', ck, '--json', json]);
    const cosine = { kind: 'cosine', warmup: 10, total: 12 };
    expect(JSON.parse(readFileSync(json, 'utf8')).config.lrSchedule).toEqual(cosine);
    const saved = loadCheckpoint(ck);
    expect(saved.step).toBe(12);
    expect(parseRunConfig(saved.config).lrSchedule).toEqual(cosine);
    expect(await fail(['train', ...small, '--resume', ck, '--steps', '20'])).toBe(
      `rectigrad: the checkpoint's cosine schedule reaches 0 at step 12 (the run it began was planned for 12 steps): ask for --steps 12 or fewer, or --epochs 1`,
    );
  });

  it('a step schedule resumed with other schedule flags warns that the checkpoint’s schedule is used', async () => {
    const ck = join(dir, 's.safetensors');
    await cli(['train', ...small, '--steps', '5', '--lr-schedule', 'step', '--lr-step-every', '1e', '--lr-gamma', '0.5', '--save', ck]);
    expect(parseRunConfig(loadCheckpoint(ck).config).lrSchedule).toEqual({ kind: 'step', every: 10, gamma: 0.5 });
    const { stderr } = await cli(['train', ...small, '--steps', '8', '--resume', ck, '--lr-schedule', 'cosine']);
    expect(stderr).toMatch(/^warning: --resume ignores --lr-schedule: the checkpoint's schedule \(×0\.5 every 10 steps\) is used$/m);
  });

  it('refuses bad schedule flags before training, in one line', async () => {
    expect(await fail(['train', ...small, '--warmup', '5'])).toMatch(/--warmup applies to --lr-schedule cosine only/);
    expect(await fail(['train', ...small, '--lr-schedule', 'step'])).toMatch(/--lr-schedule step needs --lr-step-every N/);
    expect(await fail(['train', ...small, '--lr-schedule', 'cosine', '--warmup', '2e', '--epochs', '2'])).toMatch(
      /--warmup 2 epochs \(20 steps\) is not shorter than the run \(20 steps\)/,
    );
    expect(await fail(['train', ...small, '--lr-gamma', '2'], 2)).toMatch(/--lr-gamma takes a number in \(0, 1\]/);
  });
});
