// rectigrad in Node: everything of the browser entry, WebGPU through Dawn (the optional
// `webgpu` package, loaded on first use), and the file helpers: MNIST, IDX directories,
// checkpoint files.
import { setGpuProvider } from './backend/webgpu/device.ts';
import { nodeGpuProvider } from './backend/webgpu/node-gpu.ts';
import { setTuningCache } from './backend/webgpu/tuning-cache.ts';
import { fileCache } from './backend/webgpu/tuning-cache-node.ts';

setGpuProvider(nodeGpuProvider);
// Measured kernel choices persist in $RECTIGRAD_CACHE_DIR (default ~/.cache/rectigrad).
setTuningCache(fileCache());

export * from './index.ts';
export { loadMnist, loadIdxSplit, mnistDir, type Split } from './data/idx-files.ts';
export { saveCheckpoint, loadCheckpoint, writeFileAtomic } from './io/checkpoint-file.ts';
