// The dead-unit flags of `rectigrad train` as a user meets them: parsed and refused with a
// message naming the flag, the counts and alarms in --json, a pruned checkpoint that
// evaluates and resumes, and --stop-on-dead-layer ending the run with exit code 3.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { DEAD_LAYER_EXIT, trainCommand } from '../src/cli/train.ts';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-dead-'));
// Synthetic data and a learning rate high enough to kill units of layer 2 within two epochs.
const small = ['--data', 'synthetic', '--layers', '32,16', '--train-limit', '640', '--test-limit', '200', '--batch', '32', '--backend', 'cpu', '--quiet'];

/** Parses `train`'s arguments as the CLI does, with an action that records the flags instead of training. */
function parse(argv: string[]): Record<string, unknown> {
  const cmd: Command = trainCommand();
  let flags: Record<string, unknown> | undefined;
  cmd.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  cmd.action((f: Record<string, unknown>) => {
    flags = f;
  });
  cmd.parse(argv, { from: 'user' });
  return flags!;
}

function refusal(argv: string[]): string {
  try {
    parse(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(CommanderError);
    return (e as Error).message;
  }
  return expect.unreachable(`${argv.join(' ')} was accepted`);
}

describe('train: dead-unit flags', () => {
  it('parse into the trainer options, with the defaults when not given', () => {
    expect(parse([])).toMatchObject({ deadUnits: 'keep', dormantTau: 0, reviveGrace: 0, deadAlarm: 0.5, stopOnDeadLayer: false });
    expect(parse([])).not.toHaveProperty('deadWindow');
    const f = parse([
      '--dead-units',
      'revive',
      '--dead-window',
      '6400',
      '--dormant-tau',
      '0.025',
      '--revive-grace',
      '100',
      '--dead-alarm',
      '0.9',
      '--stop-on-dead-layer',
    ]);
    expect(f).toMatchObject({ deadUnits: 'revive', deadWindow: 6400, dormantTau: 0.025, reviveGrace: 100, deadAlarm: 0.9, stopOnDeadLayer: true });
  });

  it('refuse bad values with a message naming the flag and the value', () => {
    expect(refusal(['--dead-units', 'zap'])).toMatch(/--dead-units takes one of keep, revive, prune; got "zap"/);
    expect(refusal(['--dead-window', '0'])).toMatch(/--dead-window takes a positive whole number, got "0"/);
    expect(refusal(['--dead-window', '1.5'])).toMatch(/--dead-window takes a positive whole number/);
    expect(refusal(['--dormant-tau', '-0.1'])).toMatch(/--dormant-tau takes a number ≥ 0, got "-0.1"/);
    expect(refusal(['--revive-grace', 'soon'])).toMatch(/--revive-grace takes a whole number ≥ 0, got "soon"/);
    for (const v of ['0', '1.5', '-1', 'half'])
      expect(refusal(['--dead-alarm', v])).toMatch(new RegExp(`--dead-alarm takes a fraction in \\(0, 1\\], e.g. 0.5, got "${v}"`));
    // A switch takes no value: commander names the whole word.
    expect(refusal(['--stop-on-dead-layer=yes'])).toMatch(/unknown option '--stop-on-dead-layer=yes'/);
  });

  it('refuse combinations that cannot work, before any data is loaded', async () => {
    const fails = (argv: string[]) => trainCommand().exitOverride().parseAsync(argv, { from: 'user' });
    await expect(fails(['--revive-grace', '50', '--l1', '0.001'])).rejects.toThrow(
      /--revive-grace spares revived units: it needs --dead-units revive \(not keep\)/,
    );
    await expect(fails(['--dead-units', 'prune', '--revive-grace', '50'])).rejects.toThrow(/it needs --dead-units revive \(not prune\)/);
    await expect(fails(['--dormant-tau', '0.1'])).rejects.toThrow(
      /--dormant-tau chooses the units revive or prune act on: it needs --dead-units revive or prune/,
    );
  });

  it('--help lists them', () => {
    const help = trainCommand().helpInformation();
    for (const f of ['--dead-units <policy>', '--dead-window <n>', '--dormant-tau <x>', '--revive-grace <n>', '--dead-alarm <f>', '--stop-on-dead-layer'])
      expect(help).toContain(f);
  });
});

describe('train: dead units end to end', () => {
  it('--dead-units prune: --json has the per-layer counts and each check; the smaller checkpoint evaluates and resumes', async () => {
    const json = join(dir, 'prune.json');
    const ck = join(dir, 'prune.safetensors');
    const { stdout } = await cli([
      'train',
      ...small,
      '--epochs',
      '3',
      '--lr',
      '2',
      '--dead-units',
      'prune',
      '--dead-window',
      '320',
      '--save',
      ck,
      '--json',
      json,
    ]);
    expect(stdout).toMatch(/dead units \(prune, 6 checks\): pruned 0 \d+, hidden layers now 32,\d+/);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    const d = r.deadUnits;
    expect(d).toMatchObject({ policy: 'prune', window: 320, scanned: 320, tau: 0, threshold: 0.5, checks: 6, revived: [0, 0], redied: [0, 0] });
    expect(d.pruned[1]).toBeGreaterThan(0);
    expect(d.widths).toEqual([32 - d.pruned[0], 16 - d.pruned[1]]);
    expect(r.deadChecks.map((c: { step: number }) => c.step)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(r.deadChecks.reduce((s: number, c: { pruned: number[] }) => s + c.pruned[1], 0)).toBe(d.pruned[1]);
    // The model reported, the last epoch's widths and the checkpoint all have the pruned widths.
    expect(r.model.hidden).toEqual(d.widths);
    expect(r.final.widths).toEqual(d.widths);
    expect(r.config.deadUnits).toEqual({ policy: 'prune', tau: 0, grace: 0, alarm: 0.5, stop: false, window: 320 });
    const saved = loadCheckpoint(ck);
    expect(saved.model.hidden).toEqual(d.widths);
    expect(saved.step).toBe(60);

    const evJson = join(dir, 'prune-eval.json');
    await cli(['eval', '--checkpoint', ck, '--test-limit', '200', '--backend', 'cpu', '--json', evJson, '--quiet']);
    const ev = JSON.parse(readFileSync(evJson, 'utf8'));
    expect(ev.loss).toBeCloseTo(r.final.testLoss, 5);
    expect(ev.deadUnits).toHaveLength(2);

    // Resumed: the pruned model and the policy carry on (not given again).
    const resumed = join(dir, 'prune-resumed.json');
    await cli(['train', '--resume', ck, '--epochs', '4', '--test-limit', '200', '--backend', 'cpu', '--quiet', '--json', resumed]);
    const r2 = JSON.parse(readFileSync(resumed, 'utf8'));
    expect(r2.config.deadUnits.policy).toBe('prune');
    expect(r2.deadChecks.map((c: { step: number }) => c.step)).toEqual([70, 80]);
    expect(r2.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([4]);
    expect(r2.final.widths[0]).toBeLessThanOrEqual(d.widths[0]);
  });

  it('--dead-units revive: --json counts the units revived and those that died again', async () => {
    const json = join(dir, 'revive.json');
    const { stdout } = await cli(['train', ...small, '--epochs', '3', '--lr', '2', '--dead-units', 'revive', '--dead-window', '320', '--json', json]);
    const d = JSON.parse(readFileSync(json, 'utf8')).deadUnits;
    expect(d.policy).toBe('revive');
    expect(d.revived[1]).toBeGreaterThan(0);
    expect(d.redied[1]).toBeGreaterThan(0);
    expect(d.redied[1]).toBeLessThan(d.revived[1]);
    expect(d.widths).toEqual([32, 16]);
    expect(stdout).toContain(`revived ${d.revived.join(' ')}, re-died ${d.redied.join(' ')}`);
  });

  it('--stop-on-dead-layer: exit code 3, one message naming the layer, the step, the fraction and the cause; the checkpoint and the JSON written', async () => {
    const json = join(dir, 'stop.json');
    const ck = join(dir, 'stop.safetensors');
    const err = await cli(['train', ...small, '--epochs', '3', '--lr', '20', '--stop-on-dead-layer', '--save', ck, '--json', json]).then(
      () => expect.unreachable('the run should have stopped'),
      (e: { code: number; stderr: string }) => e,
    );
    expect(err.code).toBe(DEAD_LAYER_EXIT);
    expect(err.stderr).not.toMatch(/\n\s+at /);
    expect(err.stderr).toMatch(/^rectigrad: stopped at step 40 \(--stop-on-dead-layer\): hidden layer 2 at step 40:\s+1\d of 16 units \(\d+%\)/m);
    expect(err.stderr).toMatch(/likely cause:\s+learning rate too high/);
    expect(err.stderr).toContain(`Checkpoint (step 40) written to ${ck}.`);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.stoppedOnDeadLayer).toMatchObject({ layer: 2, step: 40, cause: 'learning-rate' });
    expect(r.deadUnits.alarms).toEqual([r.stoppedOnDeadLayer]);
    const a = r.deadUnits.alarms[0];
    expect(a.deadFraction).toBeGreaterThanOrEqual(0.5);
    expect(loadCheckpoint(ck).step).toBe(40);
  });
});
