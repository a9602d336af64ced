// The page's state in one object: what was found (adapter, data), the runs and their
// training loops, and the flags the buttons and the test hook read.
import type { Dataset } from '../src/index.ts';
import { IDS } from './dom.ts';
import type { Run, RunId } from './run.ts';

export interface GpuStatus {
  available: boolean;
  adapter?: string;
  fallback?: boolean;
  reason?: string;
}

export const page = {
  gpu: { available: false, reason: 'not probed yet' } as GpuStatus,
  data: undefined as { train: Dataset; test: Dataset } | undefined,
  /** MNIST loaded and the adapter probed. */
  ready: false,
  runs: {} as Partial<Record<RunId, Run>>,
  /** One training loop per run while training. */
  loops: [] as Promise<void>[],
  stopRequested: false,
  /** Aborts the loops (Pause): each stops after its worker's current step. */
  stopper: new AbortController(),
  /** Building runs, loading a checkpoint or resetting. */
  busy: false,
  /** Something changed that the charts or the status should show. */
  dirty: true,
  /** Step whose weights each run's canvas shows (-1: none yet). */
  drawnWeights: { A: -1, B: -1 } as Record<RunId, number>,
  lastSaved: {} as Partial<Record<RunId, { name: string; step: number; bytes: number }>>,
  loadedFrom: {} as Partial<Record<RunId, { name: string; step: number }>>,
  lastLoadError: undefined as string | undefined,
  /** The trained network offered by the page (trained.ts): loading it, measuring it, done. */
  trained: { state: 'idle' } as { state: 'idle' | 'loading' | 'measuring' | 'done' | 'error'; error?: string },
};

export const presentRuns = () => IDS.map((id) => page.runs[id]).filter((r): r is Run => !!r);
export const running = () => page.loops.length > 0;
