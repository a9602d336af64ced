// In a browser WebGPU comes from navigator.gpu; nothing of Node's Dawn is bundled.
export const isNode = false;

export async function nodeGpu(): Promise<GPU | undefined> {
  return undefined;
}

export function nodeWait<T>(p: Promise<T>): Promise<T> {
  return p;
}
