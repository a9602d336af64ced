// What a user sees from `rectigrad train`: each epoch's summary once, fitted to 80
// columns on a terminal; --json - on stdout alone; --resume naming the flags it ignores;
// no Vulkan loader noise; short runs timed in ms.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { barLine, formatDuration, wrapParts } from '../src/cli/progress.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 240_000 });
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-cli-out-'));
const small = ['--data', 'synthetic', '--layers', '16,16,16', '--train-limit', '640', '--test-limit', '256', '--batch', '64', '--backend', 'cpu'];

/** What a terminal shows after this output: escape sequences applied roughly (\r redraws a line). */
function screen(raw: string): string[] {
  return raw
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split('\n')
    .map(
      (l) =>
        l
          .split('\r')
          .filter((x) => x !== '')
          .pop() ?? '',
    )
    .filter((l) => l.trim() !== '');
}

describe('train output', () => {
  it('on an 80-column terminal: each epoch summary once, every line within 80 columns', async () => {
    const cmd = ['stty cols 80 rows 24;', process.execPath, 'bin/rectigrad.js', 'train', ...small, '--epochs', '2'].join(' ');
    const { stdout } = await run('script', ['-qec', cmd, '/dev/null'], { timeout: 240_000 });
    const lines = screen(stdout);
    expect(lines.filter((l) => /^epoch 1:/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^epoch 2:/.test(l))).toHaveLength(1);
    expect(lines.some((l) => /^step 20\/20 \[#+\]/.test(l))).toBe(true);
    for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(80);
  });

  it('in a pipe: the epoch summary once, the run timed in ms when short', async () => {
    const { stdout, stderr } = await cli(['train', ...small, '--epochs', '1']);
    expect((stdout + stderr).match(/epoch 1:/g)).toHaveLength(1);
    expect(stdout).toMatch(/^10 steps, \d+ ms training: \d+ examples\/s on CPU/m);
    expect(stdout).not.toMatch(/0\.0 s/);
  });

  it('--json - writes only the JSON to stdout; the rest goes to stderr', async () => {
    const { stdout, stderr } = await cli(['train', ...small, '--steps', '5', '--json', '-']);
    const r = JSON.parse(stdout);
    expect(r.final.steps).toBe(5);
    expect(r.steps).toHaveLength(5);
    // Each matmul product with its kernel, and the plan's buffers.
    expect(r.kernels).toHaveLength(4 * 2 + 3);
    expect(r.kernels[0]).toMatchObject({ op: 'forward', layer: 1, shape: [64, 16, 64], kernel: 'cpu' });
    // On the CPU, the path each product's steps took (test/cli-sparse.test.ts checks it closely).
    for (const k of r.kernels) expect(k.sparse.sparseSteps + k.sparse.denseSteps).toBe(5);
    expect(r.memory.buffers).toBeGreaterThan(0);
    expect(r.memory.largestBindingBytes).toBeGreaterThan(0);
    expect(r.memory.totalBytes).toBeGreaterThanOrEqual(r.memory.largestBindingBytes);
    expect(stderr).toMatch(/epoch 1: train loss/);
    expect(stderr).toMatch(/5 steps, \d+ ms training/);
  });

  it('eval --json - writes only the JSON to stdout (no file named "-"); a --json path that cannot be written is refused before loading', async () => {
    const ck = join(dir, 'e.safetensors');
    await cli(['train', ...small, '--steps', '5', '--save', ck, '--quiet']);
    const { stdout, stderr } = await run(
      process.execPath,
      [join(process.cwd(), 'bin/rectigrad.js'), 'eval', '--checkpoint', ck, '--test-limit', '100', '--backend', 'cpu', '--json', '-'],
      {
        cwd: dir,
        timeout: 240_000,
      },
    );
    const r = JSON.parse(stdout);
    expect(r.examples).toBe(100);
    expect(r.sparsity).toHaveLength(3);
    expect(stderr).toMatch(/^100 examples: loss \d/m);
    expect(existsSync(join(dir, '-'))).toBe(false);
    const bad = await cli(['eval', '--checkpoint', join(dir, 'missing.safetensors'), '--json', join(dir, 'no-such-dir', 'e.json')]).catch(
      (e: { stderr: string }) => e,
    );
    expect('stderr' in bad && bad.stderr).toMatch(/--json .*no-such-dir.* does not exist: create it first/);
  });

  it('--resume warns once per ignored flag and counts the steps right', async () => {
    const ck = join(dir, 'r.safetensors');
    await cli(['train', ...small, '--steps', '15', '--save', ck, '--quiet']);
    const { stdout, stderr } = await cli(['train', ...small, '--steps', '25', '--resume', ck, '--lr', '0.5', '--layers', '8', '--batch', '64', '--seed', '3']);
    const warnings = stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(3); // --batch 64 is the checkpoint's own value
    expect(warnings.find((w) => w.includes('--lr 0.5'))).toMatch(/checkpoint's 0\.1 is used/);
    expect(warnings.find((w) => w.includes('--layers 8'))).toMatch(/checkpoint's 16,16,16 is used/);
    expect(warnings.find((w) => w.includes('--seed 3'))).toMatch(/checkpoint's 1 is used/);
    expect(stderr).toMatch(/steps 16–25 of 25/);
    expect(stderr).toMatch(/^step 25\/25 /m);
    expect(stdout).toMatch(/^steps 16–25 \(10 this run\), \d+ ms training/m);
  });

  it('a WebGPU run prints no Vulkan loader warnings', async () => {
    const { stderr } = await cli([
      'train',
      '--data',
      'synthetic',
      '--layers',
      '8',
      '--steps',
      '2',
      '--batch',
      '16',
      '--test-limit',
      '64',
      '--backend',
      'webgpu',
    ]);
    expect(stderr).toMatch(/backend: webgpu/);
    expect(stderr).not.toMatch(/vkCreateInstance|VulkanError|\/home\/runner/);
  });
});

describe('output formatting', () => {
  it('durations', () => {
    expect(formatDuration(0.0423)).toBe('42 ms');
    expect(formatDuration(2.414)).toBe('2.41 s');
    expect(formatDuration(93.24)).toBe('93.2 s');
    expect(formatDuration(724)).toBe('12 min 4 s');
  });

  it('wrapped summaries keep within the width and break between parts', () => {
    const lines = wrapParts([
      'epoch 12: train loss 2.3035',
      'test loss 2.2678',
      'test error 85.89%',
      'sparsity 48.3% 49.2% 49.2%',
      'dead 0 0 0',
      '17446 ex/s (0.14 GFLOP/s)',
    ]);
    expect(lines).toEqual([
      'epoch 12: train loss 2.3035, test loss 2.2678, test error 85.89%,',
      '  sparsity 48.3% 49.2% 49.2%, dead 0 0 0, 17446 ex/s (0.14 GFLOP/s)',
    ]);
    const long = wrapParts(['x', `sparsity ${Array(40).fill('48.3%').join(' ')}`], 80);
    for (const l of long) expect(l.length).toBeLessThanOrEqual(80);
    expect(long.join(' ').replace(/\s+/g, ' ')).toBe(`x, sparsity ${Array(40).fill('48.3%').join(' ')}`);
  });

  it('the status line fits any width', () => {
    const s = {
      step: 123456,
      epoch: 3,
      loss: 2.302585,
      accuracy: 0.0625,
      sparsity: [0.5, 0.6],
      deadUnits: [1000, 2000],
      batchDead: [],
      gradNorm: [],
      biasGradNorm: [],
      deltaNorm: [],
      examplesPerSecond: 123456,
    };
    for (const w of [40, 80, 120, 200]) expect(barLine(123456, 600000, s, w).length).toBeLessThan(w);
    expect(barLine(300, 600, s, 120)).toMatch(/\[#{15}-{15}\]/);
  });
});
