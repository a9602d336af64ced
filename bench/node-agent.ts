// A benchmark engine in its own Node process (started by the orchestrator with
// child_process.fork): answers requests from the parent over IPC until told to exit.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setGpuProvider } from '../src/backend/webgpu/device.ts';
import { nodeGpuProvider } from '../src/backend/webgpu/node-gpu.ts';
import { handle, warmUp, type AgentRequest } from './agent.ts';
import { assets } from './engines/common.ts';
import type { EngineKind } from './spec.ts';

interface Message {
  id: number;
  req: AgentRequest | { op: 'exit' } | { op: 'load'; engine: EngineKind };
}

setGpuProvider(nodeGpuProvider);

const require = createRequire(import.meta.url);
try {
  assets.tfjsWasm = pathToFileURL(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')).href + '/';
} catch {
  /* not installed: the tfjs-wasm engine says so when asked */
}

process.on('message', async (m: Message) => {
  if (m.req.op === 'exit') {
    process.send!({ id: m.id, ok: true, result: null }, () => process.exit(0));
    return;
  }
  try {
    const result = m.req.op === 'load' ? await warmUp(m.req.engine) : await handle(m.req);
    process.send!({ id: m.id, ok: true, result });
  } catch (e) {
    process.send!({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
process.send!({ ready: true });
