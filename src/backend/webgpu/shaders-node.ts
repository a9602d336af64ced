// WGSL sources in Node: read from the project's shaders/ folder.
import { readFileSync } from 'node:fs';

const root = new URL('../../../shaders/', import.meta.url);

export function shaderFile(name: string): string {
  return readFileSync(new URL(`${name}.wgsl`, root), 'utf8');
}
