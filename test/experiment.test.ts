// The paper's experiment, shrunk: it runs, writes its report and figures, and resumes
// where it stopped instead of starting over (recipe best: even when killed mid-run).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';
import { paramLayout } from '../src/model/layout.ts';

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
  // One path for every product: with 'auto' the CPU backend picks the sparse or dense path by
  // timing, and runs the other now and then as a probe, so two processes agree only up to
  // summation order; the bit-for-bit comparison below needs the same path in both.
  const env = { ...process.env, RECTIGRAD_CPU_SPARSE: 'off' };
  const results = (out: string) => JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  /** Everything but the timings. */
  const untimed = (r: any) =>
    JSON.parse(JSON.stringify({ runs: r.runs, grid: r.grid, selections: r.selections }), (k, v) =>
      k === 'seconds' || k === 'examplesPerSecond' ? undefined : v,
    );

  it('trains the grid, chooses, trains the second seed, reports; killed mid-run it resumes to the same results', async () => {
    const whole = mkdtempSync(join(tmpdir(), 'rectigrad-best-'));
    await run(process.execPath, [...args(whole), '--quiet'], { timeout: 240_000, env });
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
      const child = spawn(process.execPath, args(cut), { stdio: ['ignore', 'ignore', 'pipe'], env });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        if (/rectifier_lr0\.02_l1_0\.0001_seed1_e3 epoch 1:/.test(err)) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? done() : fail(new Error(`not killed (exit ${code}): ${err}`))));
    });
    expect(existsSync(join(cut, 'progress', 'tanh_lr0.05_l1_0_seed1_e3.json'))).toBe(false);
    const { stderr } = await run(process.execPath, args(cut), { timeout: 240_000, env });
    expect(stderr).not.toMatch(/rectifier_lr0\.05_l1_0\.0001_seed1_e3: training/); // finished before the kill: not redone
    expect(stderr).toMatch(/rectifier_lr0\.02_l1_0\.0001_seed1_e3: resuming after epoch [12] \(step [12]0\)/);
    expect(untimed(results(cut))).toEqual(untimed(r));
  });
});

describe('rectigrad experiment glorot2011 --recipe best --max-norm', () => {
  it('labels every row with the constraint, keeps the best-validation weights, and eval on them gives the reported row', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rectigrad-maxnorm-'));
    // The CPU backend picks its sparse or dense matmul per process by a timing, and the two
    // sum in different orders: off in both processes, so the comparison below is exact.
    const env = { ...process.env, RECTIGRAD_CPU_SPARSE: 'off' };
    const args = [
      'bin/rectigrad.js',
      'experiment',
      'glorot2011',
      '--recipe',
      'best',
      '--out',
      out,
      '--models',
      'rectifier',
      '--layers',
      '16,16',
      '--train-limit',
      '640',
      '--test-limit',
      '300',
      '--epochs',
      '4',
      '--lr-grid',
      '0.05',
      '--l1-grid',
      '1e-4',
      '--seeds',
      '1',
      '--backend',
      'cpu',
    ];
    await run(process.execPath, [...args, '--max-norm', '1.5', '--quiet'], { timeout: 240_000, env });
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const p = r.runs[0];
    expect(p.key).toBe('rectifier_lr0.05_l1_0.0001_seed1_e4_maxnorm1.5');
    expect(p.maxNorm).toBe(1.5);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/^# .* — recipe `best \+ max-norm 1\.5`/);
    expect(md).toMatch(/\*\*Not the paper's recipe: max-norm 1\.5\*\*/);
    expect(md).toMatch(/\| rectifier \| best \+ max-norm 1\.5 \| 0\.0001 \| 0\.05 \| 1 \|/);
    expect(md).not.toMatch(/\| rectifier \| best \|/);

    // The best-validation checkpoint: named by the report, of the best epoch, weights and config only.
    const best = p.epochs.reduce((b: any, e: any) => (e.valid.error < b.valid.error ? e : b));
    expect(p.bestCheckpointEpoch).toBe(best.epoch);
    const file = join(out, 'checkpoints', `${p.key}.best.safetensors`);
    expect(md).toContain(`its weights are in \`${file}\``);
    expect(md).toContain(`\`rectigrad eval --checkpoint ${file} --test-limit 300\``);
    const ck = loadCheckpoint(file);
    expect(ck.step).toBe(best.epoch * 10);
    expect(ck.m).toBeUndefined();
    expect(ck.config.maxNorm).toBe(1.5);
    for (const l of paramLayout(ck.model).layers) {
      for (let o = 0; o < l.outputs; o++)
        expect(Math.hypot(...ck.params.subarray(l.weight + o * l.inputs, l.weight + (o + 1) * l.inputs))).toBeLessThanOrEqual(1.5 * (1 + 1e-6));
    }
    // eval on that file: the row's test error, sparsity and dead units, exactly.
    const evJson = join(out, 'eval.json');
    await run(process.execPath, ['bin/rectigrad.js', 'eval', '--checkpoint', file, '--test-limit', '300', '--backend', 'cpu', '--json', evJson, '--quiet'], {
      timeout: 120_000,
      env,
    });
    const ev = JSON.parse(readFileSync(evJson, 'utf8'));
    expect(ev.examples).toBe(300);
    expect(ev.error).toBe(best.test.error);
    expect(ev.sparsity).toEqual(best.test.sparsity);
    expect(ev.deadUnits).toEqual(best.test.deadUnits);
    expect(md).toContain(`gives this row's test error ${(100 * best.test.error).toFixed(2)}%`);

    // The same --out without the constraint is refused, naming both recipes.
    const e = await run(process.execPath, args, { timeout: 120_000, env }).then(
      () => expect.unreachable('should have failed'),
      (err: { stderr: string }) => err,
    );
    expect(e.stderr).toMatch(/holds a run of recipe best \+ max-norm 1\.5, not best: use another --out/);
  }, 240_000);
});

describe('rectigrad experiment glorot2011 --recipe best --dropout', () => {
  it('names the recipe and runs by the dropout (with max-norm beside it), and eval of the best weights, undropped, gives the reported row', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rectigrad-dropout-'));
    const env = { ...process.env, RECTIGRAD_CPU_SPARSE: 'off' };
    const args = [
      'bin/rectigrad.js',
      'experiment',
      'glorot2011',
      '--recipe',
      'best',
      '--out',
      out,
      '--models',
      'rectifier',
      '--layers',
      '16,16',
      '--train-limit',
      '640',
      '--test-limit',
      '300',
      '--epochs',
      '3',
      '--lr-grid',
      '0.05',
      '--l1-grid',
      '1e-4',
      '--seeds',
      '1',
      '--backend',
      'cpu',
      '--max-norm',
      '3',
    ];
    await run(process.execPath, [...args, '--dropout', '0.5', '--input-dropout', '0.2', '--quiet'], { timeout: 240_000, env });
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const p = r.runs[0];
    expect(p.key).toBe('rectifier_lr0.05_l1_0.0001_seed1_e3_dropout0.5_in0.2_maxnorm3');
    expect(p.dropout).toEqual({ hidden: 0.5, input: 0.2 });
    expect(p.maxNorm).toBe(3);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/^# .* — recipe `best \+ dropout 0\.5 \(input 0\.2\) \+ max-norm 3`/);
    expect(md).toMatch(/\*\*Not the paper's recipe: dropout 0\.5 \(input 0\.2\)\*\*/);
    expect(md).toMatch(/\*\*Not the paper's recipe: max-norm 3\*\*/);
    expect(md).toMatch(/\| rectifier \| best \+ dropout 0\.5 \(input 0\.2\) \+ max-norm 3 \| 0\.0001 \| 0\.05 \| 1 \|/);
    expect(md).toMatch(/- Dropout 0\.5 \(input 0\.2\) while training, in every model: not in the paper/);

    const best = p.epochs.reduce((b: any, e: any) => (e.valid.error < b.valid.error ? e : b));
    const file = join(out, 'checkpoints', `${p.key}.best.safetensors`);
    const ck = loadCheckpoint(file);
    expect(ck.config.dropout).toEqual({ hidden: 0.5, input: 0.2 });
    expect(ck.config.maxNorm).toBe(3);
    // The experiment's test evaluation and eval of the saved weights are both undropped: equal, exactly.
    const evJson = join(out, 'eval.json');
    await run(process.execPath, ['bin/rectigrad.js', 'eval', '--checkpoint', file, '--test-limit', '300', '--backend', 'cpu', '--json', evJson, '--quiet'], {
      timeout: 120_000,
      env,
    });
    const ev = JSON.parse(readFileSync(evJson, 'utf8'));
    expect(ev.error).toBe(best.test.error);
    expect(ev.sparsity).toEqual(best.test.sparsity);

    // The same --out with another dropout setting (or none) is refused, naming both recipes.
    for (const other of [[], ['--dropout', '0.5']]) {
      const e = await run(process.execPath, [...args, ...other], { timeout: 120_000, env }).then(
        () => expect.unreachable('should have failed'),
        (err: { stderr: string }) => err,
      );
      expect(e.stderr).toMatch(
        new RegExp(
          `holds a run of recipe best \\+ dropout 0\\.5 \\(input 0\\.2\\) \\+ max-norm 3, not best${other.length ? ' \\+ dropout 0\\.5' : ''} \\+ max-norm 3: use another --out`,
        ),
      );
    }
    // A rate that is no probability: one line naming the flag.
    const bad = await run(process.execPath, [...args, '--dropout', '1'], { timeout: 120_000, env }).then(
      () => expect.unreachable('should have failed'),
      (err: { stderr: string }) => err,
    );
    expect(bad.stderr).toMatch(/--dropout takes a drop probability in \[0, 1\)/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 240_000);
});
