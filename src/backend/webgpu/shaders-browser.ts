// WGSL sources in the browser: bundled by Vite from the project's shaders/ folder.
const files = import.meta.glob('../../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

export function shaderFile(name: string): string {
  const src = files[`../../../shaders/${name}.wgsl`];
  if (src === undefined) throw new Error(`no shader named ${name}.wgsl in shaders/`);
  return src;
}
