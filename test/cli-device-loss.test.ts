// A lost GPU device (driver reset, GPU removed, tab backgrounded) mid-run on WebGPU: a
// clear error naming the last completed step, the checkpoint of the last interval on disk,
// and --resume continuing from it to the same result as a run that was never interrupted.
// RECTIGRAD_TEST_LOSE_DEVICE_AT_STEP=N destroys the real device after step N.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 240_000, env: { ...process.env, ...env } });
const net = ['--data', 'synthetic', '--layers', '16,16', '--batch', '16', '--test-limit', '64', '--backend', 'webgpu', '--quiet'];

describe('losing the GPU device', () => {
  it('says so, keeps the last interval’s checkpoint, and --resume continues to the same parameters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-lost-'));
    const ck = join(dir, 'run.safetensors');
    const json = join(dir, 'run.json');
    const e = await cli(['train', ...net, '--steps', '12', '--save', ck, '--checkpoint-every', '5', '--json', json], {
      RECTIGRAD_TEST_LOSE_DEVICE_AT_STEP: '7',
    }).then(
      () => expect.unreachable('the run should have failed'),
      (err: { code: number; stderr: string }) => err,
    );
    expect(e.code).toBe(1);
    expect(e.stderr).not.toMatch(/\n\s+at /);
    expect(e.stderr.trim()).toBe(
      `rectigrad: the GPU device was lost after step 7 (destroyed: device was destroyed). Checkpoint: the last good checkpoint (step 5) is ${ck}; continue with --resume ${ck}.`,
    );
    expect(loadCheckpoint(ck).step).toBe(5);
    expect(JSON.parse(readFileSync(json, 'utf8')).deviceLost.afterStep).toBe(7);

    await cli(['train', '--resume', ck, '--steps', '12', '--test-limit', '64', '--backend', 'webgpu', '--save', ck, '--quiet']);
    const resumed = loadCheckpoint(ck);
    expect(resumed.step).toBe(12);

    const whole = join(dir, 'whole.safetensors');
    await cli(['train', ...net, '--steps', '12', '--save', whole]);
    const reference = loadCheckpoint(whole);
    expect(Array.from(resumed.params)).toEqual(Array.from(reference.params));
  });

  it('without --save it says how to be able to continue next time', async () => {
    const e = await cli(['train', ...net, '--steps', '6'], { RECTIGRAD_TEST_LOSE_DEVICE_AT_STEP: '3' }).then(
      () => expect.unreachable('the run should have failed'),
      (err: { code: number; stderr: string }) => err,
    );
    expect(e.stderr.trim()).toBe(
      'rectigrad: the GPU device was lost after step 3 (destroyed: device was destroyed). Nothing was saved: run with --save FILE (and --checkpoint-every N) to be able to continue.',
    );
  });
});
