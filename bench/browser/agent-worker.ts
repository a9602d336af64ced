// The bench page's worker: engines that need to run off the page's main thread answer the
// orchestrator's requests here. rectigrad's CPU backend starts its matmul helper threads
// only from a worker (a page's main thread may not Atomics.wait), so on the main thread
// it would run on one core while the peers use all of them.
import { handle, warmUp, type AgentRequest } from '../agent.ts';
import type { EngineKind } from '../spec.ts';

export type WorkerRequest = { id: number } & ({ load: EngineKind } | { request: AgentRequest });
export type WorkerReply = { id: number } & ({ value: unknown } | { error: string });

const scope = self as unknown as { onmessage: (e: MessageEvent<WorkerRequest>) => void; postMessage(m: WorkerReply): void };

scope.onmessage = async ({ data }) => {
  try {
    const value = 'load' in data ? await warmUp(data.load) : await handle(data.request);
    scope.postMessage({ id: data.id, value });
  } catch (e) {
    scope.postMessage({ id: data.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
};
