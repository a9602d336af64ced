// Which kernel configuration an adapter gets: the software table on SwiftShader and its
// kin, the hardware table with a per-shape heuristic choice elsewhere.
// RECTIGRAD_MATMUL_TILES=TMxTN@WG_XxWG_Y (e.g. 8x8@8x8) forces one, for comparisons.
import { candidateFits, heuristicCandidate, type WorkgroupLimits } from '../../ops/matmul-candidates.ts';
import { HARDWARE_TUNING, parseTiles, SOFTWARE_TUNING, type KernelTuning } from '../../ops/tuning.ts';
import type { AdapterDescription } from './device.ts';

export function tuningFor(adapter: AdapterDescription, limits?: WorkgroupLimits): KernelTuning {
  const env = typeof process !== 'undefined' ? process.env?.RECTIGRAD_MATMUL_TILES : undefined;
  if (env) return { matmul: parseTiles(env), fusedTelemetry: true };
  // A GPU starts from the heuristic's kernel per shape; tune() replaces it with what it measures.
  // Only where its workgroup fits the device (a 64×64 tile with BK 32 needs 17 KiB of
  // workgroup memory, over WebGPU's default 16 KiB); else the register kernel.
  if (adapter.isFallback) return SOFTWARE_TUNING;
  const fits = (s: Parameters<typeof heuristicCandidate>[0]) => {
    const c = heuristicCandidate(s);
    return !limits || candidateFits(c, limits) ? c : undefined;
  };
  return { ...HARDWARE_TUNING, matmulChoice: fits };
}
