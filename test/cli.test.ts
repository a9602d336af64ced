// The command line end to end, as a user runs it, on both backends, on real MNIST subsets.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 240_000 });
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-cli-'));

const small = ['--layers', '32,16', '--train-limit', '320', '--test-limit', '150', '--batch', '32', '--quiet'];

describe('rectigrad CLI', () => {
  it.each(['cpu', 'webgpu'])('train → save → eval on MNIST, --backend %s, JSON following the contract', async (backend) => {
    const json = join(dir, `train-${backend}.json`);
    const ck = join(dir, `m-${backend}.safetensors`);
    const { stdout } = await cli(['train', ...small, '--epochs', '2', '--backend', backend, '--save', ck, '--json', json]);
    expect(stdout).toMatch(/epoch 2: train loss [\d.]+, test loss [\d.]+, test error [\d.]+%/);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    expect(r.backend).toBe(backend);
    expect(typeof r.adapter).toBe('string');
    expect(r.model.hidden).toEqual([32, 16]);
    expect(r.config.batch).toBe(32);
    expect(r.epochs).toHaveLength(2);
    for (const e of [...r.epochs, r.final]) {
      for (const k of ['epoch', 'trainLoss', 'trainAccuracy', 'testLoss', 'testError', 'examplesPerSecond']) expect(Number.isFinite(e[k])).toBe(true);
      expect(e.sparsity).toHaveLength(2);
      expect(e.deadUnits).toHaveLength(2);
      expect(e.gradNorm).toHaveLength(3);
      expect(e.deltaNorm).toHaveLength(3);
    }
    expect(r.steps.length).toBe(20);
    expect(r.steps[0]).toHaveProperty('sparsity');
    expect(r.epochs[1].trainLoss).toBeLessThan(r.epochs[0].trainLoss);

    const evJson = join(dir, `eval-${backend}.json`);
    await cli(['eval', '--checkpoint', ck, '--test-limit', '150', '--backend', backend, '--json', evJson, '--quiet']);
    const ev = JSON.parse(readFileSync(evJson, 'utf8'));
    expect(ev.examples).toBe(150);
    expect(ev.loss).toBeCloseTo(r.final.testLoss, 5);
    expect(ev.error).toBeCloseTo(r.final.testError, 10);
    expect(ev.sparsity).toHaveLength(2);
    expect(ev.deadUnits).toHaveLength(2);
  });

  it('bad flags and bad files are one clear line, not a stack trace', async () => {
    const fail = async (args: string[]) => {
      const e = await cli(args).then(
        () => expect.unreachable('should have failed'),
        (err: { code: number; stderr: string }) => err,
      );
      expect(e.code).not.toBe(0);
      expect(e.stderr).not.toMatch(/\n\s+at /);
      return e.stderr;
    };
    expect(await fail(['train', '--batch', 'ten'])).toMatch(/--batch takes a positive whole number/);
    expect(await fail(['train', '--activation', 'gelu'])).toMatch(/--activation takes one of/);
    expect(await fail(['train', '--frobnicate'])).toMatch(/unknown option '--frobnicate'/);
    expect(await fail(['train', '--data-dir', dir, '--quiet'])).toMatch(/not found: --data-dir needs the four standard IDX files/);
    expect(await fail(['eval', '--checkpoint', join(dir, 'nope.safetensors')])).toMatch(/cannot read checkpoint .*no such file/);
    expect(await fail(['train', ...small, '--batch', '1000', '--backend', 'cpu'])).toMatch(/batch size 1000 is larger than the training set \(320/);
  });

  it('--help lists the options', async () => {
    const { stdout } = await cli(['train', '--help']);
    for (const f of [
      '--data',
      '--layers',
      '--activation',
      '--l1',
      '--optimizer',
      '--lr',
      '--lr-schedule',
      '--lr-step-every',
      '--lr-gamma',
      '--warmup',
      '--batch',
      '--epochs',
      '--steps',
      '--train-limit',
      '--test-limit',
      '--backend',
      '--sparse',
      '--seed',
      '--save',
      '--resume',
      '--json',
      '--quiet',
    ]) {
      expect(stdout).toContain(f);
    }
  });
});
