// The engine side of the benchmark: one agent per engine, in a Node child process or a
// Chromium page, answering the orchestrator's requests. Each engine runs alone in its
// process or page, so libraries with global state (tfjs's backend, jax-js's default
// device) never share one.
import type { Cell, CpuPath, EngineKind, MeasureResult, OpenResult, Variant } from './spec.ts';
import { now, type Session } from './engines/common.ts';

export type AgentRequest =
  | { op: 'open'; session: string; engine: EngineKind | 'pytorch-cpu'; cell: Cell }
  | { op: 'measure'; session: string; variant: Variant; steps: number; after?: boolean; cpuPath?: CpuPath }
  | { op: 'profile'; session: string; variant: Variant; steps: number }
  | { op: 'close'; session: string };

export type AgentResponse = OpenResult | MeasureResult | Record<string, number> | undefined | null;

const sessions = new Map<string, Session>();

async function create(engine: EngineKind | 'pytorch-cpu', cell: Cell): Promise<Session> {
  switch (engine) {
    case 'pytorch-cpu':
      throw new Error('PyTorch runs in its own Python process (bench/pytorch-agent.py), not in a JavaScript agent');
    case 'rectigrad-cpu':
    case 'rectigrad-webgpu':
      return (await import('./engines/rectigrad.ts')).rectigradSession(engine === 'rectigrad-cpu' ? 'cpu' : 'webgpu', cell);
    case 'tfjs-cpu':
    case 'tfjs-wasm':
    case 'tfjs-webgpu':
      return (await import('./engines/tfjs.ts')).tfjsSession(engine.slice(5) as 'cpu' | 'wasm' | 'webgpu', cell);
    case 'jax-wasm':
    case 'jax-webgpu':
      return (await import('./engines/jax.ts')).jaxSession(engine.slice(4) as 'wasm' | 'webgpu', cell);
  }
}

/** Loads the engine's library ahead of the first step (its import is not a step's cost). */
export async function warmUp(engine: EngineKind): Promise<void> {
  if (engine.startsWith('tfjs')) await import('./engines/tfjs.ts');
  else if (engine.startsWith('jax')) await import('./engines/jax.ts');
  else await import('./engines/rectigrad.ts');
}

export async function handle(req: AgentRequest): Promise<AgentResponse> {
  switch (req.op) {
    case 'open': {
      if (sessions.has(req.session)) throw new Error(`session ${req.session} is already open`);
      const t0 = now();
      const s = await create(req.engine, req.cell);
      // Library start-up (module import, device request) is not part of the first step.
      const t1 = now();
      const r = await s.first();
      const firstStepMs = now() - t1;
      sessions.set(req.session, s);
      return { info: { ...s.info, notes: [...(s.info.notes ?? []), `set-up ${(t1 - t0).toFixed(0)} ms`] }, firstStepMs, ...r };
    }
    case 'measure':
      return get(req.session).measure(req.variant, req.steps, req.after, req.cpuPath);
    case 'profile': {
      const s = get(req.session);
      return s.profile ? ((await s.profile(req.variant, req.steps)) ?? null) : null;
    }
    case 'close':
      sessions.get(req.session)?.dispose();
      sessions.delete(req.session);
      return null;
  }
}

function get(id: string): Session {
  const s = sessions.get(id);
  if (!s) throw new Error(`no open session ${id}`);
  return s;
}
