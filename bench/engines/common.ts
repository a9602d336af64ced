// What every engine of the benchmark implements, and what they share: the batch and the
// initial weights as plain arrays (so every library starts from rectigrad's seeded
// initialisation), and WebGPU discovery for the peers in Node.
import { webgpuEntry } from '../../src/backend/webgpu/device.ts';

/** In Node (the bench's Node agent registers Dawn), not in the bench page. */
export const isNode = typeof process !== 'undefined' && !!process.versions?.node;
import { paramLayout } from '../../src/model/layout.ts';
import { Rng } from '../../src/util/rng.ts';
import {
  cellParams,
  fromBase64,
  type AdapterInfo,
  type Cell,
  type CpuPath,
  type EngineInfo,
  type MatmulCell,
  type MeasureResult,
  type TrainCell,
  type Variant,
} from '../spec.ts';

export interface Session {
  info: EngineInfo;
  /** Build the model (or operands) on the engine and run the first step: the clock runs around this. */
  first(): Promise<{ loss?: number; check?: number }>;
  /**
   * From the initial weights, `steps` timed steps of one variant (the session times
   * itself); with `after`, one more untimed step then reads the loss the timed steps left.
   * `cpuPath`: rectigrad-cpu's sparse ('auto') or dense ('off') path (the sparse workload).
   */
  measure(variant: Variant, steps: number, after?: boolean, cpuPath?: CpuPath): Promise<MeasureResult>;
  /** GPU ms per step by op group for a few steps, where the engine can tell. */
  profile?(variant: Variant, steps: number): Promise<Record<string, number> | undefined>;
  dispose(): void;
}

/**
 * Files the peers load at run time, located by the host: tfjs-backend-wasm's binaries
 * (a directory URL ending in '/', or a map from file name to URL).
 */
export const assets: { tfjsWasm?: string | Record<string, string> } = {};

export type SessionFactory = (cell: Cell) => Promise<Session>;

export const now = () => performance.now();

/** The batch as floats (batch × features) and labels. */
export function batchArrays(c: TrainCell): { x: Float32Array; labels: Int32Array } {
  const px = fromBase64(c.pixels);
  const x = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) x[i] = px[i] * c.scale + c.shift;
  return { x, labels: Int32Array.from(c.labels) };
}

/** rectigrad's initial weights per layer (the cell's: see cellParams), W as [inputs × outputs] row-major (x·W), b as [outputs]. */
export function layerParams(c: TrainCell): { inputs: number; outputs: number; w: Float32Array; b: Float32Array }[] {
  const flat = cellParams(c);
  return paramLayout(c.model).layers.map((l) => {
    const w = new Float32Array(l.inputs * l.outputs);
    // rectigrad stores W as [outputs × inputs] (z = x·Wᵀ): transpose into the usual x·W form.
    for (let o = 0; o < l.outputs; o++) {
      const row = l.weight + o * l.inputs;
      for (let i = 0; i < l.inputs; i++) w[i * l.outputs + o] = flat[row + i];
    }
    return { inputs: l.inputs, outputs: l.outputs, w, b: flat.slice(l.bias, l.bias + l.outputs) };
  });
}

/** The matmul operands: A and B, each size × size, uniform in [-1, 1). */
export function matmulOperands(c: MatmulCell): { a: Float32Array; b: Float32Array } {
  const rng = new Rng(c.seed);
  const n = c.size * c.size;
  return { a: rng.fill(n), b: rng.fill(n) };
}

/** Sum of the first row of a row-major n × n result. */
export const firstRowSum = (c: ArrayLike<number>, n: number) => {
  let s = 0;
  for (let j = 0; j < n; j++) s += c[j];
  return s;
};

/**
 * navigator.gpu for libraries that look for it (the peers' WebGPU backends): the browser's
 * own, or in Node Dawn's, found the way rectigrad finds it. Must run before such a
 * library is imported. Undefined where there is no WebGPU.
 */
export async function ensureNavigatorGpu(): Promise<GPU | undefined> {
  const g = globalThis as { navigator?: Navigator & { gpu?: GPU } };
  if (g.navigator?.gpu) return g.navigator.gpu;
  if (!isNode) return undefined;
  const gpu = await webgpuEntry();
  if (!gpu) return undefined;
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: (await import('node:os')).availableParallelism() },
      configurable: true,
      writable: true,
    });
  }
  return gpu;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|warp|software|microsoft basic/i;

/** The adapter a library in this context gets (what `requestAdapter` answers here). */
export async function gpuAdapterInfo(): Promise<AdapterInfo> {
  const gpu = await ensureNavigatorGpu();
  const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { kind: 'gpu', vendor: '', architecture: '', description: 'no WebGPU adapter', isFallback: false };
  return adapterInfoOf(adapter.info, (adapter.info as { isFallbackAdapter?: boolean })?.isFallbackAdapter);
}

export function adapterInfoOf(info: GPUAdapterInfo | undefined, fallbackFlag?: boolean): AdapterInfo {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description || info?.device || '';
  const isFallback = fallbackFlag === true || SOFTWARE.test(`${vendor} ${architecture} ${description} ${info?.device ?? ''}`);
  return { kind: 'gpu', vendor, architecture, description, isFallback };
}

/** Where this engine runs: Node's version or the browser's user agent. */
export function runtimeVersion(): Record<string, string> {
  if (isNode) return { node: process.versions.node };
  const ua = navigator.userAgent;
  const m = /(HeadlessChrome|Chrome|Chromium)\/([\d.]+)/.exec(ua);
  return { browser: m ? `${m[1]} ${m[2]}` : ua };
}

export const cpuThreads = () => (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1;
