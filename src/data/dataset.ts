// A labelled set of examples as the engine holds it: either u8 pixels with the affine map
// pixel → input value (kept as u8 on the device and converted per batch, like MNIST), or
// float inputs used as they are. Labels are class indices.
import { Rng } from '../util/rng.ts';

export interface Dataset {
  name: string;
  examples: number;
  /** Values per example (784 for MNIST). */
  features: number;
  classes: number;
  /**
   * examples × features values, row-major: u8 pixels (input = pixel × scale + shift), or
   * float inputs (scale 1, shift 0).
   */
  images: Uint8Array | Float32Array;
  labels: Uint8Array | Uint32Array;
  /** input = pixel × scale + shift (u8 images only; 1 and 0 for float inputs) */
  scale: number;
  shift: number;
}

/** A dataset of u8 pixels (what the IDX reader and the synthetic sets give). */
export interface PixelDataset extends Omit<Dataset, 'images' | 'labels'> {
  images: Uint8Array;
  labels: Uint8Array;
}

/** How the dataset is held on the device: the plan's DataShape of it. */
export function dataShape(d: Dataset): { examples: number; features: number; scale: number; shift: number; format: 'u8' | 'f32' } {
  return { examples: d.examples, features: d.features, scale: d.scale, shift: d.shift, format: d.images instanceof Float32Array ? 'f32' : 'u8' };
}

/** Checks sizes, labels and (float inputs) finiteness; throws a message that names the problem. */
export function validateDataset(d: Dataset): Dataset {
  if (!(d.examples > 0)) throw new Error(`${d.name}: the dataset has no examples`);
  if (d.images.length !== d.examples * d.features) {
    const what = d.images instanceof Float32Array ? 'input values' : 'pixel bytes';
    throw new Error(`${d.name}: ${d.images.length} ${what} for ${d.examples} examples of ${d.features} values (expected ${d.examples * d.features})`);
  }
  if (d.labels.length !== d.examples) throw new Error(`${d.name}: ${d.labels.length} labels for ${d.examples} examples`);
  for (let i = 0; i < d.labels.length; i++) {
    if (d.labels[i] >= d.classes) {
      throw new Error(`${d.name}: label ${d.labels[i]} of example ${i} is out of range: the model has ${d.classes} classes (0…${d.classes - 1})`);
    }
  }
  if (!Number.isFinite(d.scale) || !Number.isFinite(d.shift)) throw new Error(`${d.name}: scale and shift must be finite`);
  if (d.images instanceof Float32Array) {
    const bad = d.images.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new Error(
        `${d.name}: input ${bad % d.features} of example ${Math.floor(bad / d.features)} is ${d.images[bad]}: every input must be a finite number`,
      );
    }
  }
  return d;
}

export interface ArraysDataset {
  /** rows × features values, row-major. Float32Array: used as they are. Uint8Array: input = byte × scale + shift. */
  inputs: Float32Array | Uint8Array;
  /** One class index per row, 0 … classes − 1. */
  labels: ArrayLike<number>;
  features: number;
  classes: number;
  name?: string;
  /** For Uint8Array inputs: input = byte × scale + shift (default 1/255 and 0: bytes to [0, 1]). */
  scale?: number;
  shift?: number;
}

/**
 * A dataset from plain arrays, checked: the input length is a whole number of rows, one
 * integer label per row within [0, classes), every float input finite. The arrays are
 * used as they are (no copy) except labels given as anything but a Uint8Array/Uint32Array.
 */
export function datasetFromArrays(a: ArraysDataset): Dataset {
  const name = a.name ?? 'dataset';
  const posInt = (v: unknown, what: string) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${name}: ${what} must be a positive whole number, got ${String(v)}`);
  };
  posInt(a.features, 'features');
  posInt(a.classes, 'classes');
  const { inputs } = a;
  if (!(inputs instanceof Float32Array || inputs instanceof Uint8Array)) {
    throw new Error(
      `${name}: inputs must be a Float32Array or a Uint8Array (rows × features values), got ${inputs === null ? 'null' : ((inputs as object)?.constructor?.name ?? typeof inputs)}`,
    );
  }
  if (inputs.length === 0 || inputs.length % a.features !== 0) {
    throw new Error(`${name}: ${inputs.length} input values are not a whole number of rows of ${a.features} features`);
  }
  const examples = inputs.length / a.features;
  if (!a.labels || typeof a.labels.length !== 'number') throw new Error(`${name}: labels must be an array of class indices, one per row`);
  if (a.labels.length !== examples) throw new Error(`${name}: ${a.labels.length} labels for ${examples} rows of inputs: give one label per row`);
  const labels =
    a.labels instanceof Uint8Array || a.labels instanceof Uint32Array ? a.labels : a.classes <= 256 ? new Uint8Array(examples) : new Uint32Array(examples);
  for (let i = 0; i < examples; i++) {
    const v = a.labels[i];
    if (!Number.isInteger(v) || v < 0 || v >= a.classes) {
      throw new Error(`${name}: label ${v} of row ${i} is not a class index: labels must be whole numbers 0…${a.classes - 1}`);
    }
    if (labels !== a.labels) labels[i] = v;
  }
  const float = inputs instanceof Float32Array;
  if (float && (a.scale !== undefined || a.shift !== undefined)) {
    throw new Error(`${name}: scale and shift apply to Uint8Array inputs only: scale float inputs before passing them`);
  }
  return validateDataset({
    name,
    examples,
    features: a.features,
    classes: a.classes,
    images: inputs,
    labels,
    scale: float ? 1 : (a.scale ?? 1 / 255),
    shift: float ? 0 : (a.shift ?? 0),
  });
}

/** The first n examples (a view, no copy). */
export function limitDataset<D extends Dataset>(d: D, n: number | undefined): D {
  if (n === undefined || n >= d.examples) return d;
  if (!(n >= 1)) throw new Error(`a limit of ${n} examples leaves nothing to train on`);
  return {
    ...d,
    examples: n,
    images: d.images.subarray(0, n * d.features),
    labels: d.labels.subarray(0, n),
  };
}

/** Examples [start, end) as their own dataset (views, no copy): e.g. a validation split. */
export function sliceDataset<D extends Dataset>(d: D, start: number, end: number, name: string): D {
  if (!(start >= 0 && end <= d.examples && start < end)) throw new Error(`${d.name}: cannot take examples ${start}…${end} of ${d.examples}`);
  return {
    ...d,
    name,
    examples: end - start,
    images: d.images.subarray(start * d.features, end * d.features),
    labels: d.labels.subarray(start, end),
  };
}

/**
 * n examples drawn without replacement (seeded), kept in their original order, as their
 * own dataset (a copy); the whole set when n ≥ its size. A sample rather than the first n:
 * a file sorted by class would otherwise give one class only.
 */
export function sampleDataset<D extends Dataset>(d: D, n: number, seed: number, name = `${d.name} (sample)`): D {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${d.name}: a sample needs a positive whole number of examples, got ${n}`);
  if (n >= d.examples) return d;
  const pick = new Rng(seed)
    .shuffle(Uint32Array.from({ length: d.examples }, (_, i) => i))
    .subarray(0, n)
    .sort();
  const f = d.features;
  const images = d.images instanceof Float32Array ? new Float32Array(n * f) : new Uint8Array(n * f);
  const labels = d.labels instanceof Uint32Array ? new Uint32Array(n) : new Uint8Array(n);
  pick.forEach((i, k) => {
    images.set(d.images.subarray(i * f, (i + 1) * f), k * f);
    labels[k] = d.labels[i];
  });
  return { ...d, name, examples: n, images, labels };
}
