// `rectigrad bench --workload sparse` end to end: rectigrad-cpu's sparse and dense paths
// as two rows of one run with the zeros the cell starts with and their ratio, and PyTorch
// beside them where the system Python has torch (its rows say why where it cannot run).
// The start weights are the committed rectifier (--from), so that no test trains minutes.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkReport } from '../bench/report.ts';
import type { BenchReport } from '../bench/spec.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-bench-sparse-'));
const bench = async (json: string, env: NodeJS.ProcessEnv = {}) => {
  const args = ['bin/rectigrad.js', 'bench', '--engines', 'rectigrad-cpu@node', '--workload', 'sparse', '--from', RECTIFIER, '--batch', '8', '--steps', '2'];
  const { stdout, stderr } = await run(process.execPath, [...args, '--reps', '2', '--budget', '120', '--no-profile', '--json', json], {
    timeout: 240_000,
    maxBuffer: 1 << 24,
    env: { ...process.env, ...env },
  });
  const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
  expect(checkReport(r)).toEqual([]);
  return { stdout, stderr, r };
};
const RECTIFIER = 'docs/glorot2011/rectifier.safetensors';
/** Losses equal up to float32 rounding: 1e-3 relative, and the cross-entropy's own rounding near 0. */
const close = (loss: number) => 1e-3 * Math.abs(loss) + 2e-7;
const systemPython = process.env.PYTHON || '/usr/bin/python3';
const hasTorch = spawnSync(systemPython, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe('rectigrad bench --workload sparse', () => {
  it('runs the sparse and the dense path side by side, with the start zeros, their ratio and PyTorch', { timeout: 300_000 }, async () => {
    const { stdout, stderr, r } = await bench(join(dir, 'sparse.json'));
    // The rectifier has 83 % of its hidden outputs zero: run, with a warning.
    expect(stderr).toMatch(/warning: docs\/glorot2011\/rectifier.safetensors has 8\d\.\d % of its hidden outputs zero, under the 85\.0 %/);
    const cpu = r.rows.filter((x) => x.engine === 'rectigrad-cpu@node');
    // Each variant on both paths, in the same repetitions.
    expect(cpu.map((x) => `${x.variant}:${x.cpuPath}:${x.status}`).sort()).toEqual(
      ['readback', 'telemetry', 'no-readback'].flatMap((v) => [`${v}:auto:ok`, `${v}:off:ok`]).sort(),
    );
    for (const row of cpu) {
      expect(row.reps).toBe(2);
      // The same weights and batches: the paths differ only in summation order.
      expect(Math.abs(row.lossBefore! - cpu[0].lossBefore!)).toBeLessThan(close(cpu[0].lossBefore!));
      expect(Math.abs(row.lossAfter! - cpu[0].lossAfter!)).toBeLessThan(close(cpu[0].lossAfter!));
      // A trained network (the seeded initialisation's loss is about 2.3).
      expect(row.lossBefore!).toBeLessThan(0.1);
      // Most hidden outputs zero at the start, fewer in deeper layers; MNIST's blank pixels.
      const z = row.startZeros!;
      expect(z.from).toBe(RECTIFIER);
      expect(z.hidden[0]).toBeGreaterThan(z.hidden[2]);
      expect(z.hiddenMean).toBeGreaterThan(0.75);
      expect(z.hiddenMean).toBeCloseTo((z.hidden[0] + z.hidden[1] + z.hidden[2]) / 3, 10);
      expect(z.pixels).toBeGreaterThan(0.6);
      expect(z.pixels).toBeLessThan(0.95);
    }
    const ratios = r.ratios!.filter((q) => q.what === 'sparse ÷ dense');
    expect(ratios.map((q) => q.variant).sort()).toEqual(['no-readback', 'readback', 'telemetry']);
    for (const q of ratios) {
      const [auto, off] = (['auto', 'off'] as const).map((p) => cpu.find((x) => x.variant === q.variant && x.cpuPath === p)!);
      expect(q.ratio).toBeCloseTo(auto.examplesPerSecond! / off.examplesPerSecond!, 6);
      expect(q.repRatios).toHaveLength(2);
      expect(q.pairedRatio).toBeCloseTo((q.repRatios[0] + q.repRatios[1]) / 2, 10);
    }
    expect(stdout).toMatch(/rectigrad-cpu@node, sparse path \(auto\)\s+\| sparse/);
    expect(stdout).toMatch(/rectigrad-cpu@node, dense path \(off\)\s+\| sparse/);
    expect(stdout).toMatch(
      /sparse b8: \d+ % \/ \d+ % \/ \d+ % of the hidden layers' outputs zero \(mean \d+ %\), \d+ % of the pixels; weights from docs\/glorot2011\/rectifier.safetensors/,
    );

    const torch = r.rows.filter((x) => x.engine === 'pytorch-cpu@python');
    expect(torch.map((x) => x.variant).sort()).toEqual(['no-readback', 'readback']);
    if (hasTorch) {
      for (const row of torch) {
        expect(row.status).toBe('ok');
        // The same weights, batches, L1 term and momentum step as rectigrad's: after two
        // steps the losses (~1e-4 here: the trained net fits these batches) agree to a few
        // 1e-8, where leaving out the L1 term moves PyTorch's by ~6e-6 and leaving out
        // momentum by ~2.5e-6.
        expect(Math.abs(row.lossBefore! - cpu[0].lossBefore!)).toBeLessThan(close(cpu[0].lossBefore!));
        expect(Math.abs(row.lossAfter! - cpu[0].lossAfter!)).toBeLessThan(close(cpu[0].lossAfter!));
        // On as many threads as rectigrad-cpu, saying which BLAS kernels it ran.
        expect(row.adapter?.threads).toBe(cpu[0].adapter?.threads);
        expect(row.notes?.join(' ')).toMatch(/OPENBLAS_CORETYPE/);
        // torch's OpenMP threads wait passively unless the environment says otherwise.
        expect(row.notes?.join(' ')).toMatch(process.env.OMP_WAIT_POLICY ? /OMP_WAIT_POLICY=/ : /OMP_WAIT_POLICY=PASSIVE/);
      }
      expect(r.ratios!.filter((q) => q.what === 'rectigrad ÷ PyTorch')).toHaveLength(4);
      expect(stdout).toMatch(/rectigrad ÷ PyTorch, sparse b8 loss read every step: rectigrad-cpu@node, sparse path \(auto\) ÷ pytorch-cpu@python = [\d.]+×/);
    } else for (const row of torch) expect(row.status).toMatch(/^skipped: .*torch/);
  });

  it('says why PyTorch is skipped where its Python cannot run, and still measures rectigrad', { timeout: 300_000 }, async () => {
    const { r } = await bench(join(dir, 'no-python.json'), { PYTHON: join(dir, 'no-such-python') });
    const torch = r.rows.filter((x) => x.engine === 'pytorch-cpu@python');
    expect(torch).toHaveLength(2);
    for (const row of torch) expect(row.status).toMatch(/^skipped: .*no-such-python cannot be started.*set PYTHON/);
    expect(r.rows.filter((x) => x.engine === 'rectigrad-cpu@node').every((x) => x.status === 'ok')).toBe(true);
    expect(r.ratios!.some((q) => q.what === 'rectigrad ÷ PyTorch')).toBe(false);
  });

  it('--cpu-paths runs both paths side by side on any training workload, and names what it takes', { timeout: 120_000 }, async () => {
    const json = join(dir, 'tiny.json');
    const args = ['bench', '--engines', 'rectigrad-cpu@node', '--workload', 'tiny', '--batch', '8', '--cpu-paths', 'auto,off'];
    await run(process.execPath, ['bin/rectigrad.js', ...args, '--steps', '1', '--reps', '1', '--no-profile', '--json', json], { timeout: 100_000 });
    const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(r.rows.map((x) => `${x.variant}:${x.cpuPath}:${x.status}`).sort()).toEqual(
      ['readback', 'telemetry', 'no-readback'].flatMap((v) => [`${v}:auto:ok`, `${v}:off:ok`]).sort(),
    );
    // Not the sparse workload: no start zeros, no PyTorch unless asked for.
    expect(r.rows.every((x) => x.startZeros === undefined && x.engine === 'rectigrad-cpu@node')).toBe(true);
    expect(r.ratios!.map((q) => q.what)).toEqual(['sparse ÷ dense', 'sparse ÷ dense', 'sparse ÷ dense']);
    const bad = await run(process.execPath, ['bin/rectigrad.js', 'bench', '--cpu-paths', 'fast']).then(
      () => expect.unreachable('should have failed'),
      (e: { stderr: string }) => e.stderr,
    );
    expect(bad).toMatch(/--cpu-paths takes auto,off; got "fast"/);
    expect(bad).not.toMatch(/\n\s+at /);
  });
});
