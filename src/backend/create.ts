// Choosing a backend. `auto` takes WebGPU only on a real (hardware) adapter: a software
// adapter such as SwiftShader is far slower than the CPU backend, so auto falls back to
// the CPU and says so; `webgpu` forces WebGPU on whatever adapter there is.
import type { Backend } from './backend.ts';
import { CpuBackend, type CpuBackendOptions } from './cpu/cpu-backend.ts';
import { acquireGpu, adapterName, GpuUnavailableError } from './webgpu/device.ts';
import { WebGpuBackend } from './webgpu/webgpu-backend.ts';

export const BACKENDS = ['auto', 'webgpu', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface CreatedBackend {
  backend: Backend;
  /** One line saying which backend and adapter were chosen, and why. */
  note: string;
}

export interface CreateBackendOptions {
  /** Options of the CPU backend, when that is the one created (sparse path, threads, …). */
  cpu?: CpuBackendOptions;
}

export async function createBackend(choice: BackendChoice = 'auto', opts: CreateBackendOptions = {}): Promise<CreatedBackend> {
  if (!BACKENDS.includes(choice)) throw new Error(`unknown backend "${choice}": use auto, webgpu or cpu`);
  const cpu = () => new CpuBackend('float32', opts.cpu);
  // Why the CPU backend runs on one thread, when it does for want of threads here.
  const threads = (b: CpuBackend) => (b.threadNote ? `; ${b.threadNote}` : '');
  if (choice === 'cpu') {
    const backend = cpu();
    return { backend, note: `backend: cpu — ${backend.adapter}${threads(backend)}` };
  }
  try {
    const ctx = await acquireGpu();
    if (choice === 'auto' && ctx.adapter.isFallback) {
      ctx.device.destroy();
      const backend = cpu();
      return {
        backend,
        note:
          `backend: cpu — the only WebGPU adapter is ${adapterName(ctx.adapter)}, slower than the CPU here ` +
          `(--backend webgpu uses it anyway)${threads(backend)}`,
      };
    }
    const backend = new WebGpuBackend(ctx);
    return { backend, note: `backend: webgpu — ${backend.adapter}` };
  } catch (e) {
    if (choice === 'auto' && e instanceof GpuUnavailableError) {
      const backend = cpu();
      return { backend, note: `backend: cpu — no WebGPU adapter (${e.message.split(':')[0]})${threads(backend)}` };
    }
    throw e;
  }
}
