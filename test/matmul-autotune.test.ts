// The matmul autotuner on the real adapter: it times the candidates that fit, picks one per
// shape, and its choice plugs into the planner. (Which candidate wins is the adapter's
// business; only the bookkeeping is checked here.)
import { describe, expect, it } from 'vitest';
import { SOFTWARE_TUNING } from '../src/backend/tuning.ts';
import { autotuneMatmul } from '../src/backend/webgpu/matmul-autotune.ts';
import { MATMUL_CANDIDATES, type MatmulCandidate } from '../src/ops/matmul-candidates.ts';
import { planTraining } from '../src/plan/plan.ts';
import { gpu } from './support/gpu.ts';
import { smallData, smallModel, trainerOptions } from './support/train.ts';

describe('matmul autotuner', () => {
  it('times the candidates that fit, one choice per shape', async () => {
    const register = MATMUL_CANDIDATES[0];
    const tiled = MATMUL_CANDIDATES.find((c) => c.name === 'tiled 64x64 k16 t4x4')!;
    // 64 × 128 threads: more than SwiftShader's 256 invocations per workgroup.
    const tooWide: MatmulCandidate = { kind: 'tiled', name: 'too wide', tile: { BM: 64, BN: 128, BK: 8, TM: 4, TN: 4 } };
    const fwd = { M: 16, N: 24, K: 20, transA: false, transB: true };
    const dW = { M: 24, N: 20, K: 16, transA: true, transB: false };
    const { results, choice } = await autotuneMatmul(await gpu(), [fwd, dW, { ...fwd }], { candidates: [register, tiled, tooWide], repeats: 2 });
    expect(results.map((r) => r.shape)).toEqual([fwd, dW]);
    for (const r of results) {
      expect(r.timings.map((t) => t.name).sort()).toEqual([register.name, tiled.name].sort());
      for (const t of r.timings) expect(t.ms).toBeGreaterThan(0);
      expect(r.timings[0].ms).toBeLessThanOrEqual(r.timings[1].ms);
      expect(r.best.name).toBe(r.timings[0].name);
    }
    expect(choice({ ...fwd })).toBe(results[0].best);
    expect(choice({ ...fwd, M: 17 })).toBeUndefined();
    // The planner takes the choice for the products it was tuned on.
    const data = smallData();
    const plan = planTraining(smallModel(), { ...trainerOptions(), batch: 16 }, { features: data.features, examples: data.examples, scale: 1, shift: 0 }, {
      ...SOFTWARE_TUNING,
      matmulChoice: choice,
    });
    const forward0 = plan.step.find((s) => 'op' in s && s.label.startsWith('forward 0'));
    expect(forward0 && 'op' in forward0 ? forward0.op.shader : '').toBe(results[0].best.kind === 'register' ? 'matmul' : 'matmul_tiled_vec4');
  });

  it('refuses when no candidate fits', async () => {
    const huge: MatmulCandidate = { kind: 'tiled', name: 'huge', tile: { BM: 128, BN: 128, BK: 64, TM: 4, TN: 4 } };
    await expect(autotuneMatmul(await gpu(), [{ M: 2, N: 2, K: 2, transA: false, transB: true }], { candidates: [huge] })).rejects.toThrow(/no matmul candidate fits/);
  });
});
