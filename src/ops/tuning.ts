// Kernel configurations, beside the kernels they configure. SwiftShader rewards large
// register tiles (its loads are emulated lane by lane); real GPUs want workgroup-memory
// tiles and more threads (src/ops/matmul-candidates.ts). The planner bakes the chosen
// configuration into the pipelines; which table applies to an adapter, and which candidate
// each product shape gets after measuring, is the WebGPU backend's choice
// (src/backend/webgpu/tuning.ts and autotune.ts).
import type { MatmulCandidate } from './matmul-candidates.ts';
import { DEFAULT_TILES, type MatmulShape, type MatmulTiles } from './matmul.ts';

export interface KernelTuning {
  /** Tiles of the register kernel, for every product matmulChoice does not pick for. */
  matmul: MatmulTiles;
  /** Reductions in two passes over partials (fill a large GPU); absent: one pass, best on SwiftShader. */
  twoPassReductions?: boolean;
  /**
   * Fold the step's telemetry into passes it makes anyway (src/plan/plan.ts, fusedTelemetry):
   * fewer small dispatches, which a GPU pays for more than for their bytes. Absent: the
   * telemetry's own reduction steps (what the CPU backend folds its own way).
   */
  fusedTelemetry?: boolean;
  /** The matmul kernel per shape (the autotuner's pick); absent or undefined: the register kernel with `matmul`'s tiles. */
  matmulChoice?: (shape: MatmulShape) => MatmulCandidate | undefined;
}

/** Measured best on SwiftShader (bench/matmul.ts): 8×8 outputs per thread, 8×8 threads. */
export const SOFTWARE_TUNING: KernelTuning = { matmul: DEFAULT_TILES, fusedTelemetry: true };
/** Hardware GPUs before measuring: 4×4 outputs per thread, 16×16 = 256 threads; two-pass reductions. */
export const HARDWARE_TUNING: KernelTuning = { matmul: { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 }, twoPassReductions: true, fusedTelemetry: true };
/** The CPU backend: the plain telemetry steps, which it folds into its own passes (src/backend/cpu/fusion.ts). */
export const CPU_TUNING: KernelTuning = { matmul: DEFAULT_TILES };

/** The product's layout as BLAS names it: N (as stored) or T (transposed), for A then B. */
export const layoutOf = (s: Pick<MatmulShape, 'transA' | 'transB'>): string => `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;

/** The key of a product shape in the autotuner's choices and the tuning cache. */
export const shapeKey = (s: MatmulShape): string => `${s.M}x${s.N}x${s.K}:${layoutOf(s)}`;

export const formatTiles = ({ TM, TN, WG_X, WG_Y }: MatmulTiles): string => `${TM}x${TN}@${WG_X}x${WG_Y}`;

/** The register kernel with these tiles, as an autotune candidate. */
export const registerCandidate = (tiles: MatmulTiles): MatmulCandidate => ({ kind: 'register', name: `register ${formatTiles(tiles)}`, tiles });

export function parseTiles(s: string): MatmulTiles {
  const m = /^(\d+)x(\d+)@(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`matmul tiles "${s}" are not of the form TMxTN@WG_XxWG_Y, e.g. 8x8@8x8`);
  const [TM, TN, WG_X, WG_Y] = m.slice(1).map(Number);
  return { TM, TN, WG_X, WG_Y };
}
