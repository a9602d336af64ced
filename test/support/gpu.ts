// The real WebGPU adapter for tests (SwiftShader on a machine without a GPU). If none can
// be had the tests fail here, loudly: a GPU test never skips itself to green.
import { acquireGpu, type GpuContext } from '../../src/backend/webgpu/device.ts';
import { WebGpuBackend } from '../../src/backend/webgpu/webgpu-backend.ts';

let ctx: Promise<GpuContext> | undefined;

export function gpu(): Promise<GpuContext> {
  ctx ??= acquireGpu();
  return ctx;
}

export async function gpuBackend(): Promise<WebGpuBackend> {
  return new WebGpuBackend(await gpu());
}
