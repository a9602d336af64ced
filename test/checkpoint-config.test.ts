// The run config a checkpoint carries: one schema, built by runConfig(), checked field by
// field by parseRunConfig(), used by `train --resume` and `eval`.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseRunConfig, runConfig } from '../src/io/checkpoint-config.ts';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.ts';
import { paramLayout } from '../src/model/layout.ts';
import { initialParams } from '../src/model/init.ts';
import { PAPER_MODEL, validateModel } from '../src/model/spec.ts';
import { DEFAULT_LR, DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';

const run = promisify(execFile);

describe('run config', () => {
  it('runConfig fills the defaults (lr: the optimiser’s) and survives a JSON round trip', () => {
    const c = runConfig({ data: 'synthetic', batch: 32, optimizer: { kind: 'adam' } });
    expect(c.lr).toBe(DEFAULT_LR.adam);
    expect(c.optimizer).toEqual({ ...DEFAULT_OPTIMIZER, kind: 'adam' });
    expect(c).not.toHaveProperty('dataDir');
    expect(parseRunConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
    const d = runConfig({ data: 'mnist', trainLimit: 1000, testLimit: 500, epochs: 3, dataDir: '/data/fashion', lr: 0.05 });
    expect(parseRunConfig(JSON.parse(JSON.stringify(d)))).toEqual(d);
  });

  it('names the missing or wrong field', () => {
    const good = JSON.parse(JSON.stringify(runConfig({ data: 'mnist', trainLimit: 100 })));
    const bad = (patch: (o: Record<string, any>) => void) => {
      const o = structuredClone(good);
      patch(o);
      return () => parseRunConfig(o, 'ck.safetensors');
    };
    expect(bad((o) => delete o.batch)).toThrow(/^ck\.safetensors: its run config lacks batch \(expected a positive whole number\)$/);
    expect(bad((o) => (o.batch = 0))).toThrow(/has batch = 0/);
    expect(bad((o) => (o.lr = 'fast'))).toThrow(/has lr = "fast" \(expected a number > 0\)/);
    expect(bad((o) => (o.data = 'cifar'))).toThrow(/has data = "cifar" \(expected one of mnist, synthetic\)/);
    expect(bad((o) => delete o.optimizer.beta2)).toThrow(/lacks optimizer\.beta2/);
    expect(bad((o) => (o.optimizer.kind = 'lion'))).toThrow(/optimizer\.kind = "lion"/);
    expect(bad((o) => (o.optimizer = 'sgd'))).toThrow(/has optimizer = "sgd" \(expected an object\)/);
    expect(bad((o) => (o.trainLimit = 2.5))).toThrow(/trainLimit = 2\.5/);
    expect(bad((o) => delete o.telemetry)).toThrow(/lacks telemetry/);
    expect(() => parseRunConfig([], 'x')).toThrow(/x: its run config is an array, not an object/);
  });

  it('carries the dead-unit settings, and names a wrong one', () => {
    const dead = { policy: 'prune', window: 6400, tau: 0.025, grace: 0, alarm: 0.5, stop: false } as const;
    const c = runConfig({ data: 'mnist', deadUnits: dead });
    expect(parseRunConfig(JSON.parse(JSON.stringify(c))).deadUnits).toEqual(dead);
    expect(runConfig({ data: 'mnist' })).not.toHaveProperty('deadUnits');
    const bad = (patch: Record<string, unknown>) => () => parseRunConfig({ ...JSON.parse(JSON.stringify(c)), deadUnits: { ...dead, ...patch } }, 'ck');
    expect(bad({ policy: 'zap' })).toThrow(/^ck: its run config has deadUnits\.policy = "zap" \(expected one of keep, revive, prune\)$/);
    expect(bad({ window: 0 })).toThrow(/deadUnits\.window = 0 \(expected a positive whole number\)/);
    expect(bad({ alarm: 2 })).toThrow(/deadUnits\.alarm = 2 \(expected a fraction in \(0, 1\]\)/);
    expect(bad({ grace: -1 })).toThrow(/deadUnits\.grace = -1/);
    expect(bad({ stop: 'no' })).toThrow(/deadUnits\.stop = "no" \(expected true or false\)/);
  });

  it('carries maxNorm when on (0 is off, the same as absent), and names a wrong one', () => {
    const c = runConfig({ data: 'mnist', maxNorm: 3.5 });
    expect(parseRunConfig(JSON.parse(JSON.stringify(c))).maxNorm).toBe(3.5);
    expect(runConfig({ data: 'mnist' })).not.toHaveProperty('maxNorm');
    expect(runConfig({ data: 'mnist', maxNorm: 0 })).not.toHaveProperty('maxNorm');
    expect(() => parseRunConfig({ ...JSON.parse(JSON.stringify(c)), maxNorm: -1 }, 'ck')).toThrow(
      /^ck: its run config has maxNorm = -1 \(expected a number ≥ 0 \(0 = off\)\)$/,
    );
  });

  it('carries dropout when on (rates of 0 are off, the same as absent), and names a wrong rate', () => {
    const c = runConfig({ data: 'mnist', dropout: { hidden: 0.5, input: 0.2 } });
    expect(parseRunConfig(JSON.parse(JSON.stringify(c))).dropout).toEqual({ hidden: 0.5, input: 0.2 });
    expect(runConfig({ data: 'mnist', dropout: { hidden: 0.5, input: 0 } }).dropout).toEqual({ hidden: 0.5 });
    expect(runConfig({ data: 'mnist', dropout: { hidden: 0, input: 0.2 } }).dropout).toEqual({ hidden: 0, input: 0.2 });
    expect(runConfig({ data: 'mnist' })).not.toHaveProperty('dropout');
    expect(runConfig({ data: 'mnist', dropout: { hidden: 0 } })).not.toHaveProperty('dropout');
    const bad = (dropout: unknown) => () => parseRunConfig({ ...JSON.parse(JSON.stringify(c)), dropout }, 'ck');
    expect(bad({ hidden: 1 })).toThrow(/^ck: its run config has dropout\.hidden = 1 \(expected a drop probability in \[0, 1\)\)$/);
    expect(bad({ hidden: 0.5, input: -0.1 })).toThrow(/dropout\.input = -0\.1/);
    expect(bad({})).toThrow(/lacks dropout\.hidden/);
    expect(bad(0.5)).toThrow(/dropout = 0\.5 \(expected an object\)/);
  });

  it('train --dropout and --input-dropout are recorded in the checkpoint and kept on --resume, which continues exactly; a bad rate is one clear line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-dropout-'));
    const ck = join(dir, 'd.safetensors');
    const whole = join(dir, 'w.safetensors');
    const json = join(dir, 'r.json');
    const args = [
      'bin/rectigrad.js',
      'train',
      '--data',
      'synthetic',
      '--layers',
      '16,12',
      '--train-limit',
      '256',
      '--test-limit',
      '64',
      '--backend',
      'cpu',
      '--quiet',
    ];
    const drop = ['--dropout', '0.5', '--input-dropout', '0.2'];
    await run(process.execPath, [...args, ...drop, '--steps', '16', '--save', whole], { timeout: 120_000 });
    await run(process.execPath, [...args, ...drop, '--steps', '6', '--save', ck], { timeout: 120_000 });
    expect(loadCheckpoint(ck).config.dropout).toEqual({ hidden: 0.5, input: 0.2 });
    await run(process.execPath, [...args, '--resume', ck, '--steps', '16', '--save', ck, '--json', json], { timeout: 120_000 });
    expect(JSON.parse(readFileSync(json, 'utf8')).config.dropout).toEqual({ hidden: 0.5, input: 0.2 });
    const saved = loadCheckpoint(ck);
    expect(saved.step).toBe(16);
    expect(saved.config.dropout).toEqual({ hidden: 0.5, input: 0.2 });
    // The resumed run drew the masks the uninterrupted one did: the same weights, bit for bit.
    expect(Array.from(saved.params)).toEqual(Array.from(loadCheckpoint(whole).params));
    for (const [flag, value, message] of [
      ['--dropout', '1', /--dropout takes a drop probability in \[0, 1\), e\.g\. 0\.5 \(0: off\), got "1"/],
      ['--input-dropout', '-0.2', /--input-dropout takes a drop probability in \[0, 1\).*got "-0\.2"/],
      ['--dropout', 'NaN', /--dropout takes a drop probability.*got "NaN"/],
    ] as const) {
      const e = await run(process.execPath, [...args, flag, value], { timeout: 120_000 }).then(
        () => expect.unreachable('should have failed'),
        (err: { code: number; stderr: string }) => err,
      );
      expect(e.code).not.toBe(0);
      expect(e.stderr).not.toMatch(/\n\s+at /);
      expect(e.stderr).toMatch(message);
    }
  });

  it('train --max-norm is recorded in the checkpoint and kept on --resume; a bad value is one clear line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-maxnorm-'));
    const ck = join(dir, 'm.safetensors');
    const json = join(dir, 'r.json');
    const args = [
      'bin/rectigrad.js',
      'train',
      '--data',
      'synthetic',
      '--layers',
      '16',
      '--train-limit',
      '256',
      '--test-limit',
      '64',
      '--backend',
      'cpu',
      '--quiet',
    ];
    await run(process.execPath, [...args, '--lr', '0.5', '--max-norm', '0.4', '--steps', '8', '--save', ck], { timeout: 120_000 });
    expect(loadCheckpoint(ck).config.maxNorm).toBe(0.4);
    await run(process.execPath, [...args, '--resume', ck, '--steps', '16', '--save', ck, '--json', json], { timeout: 120_000 });
    expect(JSON.parse(readFileSync(json, 'utf8')).config.maxNorm).toBe(0.4);
    const saved = loadCheckpoint(ck);
    expect(saved.step).toBe(16);
    expect(saved.config.maxNorm).toBe(0.4);
    // Every unit's incoming weights within the bound after the resumed steps too.
    for (const l of paramLayout(saved.model).layers) {
      for (let o = 0; o < l.outputs; o++) {
        const row = saved.params.subarray(l.weight + o * l.inputs, l.weight + (o + 1) * l.inputs);
        expect(Math.hypot(...row)).toBeLessThanOrEqual(0.4 * (1 + 1e-6));
      }
    }
    const e = await run(process.execPath, [...args, '--max-norm', '-2'], { timeout: 120_000 }).then(
      () => expect.unreachable('should have failed'),
      (err: { code: number; stderr: string }) => err,
    );
    expect(e.code).not.toBe(0);
    expect(e.stderr).not.toMatch(/\n\s+at /);
    expect(e.stderr).toMatch(/--max-norm takes a number ≥ 0, got "-2"/);
  });

  it('reads what the demo page writes', () => {
    const page = {
      data: 'mnist',
      trainLimit: 2000,
      testLimit: undefined,
      batch: 64,
      lr: 0.01,
      l1: 0.001,
      optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum' },
      seed: 4,
      epochs: 10,
      telemetry: true,
    };
    const c = parseRunConfig(JSON.parse(JSON.stringify(page)));
    expect(c).toMatchObject({ data: 'mnist', trainLimit: 2000, epochs: 10, optimizer: { kind: 'momentum' } });
    expect(c).not.toHaveProperty('testLimit');
  });

  it('train --resume refuses a checkpoint whose config is wrong, in one line naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-cfg-'));
    const model = validateModel({ ...PAPER_MODEL, inputs: 64, hidden: [8], classes: 10 });
    const ck = join(dir, 'bad.safetensors');
    const config = { ...runConfig({ data: 'synthetic' }), batch: -4 };
    saveCheckpoint(ck, { model, step: 3, config, params: initialParams(model) });
    const e = await run(process.execPath, ['bin/rectigrad.js', 'train', '--resume', ck, '--backend', 'cpu', '--steps', '5'], { timeout: 120_000 }).then(
      () => expect.unreachable('should have failed'),
      (err: { code: number; stderr: string }) => err,
    );
    expect(e.code).toBe(1);
    expect(e.stderr.trim()).toBe(`rectigrad: ${ck}: its run config has batch = -4 (expected a positive whole number)`);
  });
});
