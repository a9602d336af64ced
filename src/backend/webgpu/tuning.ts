// Which kernel configuration an adapter gets: the software table on SwiftShader and its
// kin, the hardware table with a per-shape heuristic choice elsewhere. RECTIGRAD_MATMUL_TILES=TMxTN@WG_XxWG_Y (e.g. 8x8@8x8)
// forces one, for comparisons.
import { heuristicCandidate } from '../../ops/matmul-candidates.ts';
import { HARDWARE_TUNING, parseTiles, SOFTWARE_TUNING, type KernelTuning } from '../../ops/tuning.ts';
import type { AdapterDescription } from './device.ts';

export function tuningFor(adapter: AdapterDescription): KernelTuning {
  const env = typeof process !== 'undefined' ? process.env?.RECTIGRAD_MATMUL_TILES : undefined;
  if (env) return { matmul: parseTiles(env) };
  // A GPU starts from the heuristic's kernel per shape; tune() replaces it with what it measures.
  return adapter.isFallback ? SOFTWARE_TUNING : { ...HARDWARE_TUNING, matmulChoice: heuristicCandidate };
}
