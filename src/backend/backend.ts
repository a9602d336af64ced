// What a backend does: hold the model's arenas and run plan steps over them. The CPU
// backend (the reference) and the WebGPU backend implement the same contract, so every
// plan runs unchanged on either.
import type { BufRange, FloatArray, PlanItem, StepValues, View } from '../ops/op.ts';
import type { MatmulShape } from '../ops/matmul.ts';
import type { KernelTuning } from '../ops/tuning.ts';
import type { PlanLimits } from '../plan/limits.ts';

/** Objects a backend has created so far: constant after the first step, or it leaks. */
export interface CreationCounters {
  buffers: number;
  pipelines: number;
  bindGroups: number;
}

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  /** Human-readable description of where the arithmetic runs. */
  readonly adapter: string;
  readonly counters: CreationCounters;
  /** Kernel configurations for this backend's adapter (tile sizes baked into pipelines). */
  readonly tuning: KernelTuning;
  /**
   * Chooses kernel configurations for these matmul products by measurement, where the
   * backend does that (WebGPU on hardware adapters), before the plans that use them are made.
   */
  tune?(products: { op: string; shape: MatmulShape }[]): Promise<unknown>;
  /** What one binding, buffer and dispatch may hold here; plans are built within it (none: no limit). */
  readonly limits?: PlanLimits;
  /**
   * Create the arenas (sizes in 4-byte elements). Called once per model. `chunks` cuts an
   * arena into several buffers at these element offsets; ranges keep the arena's flat
   * offsets, and each binding must lie within one chunk.
   */
  allocate(arenas: Record<string, number>, chunks?: Record<string, number[]>): void;
  /**
   * Drops arenas no longer needed, so that arenas of the same names can be made again (a
   * model pruned during training gets a new, smaller plan). Their regions must not be used again.
   */
  free?(arenas: string[]): void;
  writeF(range: BufRange, data: ArrayLike<number>): void;
  writeU(range: BufRange, data: Uint32Array): void;
  readF(range: BufRange): Promise<FloatArray>;
  readU(range: BufRange): Promise<Uint32Array>;
  /** Compile pipelines and bind groups for these items ahead of the first run. */
  prepare(items: PlanItem[]): Promise<void>;
  /** Enqueue the items (one command buffer on the GPU). */
  run(items: PlanItem[], values: StepValues): void;
  /**
   * Copy a region now (after everything enqueued so far) and hand it over when it is
   * ready, without stalling work enqueued later: the GPU reads through a ring of
   * staging buffers.
   */
  snapshot(range: BufRange): Promise<View>;
  /** At most n snapshots of one size will be in flight (call before the first snapshot). */
  reserveSnapshots?(n: number): void;
  /** Resolves when all enqueued work has finished. */
  finish(): Promise<void>;
  destroy(): void;
}
