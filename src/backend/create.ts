// Choosing a backend. `auto` takes WebGPU only on a real (hardware) adapter: a software
// adapter such as SwiftShader is far slower than the CPU backend, so auto falls back to
// the CPU and says so; `webgpu` forces WebGPU on whatever adapter there is.
import type { Backend } from './backend.ts';
import { CpuBackend } from './cpu/cpu-backend.ts';
import { acquireGpu, adapterName, GpuUnavailableError } from './webgpu/device.ts';
import { WebGpuBackend } from './webgpu/webgpu-backend.ts';

export const BACKENDS = ['auto', 'webgpu', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface CreatedBackend {
  backend: Backend;
  /** One line saying which backend and adapter were chosen, and why. */
  note: string;
}

export async function createBackend(choice: BackendChoice = 'auto'): Promise<CreatedBackend> {
  if (!BACKENDS.includes(choice)) throw new Error(`unknown backend "${choice}": use auto, webgpu or cpu`);
  if (choice === 'cpu') {
    const backend = new CpuBackend();
    return { backend, note: `backend: cpu — ${backend.adapter}` };
  }
  try {
    const ctx = await acquireGpu();
    if (choice === 'auto' && ctx.adapter.isFallback) {
      ctx.device.destroy();
      const backend = new CpuBackend();
      return {
        backend,
        note: `backend: cpu — the only WebGPU adapter is ${adapterName(ctx.adapter)}, slower than the CPU here ` + `(--backend webgpu uses it anyway)`,
      };
    }
    const backend = new WebGpuBackend(ctx);
    return { backend, note: `backend: webgpu — ${backend.adapter}` };
  } catch (e) {
    if (choice === 'auto' && e instanceof GpuUnavailableError) {
      const backend = new CpuBackend();
      return { backend, note: `backend: cpu — no WebGPU adapter (${e.message.split(':')[0]})` };
    }
    throw e;
  }
}
