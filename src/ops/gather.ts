// Gather a training batch (u8 pixels → floats, or float inputs as they are, and labels)
// by the epoch's permutation: plan builders and CPU twins of shaders/gather.wgsl and
// shaders/gather-f32.wgsl, and the byte packing the first reads.
import { gridStride, type BufRange, type OpDef, type PlanStep } from './op.ts';

export const gatherOp: OpDef = {
  shader: 'gather',
  entry: 'main',
  group: 'data',
  cpu({ ROWS, FEATURES, EXAMPLES, SCALE, SHIFT }, { images, labels, order, x, y }, step) {
    const img = images.u;
    const lab = labels.u;
    const ord = order.u;
    const xf = x.f;
    const yu = y.u;
    for (let r = 0; r < ROWS; r++) {
      const e = ord[(step.batchStart + r) % EXAMPLES];
      const src = e * FEATURES;
      const dst = r * FEATURES;
      for (let k = 0; k < FEATURES; k++) {
        const b = src + k;
        const byte = (img[b >>> 2] >>> ((b & 3) * 8)) & 0xff;
        xf[dst + k] = byte * SCALE + SHIFT;
      }
      yu[r] = lab[e];
    }
  },
};

export const gatherF32Op: OpDef = {
  shader: 'gather-f32',
  entry: 'main',
  group: 'data',
  cpu({ ROWS, FEATURES, EXAMPLES }, { images, labels, order, x, y }, step) {
    const src = images.f;
    const lab = labels.u;
    const ord = order.u;
    const xf = x.f;
    const yu = y.u;
    for (let r = 0; r < ROWS; r++) {
      const e = ord[(step.batchStart + r) % EXAMPLES];
      xf.set(src.subarray(e * FEATURES, (e + 1) * FEATURES), r * FEATURES);
      yu[r] = lab[e];
    }
  },
};

/**
 * For r < rows: e = order[(step.batchStart + r) % examples];
 * x[r·features + k] = byte(e·features + k) · scale + shift; y[r] = labels[e].
 * `images` holds the examples' bytes as packBytes writes them. With `format` 'f32' it
 * holds the examples' float inputs instead, copied as they are (scale and shift unused).
 */
export function gather(
  label: string,
  rows: number,
  features: number,
  examples: number,
  scale: number,
  shift: number,
  io: { images: BufRange; labels: BufRange; order: BufRange; x: BufRange; y: BufRange },
  format: 'u8' | 'f32' = 'u8',
): PlanStep {
  const f32 = format === 'f32';
  return {
    op: f32 ? gatherF32Op : gatherOp,
    label,
    constants: f32
      ? { ROWS: rows, FEATURES: features, EXAMPLES: examples }
      : { ROWS: rows, FEATURES: features, EXAMPLES: examples, SCALE: scale, SHIFT: shift },
    bindings: { images: io.images, labels: io.labels, order: io.order, x: io.x, y: io.y },
    dispatch: gridStride(rows * features),
  };
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Bytes packed 4 per u32, little-endian (byte i is bits 8·(i mod 4) of word i/4), zero-padded. */
export function packBytes(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(Math.ceil(bytes.length / 4));
  if (littleEndian) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) out[i >>> 2] |= bytes[i] << ((i & 3) * 8);
  }
  return out;
}
