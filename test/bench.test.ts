// `rectigrad bench` end to end, as a user runs it: every engine (rectigrad, TensorFlow.js,
// jax-js; in Node and in headless Chromium) on a tiny workload for one step, checking the
// harness and its JSON, never the timings.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkReport } from '../bench/report.ts';
import { ALL_ENGINES, type BenchReport } from '../bench/spec.ts';

const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 300_000, maxBuffer: 1 << 24 });
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-bench-'));

describe('rectigrad bench', () => {
  it('runs every engine on the same weights and batch and writes JSON that follows its schema', { timeout: 330_000 }, async () => {
    const json = join(dir, 'bench.json');
    const { stdout } = await cli([
      'bench',
      '--workload',
      'tiny,matmul',
      '--batch',
      '16',
      '--sizes',
      '64',
      '--steps',
      '1',
      '--reps',
      '2',
      '--budget',
      '120',
      '--json',
      json,
    ]);
    expect(stdout).toMatch(/\| engine\s+\| workload/);
    const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(checkReport(r)).toEqual([]);
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.browser).toMatch(/Chrom/);

    // Every engine ran every cell: a failure would be a row whose status says why.
    for (const engine of ALL_ENGINES) {
      const mine = r.rows.filter((x) => x.engine === engine);
      expect(mine.map((x) => `${x.workload}:${x.status}`)).toContain('tiny:ok');
      expect(mine.map((x) => `${x.workload}:${x.status}`)).toContain('matmul:ok');
    }
    for (const row of r.rows) {
      expect(row.status, `${row.engine} ${row.workload} ${row.variant}`).toBe('ok');
      expect(row.steps).toBe(1);
      expect(row.reps).toBe(2);
      expect(row.reduced).toBe(true);
      expect(row.adapter?.kind).toBe(row.engine.includes('webgpu') ? 'gpu' : 'cpu');
      // The bench page runs the CPU backend in a worker, where it has helper threads.
      if (row.engine === 'rectigrad-cpu@chromium' && r.machine.cores >= 2) expect(row.adapter?.description).toMatch(/ [2-9] threads of /);
      // rectigrad-webgpu times its op groups with timestamp queries (SwiftShader has them).
      if (
        row.engine.startsWith('rectigrad-webgpu') &&
        row.workload === 'tiny' &&
        row.variant !== 'no-readback' &&
        row.adapter?.architecture === 'swiftshader'
      ) {
        expect(row.gpuMs?.matmul, `${row.engine} ${row.variant}`).toBeGreaterThan(0);
      }
    }

    // Same initial weights and batch everywhere: the same loss before training, and the
    // same, lower, loss after the one SGD step; the same product for the matmul.
    const train = r.rows.filter((x) => x.workload === 'tiny');
    const before = train[0].lossBefore!;
    const after = train[0].lossAfter!;
    expect(before).toBeGreaterThan(1.5);
    expect(before).toBeLessThan(3.5);
    expect(after).toBeLessThan(before);
    for (const row of train) {
      expect(Number.isFinite(row.lossBefore)).toBe(true);
      expect(Number.isFinite(row.lossAfter)).toBe(true);
      expect(Math.abs(row.lossBefore! - before), `${row.engine} ${row.variant}`).toBeLessThan(1e-3);
      expect(Math.abs(row.lossAfter! - after), `${row.engine} ${row.variant}`).toBeLessThan(1e-3);
    }
    expect(new Set(train.map((x) => x.variant))).toEqual(new Set(['readback', 'no-readback', 'telemetry']));
    expect(train.filter((x) => x.telemetry).every((x) => x.engine.startsWith('rectigrad'))).toBe(true);
    const mm = r.rows.filter((x) => x.workload === 'matmul');
    for (const row of mm) expect(Math.abs(row.check! - mm[0].check!), row.engine).toBeLessThan(1e-3 * Math.max(1, Math.abs(mm[0].check!)));
  });

  it('bad engine and workload names are one clear line', async () => {
    const fail = async (args: string[]) => {
      const e = await cli(args).then(
        () => expect.unreachable('should have failed'),
        (err: { code: number; stderr: string }) => err,
      );
      expect(e.code).not.toBe(0);
      expect(e.stderr).not.toMatch(/\n\s+at /);
      return e.stderr;
    };
    expect(await fail(['bench', '--engines', 'torch@node'])).toMatch(/unknown engine "torch@node".*@node or @chromium/);
    expect(await fail(['bench', '--engines', 'tfjs-wasm@firefox'])).toMatch(/unknown engine/);
    expect(await fail(['bench', '--workload', 'huge'])).toMatch(/--workload takes paper\|wide\|tiny\|matmul/);
    expect(await fail(['bench', '--batch', '0'])).toMatch(/--batch takes comma-separated positive whole numbers/);
  });
});
