// A shader's full text: `//#include "name.wgsl"` lines are replaced by that file, once
// (shared WGSL such as the activation functions lives in one file). constants.wgsl is
// virtual: the ids TypeScript and WGSL share, written from the TypeScript tables.
import { wgslConstants } from '../../ops/wgsl-constants.ts';
import { WGSL } from './wgsl.generated.ts';

const cache = new Map<string, string>();

function shaderFile(name: string): string {
  if (name === 'constants') return wgslConstants();
  const src = WGSL[name];
  if (src === undefined) throw new Error(`no shader named ${name}.wgsl in shaders/`);
  return src;
}

export function shaderSource(name: string): string {
  let src = cache.get(name);
  if (src === undefined) {
    const seen = new Set<string>([name]);
    const expand = (text: string): string =>
      text.replace(/^\/\/#include "([\w-]+)\.wgsl"\s*$/gm, (_, inc: string) => {
        if (seen.has(inc)) return '';
        seen.add(inc);
        return expand(shaderFile(inc));
      });
    src = expand(shaderFile(name));
    cache.set(name, src);
  }
  return src;
}
