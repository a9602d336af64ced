// A labelled image set as the engine holds it: u8 pixels (kept as u8 on the GPU and
// converted to floats per batch), u8 labels, and the affine map pixel → input value.
export interface Dataset {
  name: string;
  examples: number;
  /** Values per example (784 for MNIST). */
  features: number;
  classes: number;
  /** examples × features bytes, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  /** input = pixel × scale + shift */
  scale: number;
  shift: number;
}

/** Checks sizes and labels; throws a message that names the problem. */
export function validateDataset(d: Dataset): Dataset {
  if (!(d.examples > 0)) throw new Error(`${d.name}: the dataset has no examples`);
  if (d.images.length !== d.examples * d.features) {
    throw new Error(`${d.name}: ${d.images.length} pixel bytes for ${d.examples} examples of ${d.features} values (expected ${d.examples * d.features})`);
  }
  if (d.labels.length !== d.examples) throw new Error(`${d.name}: ${d.labels.length} labels for ${d.examples} examples`);
  for (let i = 0; i < d.labels.length; i++) {
    if (d.labels[i] >= d.classes) {
      throw new Error(`${d.name}: label ${d.labels[i]} of example ${i} is out of range: the model has ${d.classes} classes (0…${d.classes - 1})`);
    }
  }
  if (!Number.isFinite(d.scale) || !Number.isFinite(d.shift)) throw new Error(`${d.name}: scale and shift must be finite`);
  return d;
}

/** The first n examples (a view, no copy). */
export function limitDataset(d: Dataset, n: number | undefined): Dataset {
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
export function sliceDataset(d: Dataset, start: number, end: number, name: string): Dataset {
  if (!(start >= 0 && end <= d.examples && start < end)) throw new Error(`${d.name}: cannot take examples ${start}…${end} of ${d.examples}`);
  return {
    ...d,
    name,
    examples: end - start,
    images: d.images.subarray(start * d.features, end * d.features),
    labels: d.labels.subarray(start, end),
  };
}
