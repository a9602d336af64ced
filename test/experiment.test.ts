// The paper's experiment, shrunk: it runs, writes its report and figures, and resumes
// where it stopped instead of starting over.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 240_000 });

describe('rectigrad experiment glorot2011', () => {
  it('writes the report and figures, and a second call resumes instead of retraining', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rectigrad-exp-'));
    const args = [
      'experiment',
      'glorot2011',
      '--out',
      out,
      '--layers',
      '24,24,24',
      '--train-limit',
      '640',
      '--test-limit',
      '300',
      '--sweep-examples',
      '320',
      '--backend',
      'cpu',
    ];
    await cli([...args, '--epochs', '1', '--quiet']);
    const first = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(first.runs.map((r: { epochs: unknown[] }) => r.epochs.length)).toEqual([1, 1, 1]);
    const { stderr } = await cli([...args, '--epochs', '2']);
    expect(stderr).toMatch(/rectifier: resuming after epoch 1/);
    expect(stderr).not.toMatch(/lr 0\.03 →/); // the sweep is not redone
    const second = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(second.runs.map((r: { epochs: unknown[] }) => r.epochs.length)).toEqual([2, 2, 2]);
    // Epoch 1 is kept as it was, not recomputed.
    expect(second.runs[0].epochs[0]).toEqual(first.runs[0].epochs[0]);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/\| rectifier \| 0\.001 \|/);
    expect(md).toMatch(/1\.43%/);
    expect(md).toMatch(/## What the run says about the paper’s claims/);
    for (const f of ['sparsity.svg', 'gradnorm.svg', 'init-sparsity.svg']) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.length).toBeGreaterThan(3000);
    }
  });
});
