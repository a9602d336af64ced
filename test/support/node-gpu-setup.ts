// The suites run in Node: WebGPU comes from Dawn, registered exactly as the package's
// Node entry (src/node.ts) registers it.
import { setGpuProvider } from '../../src/backend/webgpu/device.ts';
import { nodeGpuProvider } from '../../src/backend/webgpu/node-gpu.ts';

setGpuProvider(nodeGpuProvider);
