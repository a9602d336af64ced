// Long runs that lose nothing: Ctrl-C / SIGTERM stop after the step in flight, save the
// checkpoint and the JSON so far and exit 128 + the signal's number; a second Ctrl-C quits
// at once leaving the last checkpoint intact; --checkpoint-every saves on the way; a
// diverging run keeps its last good checkpoint, which --resume continues.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 240_000 });
const net = ['--data', 'synthetic', '--layers', '32,32', '--train-limit', '640', '--test-limit', '128', '--backend', 'cpu'];

/**
 * Start a long run; each time the next `[ready, signal]` pair's ready(stderr) holds, send
 * its signal; collect the outcome.
 */
function interrupted(args: string[], ready: () => boolean, signals: NodeJS.Signals[], next: (stderr: string) => boolean = () => true) {
  const child = spawn(process.execPath, ['bin/rectigrad.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    let sent = 0;
    const poll = setInterval(() => {
      if (sent === 0 ? !ready() : !next(stderr)) return;
      child.kill(signals[sent++]);
      if (sent === signals.length) clearInterval(poll);
    }, 50);
    const limit = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(new Error(`the run did not end in time:\n${stderr}`));
    }, 200_000);
    child.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('interrupting train', () => {
  it('Ctrl-C: finishes the step, saves checkpoint and JSON, exits 130; --resume continues', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-int-'));
    const ck = join(dir, 'run.safetensors');
    const json = join(dir, 'run.json');
    const r = await interrupted(['train', ...net, '--steps', '1000000', '--save', ck, '--checkpoint-every', '100', '--json', json], () => existsSync(ck), [
      'SIGINT',
    ]);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/Ctrl-C: stopping after the step in flight/);
    const at = Number(/interrupted by SIGINT at step (\d+)/.exec(r.stdout)?.[1]);
    expect(at).toBeGreaterThanOrEqual(10);
    expect(r.stdout).toContain(`checkpoint (step ${at}) written to ${ck}`);
    expect(r.stdout).toContain(`the run so far written to ${json}`);
    expect(loadCheckpoint(ck).step).toBe(at);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(j.interrupted).toEqual({ signal: 'SIGINT', step: at });
    expect(j.epochs.length).toBe(Math.floor(at / 10));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);

    const { stdout } = await cli(['train', '--resume', ck, '--steps', String(at + 20), '--backend', 'cpu', '--test-limit', '128', '--save', ck, '--quiet']);
    expect(stdout).toMatch(new RegExp(`steps ${at + 1}–${at + 20} \\(20 this run\\)`));
    expect(loadCheckpoint(ck).step).toBe(at + 20);
  });

  it('SIGTERM does the same and exits 143', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-int-'));
    const ck = join(dir, 'run.safetensors');
    const r = await interrupted(['train', ...net, '--steps', '1000000', '--save', ck, '--checkpoint-every', '1e', '--quiet'], () => existsSync(ck), [
      'SIGTERM',
    ]);
    expect(r.code, r.stderr).toBe(143);
    const at = Number(/interrupted by SIGTERM at step (\d+)/.exec(r.stdout)?.[1]);
    expect(loadCheckpoint(ck).step).toBe(at);
  });

  it('a second Ctrl-C quits at once and leaves the last checkpoint intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-int-'));
    const ck = join(dir, 'run.safetensors');
    // On SwiftShader a step of this network takes a good fraction of a second, so the
    // second Ctrl-C lands while the first is still finishing the steps in flight.
    const gpu = ['--data', 'synthetic', '--layers', '1000,1000', '--batch', '64', '--test-limit', '64', '--backend', 'webgpu'];
    const r = await interrupted(
      ['train', ...gpu, '--steps', '1000', '--save', ck, '--checkpoint-every', '2', '--quiet'],
      () => existsSync(ck),
      ['SIGINT', 'SIGINT'],
      (err) => err.includes('Ctrl-C: stopping'),
    );
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/SIGINT again: quitting now/);
    expect(r.stdout).not.toMatch(/interrupted by/);
    const saved = loadCheckpoint(ck);
    expect(saved.step % 2).toBe(0); // a periodic checkpoint, not one written on the way out
    expect(readdirSync(dir)).toEqual(['run.safetensors']);
  });
});

describe('a diverging run', () => {
  it('stops naming the step and layer, keeps the last good checkpoint, and --resume continues from it exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-nan-'));
    const ck = join(dir, 'run.safetensors');
    const json = join(dir, 'run.json');
    const fail = (args: string[]) =>
      cli(args).then(
        () => expect.unreachable('should have diverged'),
        (e: { code: number; stderr: string }) => e,
      );
    // lr 30 on this network overflows within a few steps.
    const e = await fail(['train', ...net, '--lr', '30', '--steps', '200', '--save', ck, '--checkpoint-every', '2', '--json', json, '--quiet']);
    expect(e.code).toBe(1);
    const m = /^rectigrad: training diverged at step (\d+): .*layer (\d+).* Nothing was overwritten: the last good checkpoint \(step (\d+)\) is (.+)\.$/m.exec(
      e.stderr,
    );
    expect(m, e.stderr).not.toBeNull();
    const [diverged, layer, good] = [Number(m![1]), Number(m![2]), Number(m![3])];
    expect(layer).toBeGreaterThanOrEqual(1);
    expect(good).toBe(2 * Math.floor((diverged - 1) / 2));
    expect(good).toBeGreaterThan(0);
    const saved = loadCheckpoint(ck); // every value finite, or it would not load
    expect(saved.step).toBe(good);
    expect(JSON.parse(readFileSync(json, 'utf8')).diverged.step).toBe(diverged);

    // The checkpoint's settings (lr 30) come back with it: the run continues from the
    // saved step and diverges again at exactly the same step.
    const again = await fail(['train', '--resume', ck, '--steps', '200', '--backend', 'cpu', '--test-limit', '128', '--quiet']);
    expect(again.stderr).toMatch(new RegExp(`training diverged at step ${diverged}:`));
  });

  it('--checkpoint-every without --save, or with a bad value, is refused in one line', async () => {
    const fail = (args: string[]) =>
      cli(args).then(
        () => expect.unreachable('should have failed'),
        (e: { code: number; stderr: string }) => e.stderr.trim(),
      );
    expect(await fail(['train', ...net, '--steps', '5', '--checkpoint-every', '2'])).toBe(
      'rectigrad: --checkpoint-every needs --save FILE: the file the checkpoints go to',
    );
    expect(await fail(['train', '--checkpoint-every', 'often'])).toMatch(
      /--checkpoint-every takes a number of steps \(e\.g\. 500\) or of epochs \(e\.g\. 2e\), got "often"/,
    );
  });
});
