// The sweep of every matmul candidate over 20 random shapes of one training layout, through
// the real WGSL on the real adapter against the float64 twin (scripts/gpu-check/kernel-sweep.ts;
// gpu-check runs the same on a GPU). One test file per layout, so that the test runner
// spreads them over its workers: SwiftShader compiles each pipeline (the shape is baked
// in) in up to a second or two, and each candidate × layout is one test of 20 cases.
import { describe, expect, it } from 'vitest';
import { MATMUL_CANDIDATES } from '../../src/ops/matmul-candidates.ts';
import { HARDWARE_TUNING, registerCandidate } from '../../src/ops/tuning.ts';
import { Rng } from '../../src/util/rng.ts';
import { LAYOUTS, SWEEP_TOLERANCE, sweepCase, sweepShapes, type Layout } from '../../scripts/gpu-check/kernel-sweep.ts';
import { gpuBackend } from './gpu.ts';

const PER_LAYOUT = 20;
const candidates = [registerCandidate(HARDWARE_TUNING.matmul), ...MATMUL_CANDIDATES];

export function sweepLayout(index: number): void {
  const layout: Layout = LAYOUTS[index];
  describe(`matmul candidates, ${layout.name}, on the GPU against float64`, () => {
    const shapes = sweepShapes(new Rng(7 + layout.name.length), PER_LAYOUT, layout);
    it.each(candidates.map((c) => [c.name, c] as const))(
      '%s on 20 shapes',
      async (_, c) => {
        const backend = await gpuBackend();
        const rng = new Rng(11);
        const bad: string[] = [];
        try {
          for (const s of shapes) {
            const r = await sweepCase(backend, c, s, layout, rng);
            if (r.error !== undefined || !(r.relErr! < SWEEP_TOLERANCE)) bad.push(`${r.shape.join('×')}: ${r.error ?? `relative error ${r.relErr}`}`);
          }
        } finally {
          backend.destroy();
        }
        expect(bad, bad.join('\n')).toEqual([]);
        expect(shapes.length).toBe(PER_LAYOUT);
      },
      240_000,
    );
  });
}
