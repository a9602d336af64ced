// The bench page: one engine per tab, driven by the orchestrator through puppeteer
// (window.benchAgent.handle(request)). Built by Vite (bench/hosts.ts) with
// rectigrad and the peers; each engine's library loads only in the tab that runs it.
import tfjsWasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import tfjsWasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import tfjsWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import { handle, warmUp, type AgentRequest } from '../agent.ts';
import { assets } from '../engines/common.ts';
import type { EngineKind } from '../spec.ts';

assets.tfjsWasm = {
  'tfjs-backend-wasm.wasm': tfjsWasm,
  'tfjs-backend-wasm-simd.wasm': tfjsWasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': tfjsWasmThreaded,
};

const status = document.getElementById('status')!;

const agent = {
  async load(engine: EngineKind) {
    await warmUp(engine);
    status.textContent = `${engine} loaded (cross-origin isolated: ${self.crossOriginIsolated})`;
  },
  async handle(req: AgentRequest) {
    status.textContent = `${req.op} ${req.session}`;
    return handle(req);
  },
};

(window as unknown as { benchAgent: typeof agent }).benchAgent = agent;
status.textContent = `ready (cross-origin isolated: ${self.crossOriginIsolated})`;
