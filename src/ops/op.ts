// The op contract shared by both backends.
//
// An op is one WGSL entry point (shaders/<shader>.wgsl) plus its CPU twin. A plan step
// names the op, its compile-time constants (WGSL `override`s: every shape is baked into
// the pipeline) and which region of which arena each binding sees. The WebGPU backend
// reads the binding list and types from the shader itself (wgsl_reflect); the CPU twin
// receives the same regions as typed-array views, so a GPU op and its twin are run and
// compared through the very same plan step.

/** Float storage of the CPU backend: float32 normally, float64 for gradient checks. */
export type FloatArray = Float32Array | Float64Array;

/** A region of an arena as the CPU twin sees it. `u32` aliases `f` in float32 mode. */
export interface View {
  f: FloatArray;
  u: Uint32Array;
}

/** Values that change every step (written to a small uniform buffer before each step). */
export interface StepValues {
  /** Learning rate for this step. */
  lr: number;
  /** 1-based optimiser step count (Adam bias correction). */
  t: number;
  /** Index of the first example of this batch in the epoch's permutation. */
  batchStart: number;
}

export type Constants = Record<string, number>;

/** Where a binding points: `length` elements (4 bytes each) from element `offset`. */
export interface BufRange {
  arena: string;
  offset: number;
  length: number;
}

/** Which family an op belongs to, for per-group GPU timing. */
export type OpGroup = 'data' | 'matmul' | 'elementwise' | 'loss' | 'reduce' | 'optimizer';

export interface PlanStep {
  op: OpDef;
  label: string;
  constants: Constants;
  bindings: Record<string, BufRange>;
  /** Workgroups in x, y, z. */
  dispatch: [number, number, number];
}

export interface OpDef {
  /** File name in shaders/ without extension. */
  shader: string;
  /** Compute entry point. */
  entry: string;
  group: OpGroup;
  /** The CPU twin: same constants, same bindings (by WGSL variable name). */
  cpu(c: Constants, b: Record<string, View>, step: StepValues): void;
}

/** Zero a region before the steps that follow (GPU: encoder.clearBuffer). */
export interface ClearItem {
  clear: BufRange;
}

/** One entry of a plan: an op to run, or a region to zero. */
export type PlanItem = PlanStep | ClearItem;
export const isClear = (i: PlanItem): i is ClearItem => 'clear' in i;

export const ceilDiv = (a: number, b: number) => Math.floor((a + b - 1) / b);

/** WebGPU's guaranteed limit on workgroups per dispatch dimension. */
export const MAX_WORKGROUPS = 65535;

/**
 * Dispatch of the elementwise kernels: workgroups of 256 threads, at most MAX_WORKGROUPS of
 * them, each thread looping over the elements i = gid.x + k · (workgroups · 256).
 */
export const gridStride = (count: number): [number, number, number] => [Math.min(MAX_WORKGROUPS, Math.max(1, ceilDiv(count, 256))), 1, 1];
