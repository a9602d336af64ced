// Bindings of an entry point, read from the WGSL itself: the shader is the only place a
// binding table is written.
import { ResourceType, WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { shaderSource } from './shader-source.ts';

export interface ReflectedBinding {
  name: string;
  binding: number;
  kind: 'storage' | 'read-only-storage' | 'uniform';
  /** For uniforms: byte offset and scalar type of each member, and the struct size. */
  members?: Record<string, { offset: number; type: 'f32' | 'u32' }>;
  size?: number;
}

export interface ReflectedEntry {
  source: string;
  bindings: ReflectedBinding[];
  overrides: Set<string>;
}

const cache = new Map<string, ReflectedEntry>();

export function reflectEntry(shader: string, entry: string): ReflectedEntry {
  const key = `${shader}:${entry}`;
  let r = cache.get(key);
  if (r) return r;
  const source = shaderSource(shader);
  const reflect = new WgslReflect(source);
  const fn = reflect.entry.compute.find((f) => f.name === entry);
  if (!fn) throw new Error(`shaders/${shader}.wgsl has no compute entry point named ${entry}`);
  const bindings: ReflectedBinding[] = [];
  for (const res of fn.resources) {
    if (res.group !== 0) throw new Error(`shaders/${shader}.wgsl: ${res.name} must be in @group(0)`);
    if (res.resourceType === ResourceType.Uniform) {
      const members: Record<string, { offset: number; type: 'f32' | 'u32' }> = {};
      for (const m of res.members ?? []) {
        const type = m.type.name;
        if (type !== 'f32' && type !== 'u32') throw new Error(`shaders/${shader}.wgsl: uniform member ${m.name} is ${type}; only f32 and u32 are written`);
        members[m.name] = { offset: m.offset, type };
      }
      bindings.push({ name: res.name, binding: res.binding, kind: 'uniform', members, size: res.size });
    } else if (res.resourceType === ResourceType.Storage) {
      bindings.push({
        name: res.name,
        binding: res.binding,
        kind: res.access === 'read' ? 'read-only-storage' : 'storage',
      });
    } else {
      throw new Error(`shaders/${shader}.wgsl: ${res.name} is neither storage nor uniform`);
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  r = { source, bindings, overrides: new Set(reflect.overrides.map((o) => o.name)) };
  cache.set(key, r);
  return r;
}
