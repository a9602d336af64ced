// A short soak (1,000 steps per backend) of scripts/soak.ts, run as `npm run soak` runs it
// (its own process, with --expose-gc): no GPU object created after warm-up, no staging
// buffer left pending, memory flat. `npm run soak` does the same for 10,000 steps.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { SoakResult } from '../scripts/soak.ts';

const run = promisify(execFile);

describe('soak', () => {
  it('1,000 steps on WebGPU and on the CPU: GPU objects, staging and memory flat', async () => {
    const json = join(mkdtempSync(join(tmpdir(), 'rectigrad-soak-')), 'soak.json');
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/soak.ts', '--steps', '1000', '--every', '250', '--json', json], {
      timeout: 180_000,
    }).catch((e: { stdout: string; stderr: string }) => {
      throw new Error(`the soak failed:\n${e.stdout}\n${e.stderr}`);
    });
    const results = JSON.parse(readFileSync(json, 'utf8')) as SoakResult[];
    expect(results.map((r) => r.backend)).toEqual(['webgpu', 'cpu']);
    for (const r of results) {
      expect(r.samples.map((s) => s.step)).toEqual([250, 500, 750, 1000]);
      expect(r.countersFlat).toBe(true);
      expect(r.samples.every((s) => s.stagingPending === 0)).toBe(true);
      expect(r.heapGrowth).toBeLessThan(0.05);
    }
    // The CPU backend's memory is flat from the first sample. On Dawn + SwiftShader the
    // process RSS (not the JS heap, not GPU objects) climbs in steps over the first
    // several thousand submits and then levels off; a bare Dawn loop of compute passes
    // without rectigrad shows the same (about +20 MiB over 3,000 submits, flat after),
    // so the short run bounds it looser than `npm run soak` does.
    const [gpu, cpu] = results;
    expect(cpu.rssGrowth).toBeLessThan(0.05);
    expect(cpu.pass, cpu.problems.join('; ')).toBe(true);
    expect(gpu.rssGrowth).toBeLessThan(0.1);
    expect(results[0].samples[0].buffers).toBeGreaterThan(0);
    expect(results[0].samples[0].pipelines).toBeGreaterThan(0);
    expect(stdout).toMatch(/webgpu .*: 1000 steps in/);
  });
});
