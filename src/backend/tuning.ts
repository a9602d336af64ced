// Kernel configurations chosen per adapter. SwiftShader rewards large register tiles
// (loads are emulated lane by lane); real GPUs want more threads per workgroup. The
// hardware choice below is a reasonable default, not yet measured on a GPU: override it
// with RECTIGRAD_MATMUL_TILES=TMxTN@WG_XxWG_Y (e.g. 8x8@8x8) to compare.
import { DEFAULT_TILES, type MatmulShape, type MatmulTiles } from '../ops/matmul.ts';
import type { MatmulCandidate } from '../ops/matmul-candidates.ts';
import type { AdapterDescription } from './webgpu/device.ts';

export interface KernelTuning {
  matmul: MatmulTiles;
  /** Reductions in two passes over partials (fill a large GPU); absent: one pass, best on SwiftShader. */
  twoPassReductions?: boolean;
  /** The matmul kernel per shape (e.g. an autotuner's pick); absent or undefined: the register kernel with `matmul`'s tiles. */
  matmulChoice?: (shape: MatmulShape) => MatmulCandidate | undefined;
}

/** Measured best on SwiftShader (src/bench/matmul.ts): 8×8 outputs per thread, 8×8 threads. */
export const SOFTWARE_TUNING: KernelTuning = { matmul: DEFAULT_TILES };
/** Hardware GPUs: 4×4 outputs per thread, 16×16 = 256 threads, the same 64×64 block. */
export const HARDWARE_TUNING: KernelTuning = { matmul: { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 }, twoPassReductions: true };

export function parseTiles(s: string): MatmulTiles {
  const m = /^(\d+)x(\d+)@(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`matmul tiles "${s}" are not of the form TMxTN@WG_XxWG_Y, e.g. 8x8@8x8`);
  const [TM, TN, WG_X, WG_Y] = m.slice(1).map(Number);
  return { TM, TN, WG_X, WG_Y };
}

export function tuningFor(adapter: AdapterDescription): KernelTuning {
  const env = typeof process !== 'undefined' ? process.env?.RECTIGRAD_MATMUL_TILES : undefined;
  if (env) return { matmul: parseTiles(env) };
  return adapter.isFallback ? SOFTWARE_TUNING : HARDWARE_TUNING;
}
