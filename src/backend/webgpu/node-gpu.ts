// WebGPU in Node: Dawn from the `webgpu` package. On a Linux machine without a GPU driver
// Dawn sees no adapter unless a Vulkan driver is named: Debian's chromium ships
// SwiftShader, which we point at by ourselves when nothing else comes up.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GpuUnavailableError, type GpuProvider } from './device.ts';

const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];

// Dawn's toggles for every device: timestamp queries at full resolution. Dawn rounds
// timestamps to a coarse quantum by default (a fingerprinting guard for the web), which
// makes short passes read as 0 ms; the `webgpu` package passes toggles through create()'s
// flags (its README), which apply to each device's descriptor.
const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

// Dawn's binding must stay referenced for the life of every device it made: when it is
// garbage-collected the process crashes or GPU promises never resolve (the webgpu package's
// README, "Lifetime"; dawn-gpu/node-webgpu#18). This can go when dropping the GPU object no
// longer tears down devices still in use.
const instances: GPU[] = [];

/** Where the Vulkan loader looks for installed drivers (ICD manifests) on Linux. */
function icdDirs(): string[] {
  const xdg = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':').filter(Boolean);
  return [...new Set(['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', ...xdg.map((d) => join(d, 'vulkan/icd.d'))])];
}

function hasInstalledIcd(): boolean {
  return icdDirs().some((d) => {
    try {
      return readdirSync(d).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

/**
 * With no Vulkan driver installed, Dawn's first instance makes the loader print
 * "vkCreateInstance: Found no drivers!" and a build-machine stack line to stderr (past
 * --quiet). So when no driver manifest is installed and nobody named one, name
 * SwiftShader before the first instance exists.
 */
function preferSwiftShaderWhenNoDriver(): void {
  if (process.platform !== 'linux' || process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return;
  if (hasInstalledIcd()) return;
  const icd = SWIFTSHADER_ICDS.find((p) => existsSync(p));
  if (icd) process.env.VK_ICD_FILENAMES = icd;
}

export async function nodeGpu(): Promise<GPU> {
  if (instances.length) return instances[instances.length - 1];
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (e) {
    throw new GpuUnavailableError(
      `WebGPU in Node needs the optional package "webgpu" (Dawn), which did not load (${(e as Error).message.split('\n')[0]}): npm install webgpu, or use the CPU backend`,
    );
  }
  const { create, globals } = dawn;
  Object.assign(globalThis, globals);
  preferSwiftShaderWhenNoDriver();
  const gpu = create(DAWN_FLAGS) as GPU;
  instances.push(gpu);
  // The Vulkan loader reads VK_ICD_FILENAMES when an instance is made: if no adapter
  // comes up, name SwiftShader and make a fresh instance.
  if ((await gpu.requestAdapter()) || process.env.VK_ICD_FILENAMES) return gpu;
  const icd = SWIFTSHADER_ICDS.find((p) => existsSync(p));
  if (!icd) return gpu;
  process.env.VK_ICD_FILENAMES = icd;
  const fallback = create(DAWN_FLAGS) as GPU;
  instances.push(fallback);
  return fallback;
}

/**
 * Wait on a GPU promise while Dawn's own poll loop runs. On a software adapter: spin
 * briefly, then sleep in short slices; on a hardware adapter: yield to the event loop
 * every turn and never sleep (a 0.3 ms sleep is longer than a whole small step there).
 */
export function nodeWait<T>(p: Promise<T>, software = true): Promise<T> {
  // dawn.node polls the device from the main thread for as long as any GPU promise is
  // pending (one tick per event-loop turn). Left alone that loop takes most of a core and
  // starves SwiftShader's worker threads; sleeping a little between turns frees it
  // (about 2x faster steps on SwiftShader, measured with the train command). A GPU
  // computes elsewhere: there the only cost of polling is latency, so poll every turn.
  // The busy poll is dawn.node's AsyncRunner rescheduling itself with setImmediate
  // (dawn-gpu/node-webgpu#17); the sleeping can go once dawn.node waits instead of polling.
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const spinUntil = performance.now() + 0.25;
  return (async () => {
    while (!settled) {
      await new Promise<void>((r) => setImmediate(r));
      if (software && !settled && performance.now() > spinUntil) Atomics.wait(cell, 0, 0, 0.3);
    }
    return p;
  })();
}

/** Dawn as the GPU provider of Node (registered by src/node.ts). */
export const nodeGpuProvider: GpuProvider = { gpu: nodeGpu, wait: nodeWait };
