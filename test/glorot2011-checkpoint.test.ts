// The committed checkpoint of the paper's network (docs/glorot2011/rectifier.safetensors:
// the rectifier chosen on validation by the `best + dropout 0.3 (input 0.1) + max-norm 3`
// run, at its best-validation epoch)
// evaluates on the CPU backend to exactly the test error, per-layer sparsity and dead
// units its report records for that epoch.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CHECKPOINT = 'docs/glorot2011/rectifier.safetensors';
const RESULTS = 'docs/glorot2011/best-dropout-cpu/results.json';

interface Measure {
  examples: number;
  error: number;
  sparsity: number[];
  deadUnits: number[];
}

describe('the committed rectifier checkpoint', () => {
  it('evaluates to the test error, sparsity and dead units its report states', async () => {
    const results = JSON.parse(readFileSync(RESULTS, 'utf8')) as {
      runs: { key: string; seed: number; bestCheckpointEpoch?: number; epochs: { epoch: number; test: Measure }[] }[];
      selections: { variant: string; selection: { chosen: { key: string } } }[];
    };
    const chosen = results.selections.find((s) => s.variant === 'rectifier')!.selection.chosen.key;
    const first = results.runs.find((r) => r.key === chosen && r.seed === 1)!;
    const reported = first.epochs.find((e) => e.epoch === first.bestCheckpointEpoch)!.test;
    expect(reported.examples).toBe(10000);
    // The paper's 1.43% at its sparsity: 80–87% mean exact zeros over the hidden layers.
    expect(reported.error).toBeLessThanOrEqual(0.0143);
    const mean = reported.sparsity.reduce((a, b) => a + b, 0) / reported.sparsity.length;
    expect(mean).toBeGreaterThanOrEqual(0.8);
    expect(mean).toBeLessThanOrEqual(0.87);

    const json = join(mkdtempSync(join(tmpdir(), 'rectigrad-glorot-')), 'eval.json');
    await run(process.execPath, ['bin/rectigrad.js', 'eval', '--checkpoint', CHECKPOINT, '--backend', 'cpu', '--json', json, '--quiet'], {
      timeout: 120_000,
    });
    const got = JSON.parse(readFileSync(json, 'utf8')) as Measure;
    expect(got.examples).toBe(10000);
    // The error is a count of mistakes: exactly the reported one. Sparsity is a count of
    // exact zeros over 10,000 × 1,000 activations, computed in the run: equal to
    // within a handful of activations on the edge of zero.
    expect(Math.round(got.error * 10000)).toBe(Math.round(reported.error * 10000));
    got.sparsity.forEach((s, l) => expect(Math.abs(s - reported.sparsity[l])).toBeLessThan(1e-5));
    expect(got.deadUnits).toEqual(reported.deadUnits);
  }, 180_000);
});
