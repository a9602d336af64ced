// The bench page: one engine per tab, driven by the orchestrator through puppeteer
// (window.benchAgent.handle(request)). Built by Vite (bench/hosts.ts) with
// rectigrad and the peers; each engine's library loads only in the tab that runs it, on
// the page's main thread or, for rectigrad's CPU backend, in a worker (agent-worker.ts).
import tfjsWasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import tfjsWasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import tfjsWasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import { handle, warmUp, type AgentRequest } from '../agent.ts';
import { assets } from '../engines/common.ts';
import type { EngineKind } from '../spec.ts';
import type { WorkerReply, WorkerRequest } from './agent-worker.ts';

assets.tfjsWasm = {
  'tfjs-backend-wasm.wasm': tfjsWasm,
  'tfjs-backend-wasm-simd.wasm': tfjsWasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': tfjsWasmThreaded,
};

const status = document.getElementById('status')!;

/** Engines that run in the page's worker (agent-worker.ts): rectigrad's CPU backend gets its threads only there. */
const IN_WORKER: readonly EngineKind[] = ['rectigrad-cpu'];

/** The worker of this tab's engine, when it runs in one: requests are forwarded to it. */
function startWorker() {
  const worker = new Worker(new URL('./agent-worker.ts', import.meta.url), { type: 'module', name: 'bench engine' });
  const waiting = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  let next = 0;
  worker.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
    const w = waiting.get(data.id);
    waiting.delete(data.id);
    if ('error' in data) w?.fail(new Error(data.error));
    else w?.ok(data.value);
  };
  worker.onerror = (e) => {
    for (const w of waiting.values()) w.fail(new Error(`the engine's worker failed: ${e.message}`));
    waiting.clear();
  };
  return (message: Omit<WorkerRequest, 'id'>): Promise<unknown> =>
    new Promise((ok, fail) => {
      const id = next++;
      waiting.set(id, { ok, fail });
      worker.postMessage({ id, ...message } as WorkerRequest);
    });
}

let inWorker: ReturnType<typeof startWorker> | undefined;

const agent = {
  async load(engine: EngineKind) {
    if (IN_WORKER.includes(engine)) {
      inWorker = startWorker();
      await inWorker({ load: engine });
    } else await warmUp(engine);
    status.textContent = `${engine} loaded${inWorker ? ' in a worker' : ''} (cross-origin isolated: ${self.crossOriginIsolated})`;
  },
  async handle(req: AgentRequest) {
    status.textContent = `${req.op} ${req.session}`;
    return inWorker ? (inWorker({ request: req }) as ReturnType<typeof handle>) : handle(req);
  },
};

(window as unknown as { benchAgent: typeof agent }).benchAgent = agent;
status.textContent = `ready (cross-origin isolated: ${self.crossOriginIsolated})`;
