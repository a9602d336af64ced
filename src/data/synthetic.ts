// A seeded synthetic classification set in the same u8 form as MNIST: each class is a
// random prototype image; examples are the prototype plus noise. Learnable, never
// all-zero, and centred (inputs roughly in [-1, 1]) so rectifier sparsity at init is ~50%.
import { Rng } from '../util/rng.ts';
import type { PixelDataset } from './dataset.ts';

export interface SyntheticOptions {
  examples?: number;
  features?: number;
  classes?: number;
  /** Pixel noise amplitude (0–255 scale). */
  noise?: number;
  seed?: number;
  /** Train and test share the class prototypes and differ in their examples. */
  split?: 'train' | 'test';
}

export function syntheticDataset(o: SyntheticOptions = {}): PixelDataset {
  const examples = o.examples ?? 4096;
  const features = o.features ?? 64;
  const classes = o.classes ?? 10;
  const noise = o.noise ?? 96;
  const seed = o.seed ?? 12345;
  const protoRng = new Rng(seed);
  const protos = new Float64Array(classes * features);
  for (let i = 0; i < protos.length; i++) protos[i] = protoRng.uniform(32, 224);
  const rng = o.split === 'test' ? new Rng(seed ^ 0x5eed7e57) : protoRng;
  const images = new Uint8Array(examples * features);
  const labels = new Uint8Array(examples);
  for (let e = 0; e < examples; e++) {
    const c = rng.int(classes);
    labels[e] = c;
    for (let k = 0; k < features; k++) {
      const v = protos[c * features + k] + noise * (rng.next() - 0.5) * 2;
      images[e * features + k] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { name: `synthetic${o.split ? ` ${o.split}` : ''}`, examples, features, classes, images, labels, scale: 1 / 128, shift: -1 };
}
