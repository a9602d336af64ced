// Inverted dropout: plan builders and CPU twins of shaders/dropout.wgsl. The mask is a
// counter-based hash of (seed, step, layer, element index), never stored, so the GPU and
// the twin draw the same mask bit for bit, forward and backward, and a resumed run draws
// what the uninterrupted one did.
import { gridStride, type BufRange, type OpDef, type PlanStep } from './op.ts';

/** lowbias32 (Chris Wellons' 32-bit integer mixer), as the WGSL computes it. */
export function lowbias32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The mask's key for one step (1-based t) and layer. */
export const maskKey = (seed: number, t: number, layer: number): number => lowbias32(lowbias32(lowbias32(seed) ^ (t >>> 0)) ^ (layer >>> 0));

/** Whether element i is kept under `key` at a drop threshold of round(p · 2^24). */
export const kept = (key: number, i: number, threshold: number): boolean => lowbias32(key ^ lowbias32(i)) >>> 8 >= threshold;

/** The drop probability as the kernels compare it: an integer threshold on 24 random bits. */
export const dropThreshold = (p: number): number => Math.round(p * 2 ** 24);

/** The scale the kept values get, as the float32 kernels hold it (float64 twins: exact). */
const scaleFor = (SCALE: number, x: Float32Array | Float64Array) => (x instanceof Float32Array ? Math.fround(SCALE) : SCALE);

export const dropoutOp: OpDef = {
  shader: 'dropout',
  entry: 'main',
  group: 'elementwise',
  cpu({ COUNT, SEED, LAYER, THRESHOLD, SCALE }, { src, dst }, step) {
    const s = src.f;
    const o = dst.f;
    const scale = scaleFor(SCALE, o);
    // The kernel reads t as the f32 of the step uniform.
    const key = maskKey(SEED, Math.fround(step.t), LAYER);
    for (let i = 0; i < COUNT; i++) o[i] = kept(key, i, THRESHOLD) ? s[i] * scale : 0;
  },
};

export const dropoutBackwardOp: OpDef = {
  shader: 'dropout',
  entry: 'backward',
  group: 'elementwise',
  cpu({ COUNT, SEED, LAYER, THRESHOLD, SCALE }, { d }, step) {
    const x = d.f;
    const scale = scaleFor(SCALE, x);
    const key = maskKey(SEED, Math.fround(step.t), LAYER);
    for (let i = 0; i < COUNT; i++) x[i] = kept(key, i, THRESHOLD) ? x[i] * scale : 0;
  },
};

/** What a dropout rate must be: a finite number in [0, 1). `what` names it in the message. */
export function checkDropRate(p: unknown, what: string): number {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p >= 1)
    throw new Error(`${what} must be a drop probability in [0, 1) (0 = off; e.g. 0.5 for hidden units, 0.2 for inputs), got ${String(p)}`);
  return p;
}

interface DropoutShape {
  count: number;
  p: number;
  seed: number;
  /** Which mask: 0 for the input, h + 1 for hidden layer h (the forward and backward steps of a layer share it). */
  layer: number;
}

function constants(label: string, { count, p, seed, layer }: DropoutShape) {
  if (!Number.isInteger(count) || count < 1) throw new Error(`${label}: ${count} elements is not a positive whole number`);
  checkDropRate(p, `${label}: the drop probability`);
  if (p === 0) throw new Error(`${label}: a drop probability of 0 is no dropout: leave the step out`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`${label}: the seed must be a whole number ≥ 0, got ${seed}`);
  return { COUNT: count, SEED: seed >>> 0, LAYER: layer >>> 0, THRESHOLD: dropThreshold(p), SCALE: 1 / (1 - p) };
}

/** dst = src · mask / (1 − p) over `count` elements (src and dst in different arenas). */
export function dropoutStep(label: string, shape: DropoutShape, io: { src: BufRange; dst: BufRange }): PlanStep {
  for (const [name, r] of Object.entries(io))
    if (r.length < shape.count) throw new Error(`${label}: ${name} holds ${r.length} elements, ${shape.count} needed`);
  if (io.src.arena === io.dst.arena) throw new Error(`${label}: src and dst must be in different arenas`);
  return { op: dropoutOp, label, constants: constants(label, shape), bindings: { ...io }, dispatch: gridStride(shape.count) };
}

/** In place: d = d · mask / (1 − p), the same mask as the forward step of the same layer and step. */
export function dropoutBackwardStep(label: string, shape: DropoutShape, d: BufRange): PlanStep {
  if (d.length < shape.count) throw new Error(`${label}: d holds ${d.length} elements, ${shape.count} needed`);
  return { op: dropoutBackwardOp, label, constants: constants(label, shape), bindings: { d }, dispatch: gridStride(shape.count) };
}
