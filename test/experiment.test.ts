// The paper's experiment, shrunk: it runs, writes its report and figures, and resumes
// where it stopped instead of starting over (recipe best: even when killed mid-run).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
    expect(md).toMatch(/\| rectifier \| fast \| 0\.001 \|/);
    expect(md).toMatch(/1\.43%/);
    expect(md).toMatch(/## What the run says about the paper’s claims/);
    for (const f of ['sparsity.svg', 'gradnorm.svg', 'init-sparsity.svg']) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.length).toBeGreaterThan(3000);
    }
  });
});

describe('rectigrad experiment glorot2011 --recipe best', () => {
  // Two learning rates × two λ for the rectifier, two learning rates for tanh, 3 epochs each
  // (one of warm-up, two of cosine), then the second seed of each chosen setting.
  const args = (out: string) => [
    'bin/rectigrad.js',
    'experiment',
    'glorot2011',
    '--recipe',
    'best',
    '--out',
    out,
    '--models',
    'rectifier,tanh',
    '--layers',
    '16,16',
    '--train-limit',
    '640',
    '--test-limit',
    '300',
    '--epochs',
    '3',
    '--lr-grid',
    '0.05,0.02',
    '--l1-grid',
    '1e-4,1e-3',
    '--backend',
    'cpu',
  ];
  const results = (out: string) => JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  /** Everything but the timings. */
  const untimed = (r: any) =>
    JSON.parse(JSON.stringify({ runs: r.runs, grid: r.grid, selections: r.selections }), (k, v) =>
      k === 'seconds' || k === 'examplesPerSecond' ? undefined : v,
    );

  it('trains the grid, chooses, trains the second seed, reports; killed mid-run it resumes to the same results', async () => {
    const whole = mkdtempSync(join(tmpdir(), 'rectigrad-best-'));
    await run(process.execPath, [...args(whole), '--quiet'], { timeout: 240_000 });
    const r = results(whole);
    expect(r.grid.map((t: any) => [t.variant, t.l1, t.lr])).toEqual([
      ['rectifier', 0.0001, 0.05],
      ['rectifier', 0.0001, 0.02],
      ['rectifier', 0.001, 0.05],
      ['rectifier', 0.001, 0.02],
      ['tanh', 0, 0.05],
      ['tanh', 0, 0.02],
    ]);
    expect(r.grid.every((t: any) => t.epochsDone === 3)).toBe(true);
    // The choice follows the rule on the runs' own validation results.
    const chosen = (v: string) => r.selections.find((s: any) => s.variant === v).selection;
    const rect = r.grid.filter((t: any) => t.variant === 'rectifier');
    const inBand = rect.filter((t: any) => t.validSparsity >= 0.8 && t.validSparsity <= 0.87);
    expect(chosen('rectifier').inBand).toBe(inBand.length > 0);
    if (inBand.length) expect(chosen('rectifier').chosen.validError).toBe(Math.min(...inBand.map((t: any) => t.validError)));
    expect(chosen('tanh').chosen.validError).toBe(Math.min(...r.grid.filter((t: any) => t.variant === 'tanh').map((t: any) => t.validError)));
    // Two seeds per chosen setting; the first is the grid's own run, not trained again.
    expect(r.runs.map((p: any) => [p.variant.name, p.seed])).toEqual([
      ['rectifier', 1],
      ['rectifier', 2],
      ['tanh', 1],
      ['tanh', 2],
    ]);
    expect(r.runs[0].key).toBe(r.selections[0].selection.chosen.key);
    // Every run trained under warm-up + cosine over its own 3 epochs (10 steps each).
    for (const p of r.runs) expect(p.lrSchedule).toEqual({ kind: 'cosine', warmup: 10, total: 30 });
    const md = readFileSync(join(whole, 'report.md'), 'utf8');
    expect(md).toMatch(/\| rectifier \| best \| 0\.001 \| [\d.]+ \| 2 \| [\d.]+% ± [\d.]+% \(\d\) \|/);
    expect(md).toMatch(/\*\*rectifier, mean\*\* \| best \|/);
    expect(md).toMatch(/## How each setting was chosen/);
    expect(md).not.toMatch(/not finished yet/);
    const svg = readFileSync(join(whole, 'sparsity-error.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('λ 0.001');

    // The same grid, killed while its second run is mid-schedule, then run again.
    const cut = mkdtempSync(join(tmpdir(), 'rectigrad-best-'));
    await new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, args(cut), { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        if (/rectifier_lr0\.02_l1_0\.0001_seed1_e3 epoch 1:/.test(err)) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? done() : fail(new Error(`not killed (exit ${code}): ${err}`))));
    });
    expect(existsSync(join(cut, 'progress', 'tanh_lr0.05_l1_0_seed1_e3.json'))).toBe(false);
    const { stderr } = await run(process.execPath, args(cut), { timeout: 240_000 });
    expect(stderr).not.toMatch(/rectifier_lr0\.05_l1_0\.0001_seed1_e3: training/); // finished before the kill: not redone
    expect(stderr).toMatch(/rectifier_lr0\.02_l1_0\.0001_seed1_e3: resuming after epoch [12] \(step [12]0\)/);
    expect(untimed(results(cut))).toEqual(untimed(r));
  });
});
