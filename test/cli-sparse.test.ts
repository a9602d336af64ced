// `rectigrad train --sparse`: the flag's values and refusals, and on real MNIST the sparse
// and dense CPU paths following the same trajectory, with train --json saying per product
// which path its steps took and the density they saw.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rectigrad-cli-sparse-'));
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['bin/rectigrad.js', ...args], { timeout: 240_000, env: { ...process.env, ...env } });

const fail = async (args: string[], env: Record<string, string> = {}) => {
  const e = await cli(args, env).then(
    () => expect.unreachable('should have failed'),
    (err: { code: number; stderr: string }) => err,
  );
  expect(e.code).not.toBe(0);
  expect(e.stderr).not.toMatch(/\n\s+at /);
  return e.stderr.trim();
};

interface SparseReport {
  path: 'sparse' | 'dense' | 'mixed';
  sparseSteps: number;
  denseSteps: number;
  meanDensity: number;
  lastDensity: number;
  crossover: number;
}
interface TrainJson {
  sparseMode: string;
  kernels: { op: string; layer: number; shape: number[]; kernel: string; sparse?: SparseReport }[];
  steps: { step: number; loss: number; sparsity: number[]; deadUnits: number[]; gradNorm: number[] }[];
  final: { testLoss: number; testError: number; sparsity: number[] };
}

const STEPS = 100;
const small = ['--backend', 'cpu', '--layers', '128,64', '--train-limit', '640', '--test-limit', '200', '--batch', '32', '--quiet'];

async function train(name: string, args: string[], env: Record<string, string> = {}): Promise<TrainJson> {
  const json = join(dir, `${name}.json`);
  await cli(['train', ...small, '--steps', String(STEPS), '--l1', '0.0005', '--json', json, ...args], env);
  return JSON.parse(readFileSync(json, 'utf8')) as TrainJson;
}

describe('rectigrad train --sparse', () => {
  it('refuses a bad value, and on|off with --backend webgpu, in one line', async () => {
    expect(await fail(['train', '--sparse', 'maybe'])).toMatch(/--sparse takes one of auto, on, off; got "maybe"/);
    expect(await fail(['train', '--sparse', ''])).toMatch(/--sparse takes one of auto, on, off; got ""/);
    expect(await fail(['train', '--backend', 'webgpu', '--sparse', 'off'])).toBe(
      'rectigrad: --sparse off applies to the CPU backend only: drop it, or train with --backend cpu',
    );
    expect(await fail(['train', ...small, '--steps', '1', '--sparse', 'auto'], { RECTIGRAD_CPU_SPARSE: 'sometimes' })).toMatch(
      /RECTIGRAD_CPU_SPARSE must be one of auto, on, off, not "sometimes"/,
    );
  });

  it(`on and off follow the same ${STEPS}-step trajectory on MNIST; --json reports each product's path and density`, async () => {
    const on = await train('on', ['--sparse', 'on']);
    // No flag: the environment's default is used.
    const off = await train('off', [], { RECTIGRAD_CPU_SPARSE: 'off' });
    expect(on.sparseMode).toBe('on');
    expect(off.sparseMode).toBe('off');

    // The same steps, the same telemetry, up to the summation order (exact zeros are left out).
    expect(on.steps.map((s) => s.step)).toEqual(off.steps.map((s) => s.step));
    expect(on.steps).toHaveLength(STEPS);
    let worst = 0;
    for (const [i, a] of on.steps.entries()) {
      const b = off.steps[i];
      worst = Math.max(worst, Math.abs(a.loss - b.loss) / Math.max(1, b.loss));
      for (let h = 0; h < 2; h++) {
        expect(Math.abs(a.sparsity[h] - b.sparsity[h]), `step ${a.step} layer ${h + 1} sparsity`).toBeLessThan(0.01);
        expect(Math.abs(a.deadUnits[h] - b.deadUnits[h]), `step ${a.step} layer ${h + 1} dead units`).toBeLessThanOrEqual(1);
      }
      for (const [l, g] of a.gradNorm.entries()) expect(Math.abs(g - b.gradNorm[l]) / Math.max(1e-3, b.gradNorm[l])).toBeLessThan(1e-2);
    }
    expect(worst).toBeLessThan(1e-3);
    expect(Math.abs(on.final.testLoss - off.final.testLoss)).toBeLessThan(1e-3);
    // The loss fell: it trained.
    expect(on.steps[STEPS - 1].loss).toBeLessThan(0.7 * on.steps[0].loss);

    // Per product (layer × forward/dX/dW): 3 forward, 2 dX, 3 dW, each with its path and density.
    const names = (r: TrainJson) => r.kernels.map((k) => `${k.op} ${k.layer}`);
    expect(names(on)).toEqual(['forward 1', 'dW 1', 'forward 2', 'dX 2', 'dW 2', 'forward 3', 'dX 3', 'dW 3']);
    expect(names(off)).toEqual(names(on));
    for (const [i, k] of on.kernels.entries()) {
      const d = off.kernels[i].sparse!;
      const s = k.sparse!;
      const what = `${k.op} ${k.layer}`;
      expect([s.path, s.sparseSteps, s.denseSteps, s.crossover], what).toEqual(['sparse', STEPS, 0, 1]);
      expect([d.path, d.sparseSteps, d.denseSteps, d.crossover], what).toEqual(['dense', 0, STEPS, 0]);
      for (const x of [s.meanDensity, s.lastDensity, d.meanDensity, d.lastDensity]) expect(x > 0 && x <= 1, `${what}: ${x}`).toBe(true);
      expect(Math.abs(s.meanDensity - d.meanDensity), what).toBeLessThan(0.01);
    }
    const density = (r: TrainJson, name: string) => r.kernels.find((k) => `${k.op} ${k.layer}` === name)!.sparse!.meanDensity;
    // MNIST's pixels are mostly background; the hidden layers' relu outputs (inputs of
    // forward 2 and 3) have exact zeros, and so have their deltas (dX and dW of layers 1, 2).
    expect(density(on, 'forward 1')).toBeGreaterThan(0.1);
    expect(density(on, 'forward 1')).toBeLessThan(0.3);
    for (const name of ['forward 2', 'forward 3', 'dW 1', 'dX 2', 'dW 2']) expect(density(on, name), name).toBeLessThan(0.9);
    // A layer's input and its deltas share the relu's zeros: forward 2 sees what dW 1 does.
    expect(density(on, 'forward 2')).toBeCloseTo(density(on, 'dW 1'), 12);
    // The output layer's deltas (softmax minus one-hot) have no zeros.
    expect(density(on, 'dX 3')).toBe(1);
  });

  it('auto: the flag overrides the environment, and every step is on one path or the other', async () => {
    const auto = await train('auto', ['--sparse', 'auto', '--steps', '20'], { RECTIGRAD_CPU_SPARSE: 'off' });
    expect(auto.sparseMode).toBe('auto');
    for (const k of auto.kernels) {
      const s = k.sparse!;
      const what = `${k.op} ${k.layer}`;
      expect(s.sparseSteps + s.denseSteps, what).toBe(20);
      expect(s.path, what).toBe(s.denseSteps === 0 ? 'sparse' : s.sparseSteps === 0 ? 'dense' : 'mixed');
      expect(s.crossover >= 0 && s.crossover <= 1, `${what} crossover ${s.crossover}`).toBe(true);
    }
    // Products with no zeros at all never take the sparse path, whatever the crossover.
    expect(auto.kernels.find((k) => k.op === 'dX' && k.layer === 3)!.sparse!.sparseSteps).toBe(0);
  });
});
