// Kernel configurations, beside the kernels they configure. SwiftShader rewards large
// register tiles (its loads are emulated lane by lane); real GPUs want more threads per
// workgroup. The planner bakes the chosen tiles into the pipelines; which table applies
// to an adapter is the WebGPU backend's choice (src/backend/webgpu/tuning.ts).
import { DEFAULT_TILES, type MatmulTiles } from './matmul.ts';

export interface KernelTuning {
  matmul: MatmulTiles;
}

/** Measured best on SwiftShader (bench/matmul.ts): 8×8 outputs per thread, 8×8 threads. */
export const SOFTWARE_TUNING: KernelTuning = { matmul: DEFAULT_TILES };
/** Hardware GPUs: 4×4 outputs per thread, 16×16 = 256 threads, the same 64×64 block. */
export const HARDWARE_TUNING: KernelTuning = { matmul: { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 } };

export function parseTiles(s: string): MatmulTiles {
  const m = /^(\d+)x(\d+)@(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`matmul tiles "${s}" are not of the form TMxTN@WG_XxWG_Y, e.g. 8x8@8x8`);
  const [TM, TN, WG_X, WG_Y] = m.slice(1).map(Number);
  return { TM, TN, WG_X, WG_Y };
}
