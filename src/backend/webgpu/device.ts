// Finding a WebGPU adapter and device: navigator.gpu in a browser; in Node, the GPU of a
// registered provider (Dawn: src/node.ts registers it, so nothing of Dawn reaches a
// browser bundle).

/** Supplies WebGPU where there is no navigator.gpu. */
export interface GpuProvider {
  gpu(): Promise<GPU | undefined>;
  /**
   * Waits on GPU promises (Dawn in Node needs a wait that does not starve its threads).
   * `software`: the adapter computes on the CPU's cores, so the wait should give them up.
   */
  wait<T>(p: Promise<T>, software: boolean): Promise<T>;
}

let provider: GpuProvider | undefined;

/** Register the WebGPU of an environment without navigator.gpu (Node: Dawn). */
export function setGpuProvider(p: GpuProvider | undefined): void {
  provider = p;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software adapter (SwiftShader, WARP, lavapipe): correct, but slower than the CPU. */
  isFallback: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** Timestamp queries are available on this device. */
  timestamps: boolean;
  /** Node only: a wait that does not starve software adapters' worker threads. */
  wait<T>(p: Promise<T>): Promise<T>;
}

function describe(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  const isFallback =
    (info as { isFallbackAdapter?: boolean })?.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|warp|software|microsoft basic/.test(text);
  return { vendor, architecture, device, description, isFallback };
}

export function adapterName(a: AdapterDescription): string {
  const parts = [a.vendor, a.architecture, a.description || a.device].filter(Boolean);
  return (parts.join(' / ') || 'unknown adapter') + (a.isFallback ? ' (software fallback)' : '');
}

export class GpuUnavailableError extends Error {}

/** The WebGPU entry object here: navigator.gpu, or the registered provider's; undefined if none. */
export async function webgpuEntry(): Promise<GPU | undefined> {
  if (typeof navigator !== 'undefined' && (navigator as Navigator).gpu) return (navigator as Navigator).gpu;
  return provider ? provider.gpu() : undefined;
}

export async function acquireGpu(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  const gpu = await webgpuEntry();
  if (!gpu) {
    throw new GpuUnavailableError(
      'WebGPU is not available here: there is no navigator.gpu. In a browser use a WebGPU-capable one ' +
        "(Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu); in Node import 'rectigrad' (its Node entry brings Dawn); or use the CPU backend.",
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new GpuUnavailableError(
      'No WebGPU adapter was found. In Node on Linux without a GPU driver, install a Vulkan driver ' +
        '(`apt-get install chromium libvulkan1` ships SwiftShader) or set VK_ICD_FILENAMES; or use --backend cpu.',
    );
  }
  // Ask for everything the adapter offers: the defaults (128 MiB per binding, 16 KiB of
  // workgroup storage) are far below what real adapters and SwiftShader support.
  const requiredLimits: Record<string, number> = {};
  for (const key of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ] as const) {
    const v = adapter.limits[key];
    if (typeof v === 'number') requiredLimits[key] = v;
  }
  const timestamps = adapter.features.has('timestamp-query');
  const requiredFeatures: GPUFeatureName[] = [];
  if (timestamps) requiredFeatures.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const desc = describe(adapter);
  const waitOn = provider?.wait;
  return {
    device,
    adapter: desc,
    timestamps,
    wait: waitOn ? (p) => waitOn(p, desc.isFallback) : (p) => p,
  };
}
