// The planner's per-adapter choices: per-shape matmul candidates (tuning.matmulChoice) and
// the two-pass reductions (tuning.twoPassReductions), end to end on the real adapter.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../src/ops/tuning.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { MATMUL_CANDIDATES, type MatmulCandidate } from '../src/ops/matmul-candidates.ts';
import type { MatmulShape } from '../src/ops/matmul.ts';
import type { PlanStep } from '../src/ops/op.ts';
import { planTraining } from '../src/plan/plan.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';
import { gpu } from './support/gpu.ts';

const byName = (n: string): MatmulCandidate => MATMUL_CANDIDATES.find((c) => c.name === n)!;
const ops = (steps: unknown[]) => steps.filter((s): s is PlanStep => typeof s === 'object' && s !== null && 'op' in s);

/** Forward products in split-K, dW in a 64 × 64 tile, dX with K = 17 in a 128 × 64 tile, other dX in the register kernel. */
function choice(s: MatmulShape): MatmulCandidate | undefined {
  if (s.transB) return byName('splitk4 64x64 k16 t4x4');
  if (s.transA) return byName('tiled 64x64 k16 t4x4');
  return s.K === 17 ? byName('tiled 128x64 k16 t8x4') : undefined;
}

describe('per-shape matmul choice', () => {
  const data = smallData();
  const shape = { features: data.features, examples: data.examples, scale: 1, shift: 0 };
  const config = { batch: 16, l1: 0, telemetry: true, optimizer: trainerOptions().optimizer };

  it('is off by default: the register kernel with the tuning tiles, no scratch arenas', () => {
    const plan = planTraining(smallModel(), config, shape, SOFTWARE_TUNING);
    const mm = ops(plan.step).filter((s) => s.op.group === 'matmul');
    expect(mm.length).toBe(3 + 3 + 2);
    for (const s of mm) {
      expect(s.op.shader).toBe('matmul');
      expect(s.constants.WG_X).toBe(SOFTWARE_TUNING.matmul.WG_X);
    }
    expect(Object.keys(plan.arenas)).not.toContain('matmul scratch');
    expect(Object.keys(plan.arenas)).not.toContain('reduce');
  });

  it('plans each product with its chosen candidate and trains like the CPU', async () => {
    const tuning: KernelTuning = { ...SOFTWARE_TUNING, matmulChoice: choice };
    const onGpu = await trainer(new WebGpuBackend(await gpu(), tuning));
    const steps = ops(onGpu.plan.step);
    const entry = (label: string) => steps.filter((s) => s.label.startsWith(label)).map((s) => `${s.op.shader}:${s.op.entry}`);
    // Layers 20 → 24 → 17 → 5 at batch 16. Forward 0 has K = 20: vec4 loads, two slices of 16.
    expect(entry('forward 0')).toEqual(['matmul_tiled_vec4:main_partial', 'matmul_splitk_reduce:main_bias_act']);
    expect(entry('dW 1')).toEqual(['matmul_tiled:main_sumsq']); // telemetry on: ‖dW‖² from its epilogue
    expect(entry('dX 1')).toEqual(['matmul_tiled:main']); // K = 17
    expect(entry('dX 2')).toEqual(['matmul:main']);
    // The largest split: forward 0, two slices of 16 × 24.
    expect(onGpu.plan.arenas['matmul scratch']).toBe(2 * 16 * 24);
    const gpuRun = await collect(onGpu.run(20));
    const cpuRun = await collect((await trainer(new CpuBackend())).run(20));
    for (let i = 0; i < 20; i++) expect(Math.abs(gpuRun[i].loss - cpuRun[i].loss)).toBeLessThan(1e-4 * Math.max(1, cpuRun[i].loss));
  });
});

describe('two-pass reductions in the plan', () => {
  it('give the same telemetry as the one-pass kernels on the GPU', async () => {
    // Batch 40: three row chunks of 16 in the bias gradients and layer stats.
    const opts = trainerOptions({ batch: 40 });
    const model = smallModel({ hidden: [70, 33] });
    const twoPass = await trainer(new WebGpuBackend(await gpu(), { ...SOFTWARE_TUNING, twoPassReductions: true }), model, opts);
    expect(ops(twoPass.plan.step).map((s) => s.op.shader)).toEqual(expect.arrayContaining(['sumsq_chunks', 'bias_grad_tiled', 'layer_stats_tiled']));
    const onePass = await trainer(new WebGpuBackend(await gpu(), SOFTWARE_TUNING), model, opts);
    const a = await collect(twoPass.run(10));
    const b = await collect(onePass.run(10));
    // Step 1 starts from the same parameters: counts and loss equal, norms equal up to
    // the summation order. Later steps differ by the bias gradients' rounding only.
    expect(a[0].loss).toBe(b[0].loss);
    expect(a[0].sparsity).toEqual(b[0].sparsity);
    expect(a[0].deadUnits).toEqual(b[0].deadUnits);
    expect(a[0].batchDead).toEqual(b[0].batchDead);
    for (let i = 0; i < 10; i++) {
      expect(Math.abs(a[i].loss - b[i].loss)).toBeLessThan(1e-5 * Math.max(1, b[i].loss));
      for (const k of ['gradNorm', 'biasGradNorm', 'deltaNorm'] as const) {
        a[i][k].forEach((v, l) => expect(Math.abs(v - b[i][k][l])).toBeLessThan(1e-4 * Math.max(1e-3, b[i][k][l])));
      }
      for (const k of ['sparsity', 'deadUnits', 'batchDead'] as const) {
        a[i][k].forEach((v, l) => expect(Math.abs(v - b[i][k][l])).toBeLessThanOrEqual(k === 'sparsity' ? 0.01 : 1));
      }
    }
  });
});
