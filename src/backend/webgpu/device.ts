// Finding a WebGPU adapter and device, in a browser or in Node (Dawn via the `webgpu`
// package). On a Linux machine without a GPU driver Dawn sees no adapter unless a Vulkan
// driver is named: Debian's chromium ships SwiftShader, which we point at by ourselves.

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

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

// Dawn's Node binding must stay referenced for the life of every device it made:
// when it is garbage-collected the process crashes or GPU promises never resolve.
let dawn: { gpu: GPU; icd: string | undefined } | undefined;

async function nodeGpu(): Promise<GPU> {
  if (dawn) return dawn.gpu;
  const fs = await import('node:fs');
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]) as GPU;
  dawn = { gpu, icd: process.env.VK_ICD_FILENAMES };
  // A first probe without naming a driver; if nothing comes up, name SwiftShader and
  // make a fresh instance (the variable is read at instance creation).
  const probe = await gpu.requestAdapter();
  if (probe || process.env.VK_ICD_FILENAMES) return gpu;
  const icd = SWIFTSHADER_ICDS.find((p) => fs.existsSync(p));
  if (!icd) return gpu;
  process.env.VK_ICD_FILENAMES = icd;
  const gpu2 = create([]) as GPU;
  dawn = { gpu: gpu2, icd };
  (dawn as { first?: GPU }).first = gpu; // keep the first instance alive too
  return gpu2;
}

function describe(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  const isFallback =
    (info as { isFallbackAdapter?: boolean })?.isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|warp|software|microsoft basic/.test(text);
  return { vendor, architecture, device, description, isFallback };
}

export function adapterName(a: AdapterDescription): string {
  const parts = [a.vendor, a.architecture, a.description || a.device].filter(Boolean);
  return (parts.join(' / ') || 'unknown adapter') + (a.isFallback ? ' (software fallback)' : '');
}

/** Spin briefly, then sleep in short slices while Dawn's own poll loop runs. */
function nodeWait<T>(p: Promise<T>): Promise<T> {
  // dawn.node polls the device from the main thread for as long as any GPU promise is
  // pending (one tick per event-loop turn). Left alone that loop takes most of a core and
  // starves SwiftShader's worker threads; sleeping a little between turns frees it.
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const spinUntil = performance.now() + 0.25;
  return (async () => {
    while (!settled) {
      await new Promise<void>((r) => setImmediate(r));
      if (!settled && performance.now() > spinUntil) Atomics.wait(cell, 0, 0, 0.3);
    }
    return p;
  })();
}

export class GpuUnavailableError extends Error {}

export async function acquireGpu(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
  let gpu: GPU | undefined;
  if (typeof navigator !== 'undefined' && (navigator as Navigator).gpu) gpu = (navigator as Navigator).gpu;
  else if (isNode) gpu = await nodeGpu();
  if (!gpu) {
    throw new GpuUnavailableError(
      'WebGPU is not available here: this browser exposes no navigator.gpu. ' +
        'Use a WebGPU-capable browser (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu) or the CPU backend.',
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
  return {
    device,
    adapter: desc,
    timestamps,
    wait: isNode ? nodeWait : (p) => p,
  };
}
