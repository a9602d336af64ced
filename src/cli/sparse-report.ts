// What the CPU backend's sparse-aware matmul did with each product of a training run, for
// `train --json`: per product (layer × forward/dX/dW), the steps on each path and the
// density of its sparse operand, aggregated over the run.
import type { CpuBackend } from '../backend/cpu/cpu-backend.ts';
import type { SparsePathStat } from '../backend/cpu/sparse-matmul.ts';

export interface SparseProductReport {
  /** 'mixed' when some steps took each path ('auto' near the crossover). */
  path: 'sparse' | 'dense' | 'mixed';
  sparseSteps: number;
  denseSteps: number;
  /** Nonzero fraction of op(A) (the layer's input for forward, dZ for dX and dW), mean over the steps. */
  meanDensity: number;
  /** The same in the last step. */
  lastDensity: number;
  /** Sparse below this density (the current estimate, refined from the run's own product times; 1 with --sparse on, 0 with off). */
  crossover: number;
  /** Steps that ran the path the estimates did not favour, to keep its timing fresh. */
  probes: number;
}

/**
 * The report of the training product `op` of layer `layer` (0-based, as the plan labels
 * it), or undefined when the backend kept no telemetry for it (TypeScript mode). A layer
 * split into chunks sums its chunks' steps.
 */
export function sparseProductReport(backend: CpuBackend, op: string, layer: number): SparseProductReport | undefined {
  const stats = backend.sparseStats;
  if (!stats) return undefined;
  const label = `${op} ${layer}`;
  const parts: SparsePathStat[] = Object.entries(stats)
    .filter(([k]) => k === label || k.startsWith(`${label}.`))
    .map(([, v]) => v);
  const steps = parts.reduce((n, s) => n + s.steps, 0);
  if (steps === 0) return undefined;
  const sparseSteps = parts.reduce((n, s) => n + s.sparseSteps, 0);
  const denseSteps = steps - sparseSteps;
  const last = parts[parts.length - 1];
  return {
    path: denseSteps === 0 ? 'sparse' : sparseSteps === 0 ? 'dense' : 'mixed',
    sparseSteps,
    denseSteps,
    meanDensity: parts.reduce((n, s) => n + s.meanDensity * s.steps, 0) / steps,
    lastDensity: last.density,
    crossover: last.crossover,
    probes: parts.reduce((n, s) => n + s.probes, 0),
  };
}
