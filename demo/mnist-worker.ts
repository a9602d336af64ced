// MNIST fetched and gunzipped in a worker of its own, which the page then ends. Reading
// ~11 MB of gzip in chunks and inflating it leaves ~90 MB of short-lived buffers behind;
// on the page's thread they were swept by the browser's garbage collector seconds later,
// in the middle of training, as main-thread tasks of 60–140 ms (a janky page, on the
// 2-core machine the tests run on). In this worker they go with the worker.
import { fetchIdxSplit } from '../src/data/fetch-idx.ts';
import type { PixelDataset } from '../src/data/dataset.ts';
import type { IdxSplit } from '../src/data/idx.ts';

export type MnistRequest = { base: string; split: IdxSplit; suffix: string };
export type MnistReply =
  { type: 'progress'; url: string; loaded: number; total?: number } | { type: 'done'; data: PixelDataset } | { type: 'error'; message: string };

const scope = self as unknown as { onmessage: ((e: MessageEvent<MnistRequest>) => void) | null; postMessage(m: MnistReply, transfer?: Transferable[]): void };

scope.onmessage = async ({ data: req }) => {
  try {
    const data = await fetchIdxSplit(req.base, req.split, { suffix: req.suffix, onProgress: (p) => scope.postMessage({ type: 'progress', ...p }) });
    scope.postMessage({ type: 'done', data }, [data.images.buffer, data.labels.buffer]);
  } catch (e) {
    scope.postMessage({ type: 'error', message: (e as Error).message });
  }
};
