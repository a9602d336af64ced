// Sums of squares of buffer segments (gradient and delta norms): plan builder and CPU twin
// of shaders/sumsq.wgsl.
import type { BufRange, OpDef, PlanStep } from './op.ts';

/** One segment: `length` elements from `offset` (relative to the x binding) → stats[slot]. */
export interface Segment {
  offset: number;
  length: number;
  slot: number;
}

/** The u32 table the kernel reads: (offset, length, slot) per segment. */
export function segmentTable(segments: Segment[]): Uint32Array {
  const t = new Uint32Array(segments.length * 3);
  segments.forEach(({ offset, length, slot }, i) => {
    for (const [name, v] of [
      ['offset', offset],
      ['length', length],
      ['slot', slot],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`segment ${i}: ${name} ${v} is not a u32`);
    }
    t[3 * i] = offset;
    t[3 * i + 1] = length;
    t[3 * i + 2] = slot;
  });
  return t;
}

export const sumsqOp: OpDef = {
  shader: 'sumsq',
  entry: 'main',
  group: 'reduce',
  cpu({ SEGMENTS }, { x, segs, stats }) {
    const xf = x.f;
    const t = segs.u;
    for (let s = 0; s < SEGMENTS; s++) {
      const offset = t[3 * s];
      const end = offset + t[3 * s + 1];
      let sum = 0;
      for (let k = offset; k < end; k++) {
        const v = xf[k];
        sum += v * v;
      }
      stats.f[t[3 * s + 2]] = sum;
    }
  },
};

/**
 * stats[slot] = Σ x[offset .. offset + length)² for each of `segments` (offset, length,
 * slot) triples in `segs` (see segmentTable); the sum is an f32 (its bits on the GPU),
 * written, not added. One workgroup per segment, deterministic. `x` must not share an
 * arena with `stats` (read-only next to read_write).
 */
export function sumsq(label: string, segments: number, io: { x: BufRange; segs: BufRange; stats: BufRange }): PlanStep {
  if (segments < 1 || segments > 65535) throw new Error(`${label}: ${segments} segments; one dispatch takes 1 to 65535`);
  if (io.segs.length < 3 * segments) throw new Error(`${label}: the segment table holds ${io.segs.length} words, ${3 * segments} needed`);
  return {
    op: sumsqOp,
    label,
    constants: { SEGMENTS: segments },
    bindings: { x: io.x, segs: io.segs, stats: io.stats },
    dispatch: [segments, 1, 1],
  };
}
