// Ids shared by TypeScript and WGSL, written once (here, from the TypeScript tables) and
// handed to the shaders as WGSL constants: a shader that says `//#include "constants.wgsl"`
// gets this text (see src/backend/webgpu/shader-source.ts), so no id is a bare number in
// two places.
import { ACTIVATIONS } from './activations.ts';
import { OPTIMIZER_KINDS } from './optimizer.ts';

const upper = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** The WGSL text of the virtual file constants.wgsl. */
export function wgslConstants(): string {
  return [
    '// Generated from src/ops/wgsl-constants.ts (activation and optimiser ids).',
    ...ACTIVATIONS.map((a, i) => `const ACT_${upper(a)}: u32 = ${i}u;`),
    ...OPTIMIZER_KINDS.map((k, i) => `const OPT_${upper(k)}: u32 = ${i}u;`),
  ].join('\n');
}
