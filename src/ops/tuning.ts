// Kernel configurations, beside the kernels they configure. SwiftShader rewards large
// register tiles (its loads are emulated lane by lane); real GPUs want more threads per
// workgroup. The planner bakes the chosen tiles into the pipelines; which table applies
// to an adapter, and which configuration each product shape gets after measuring, is the
// WebGPU backend's choice (src/backend/webgpu/tuning.ts and autotune.ts).
import { DEFAULT_TILES, type MatmulShape, type MatmulTiles } from './matmul.ts';

export interface KernelTuning {
  /** The configuration of any product not listed in perShape. */
  matmul: MatmulTiles;
  /** Configurations chosen by measurement, by shapeKey(shape). */
  perShape?: Record<string, MatmulTiles>;
}

/** Measured best on SwiftShader (bench/matmul.ts): 8×8 outputs per thread, 8×8 threads. */
export const SOFTWARE_TUNING: KernelTuning = { matmul: DEFAULT_TILES };
/** Hardware GPUs before measuring: 4×4 outputs per thread, 16×16 = 256 threads, the same 64×64 block. */
export const HARDWARE_TUNING: KernelTuning = { matmul: { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 } };

/**
 * What the autotuner times for each product shape: a short list spanning few threads with
 * big register tiles (software adapters) to 256-thread workgroups with small ones (GPUs).
 */
export const MATMUL_CANDIDATES: readonly MatmulTiles[] = [
  { TM: 8, TN: 8, WG_X: 8, WG_Y: 8 },
  { TM: 8, TN: 8, WG_X: 16, WG_Y: 16 },
  { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 },
  { TM: 8, TN: 4, WG_X: 16, WG_Y: 8 },
  { TM: 4, TN: 8, WG_X: 8, WG_Y: 16 },
  { TM: 2, TN: 2, WG_X: 16, WG_Y: 16 },
];

/** The product's layout as BLAS names it: N (as stored) or T (transposed), for A then B. */
export const layoutOf = (s: Pick<MatmulShape, 'transA' | 'transB'>): string => `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;

/** The key of a product shape in KernelTuning.perShape and in the tuning cache. */
export const shapeKey = (s: MatmulShape): string => `${s.M}x${s.N}x${s.K}:${layoutOf(s)}`;

/** The configuration a product of this shape gets. */
export const tilesFor = (t: KernelTuning, s: MatmulShape): MatmulTiles => t.perShape?.[shapeKey(s)] ?? t.matmul;

export const formatTiles = ({ TM, TN, WG_X, WG_Y }: MatmulTiles): string => `${TM}x${TN}@${WG_X}x${WG_Y}`;

export function parseTiles(s: string): MatmulTiles {
  const m = /^(\d+)x(\d+)@(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`matmul tiles "${s}" are not of the form TMxTN@WG_XxWG_Y, e.g. 8x8@8x8`);
  const [TM, TN, WG_X, WG_Y] = m.slice(1).map(Number);
  return { TM, TN, WG_X, WG_Y };
}
