// Loading IDX datasets over HTTP (the demo page; works wherever fetch and
// DecompressionStream exist, Node 18+ included): plain or gzipped files, sniffed by their
// first bytes, so a server that decompresses on the fly is fine too.
import type { PixelDataset } from './dataset.ts';
import { IDX_SPLIT_FILES, IdxError, idxDataset, inflatesTooFar, promisedSize, type IdxSplit } from './idx.ts';

export interface FetchProgress {
  /** The URL being read. */
  url: string;
  /** Bytes received so far (as sent: compressed when the file is). */
  loaded: number;
  /** Content-Length when the server sent one. */
  total?: number;
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Inflate gzip bytes (DecompressionStream) without trusting them: once the IDX header has
 * come out, inflation stops as soon as the output passes the size it promises, so a small
 * file cannot make the page allocate gigabytes. A corrupt or cut-off stream, or one that
 * is not IDX, gets an IdxError naming the file.
 */
export async function gunzip(bytes: Uint8Array, name = 'data'): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let promised: { size: number; dims: number[] } | undefined;
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new IdxError(`${name}: the gzip data is corrupt or cut off (${(e as Error).message}): use an intact copy of the file`);
      }
      if (r.done) break;
      chunks.push(r.value);
      total += r.value.length;
      if (!promised && total >= 20) promised = promisedSize(concat(chunks, 20), bytes.length, name);
      if (promised && total > promised.size) throw inflatesTooFar(name, promised.dims);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  return concat(chunks, total);
}

/** The first `n` bytes of `chunks`, as one array. */
function concat(chunks: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    if (at >= n) break;
    const part = c.subarray(0, n - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Fetch a file's bytes, reporting progress; gunzips when the bytes are gzip. */
export async function fetchBytes(url: string, onProgress?: (p: FetchProgress) => void): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new IdxError(`${url}: could not be fetched (${(e as Error).message})`);
  }
  if (!res.ok) throw new IdxError(`${url}: the server answered ${res.status} ${res.statusText}`.trim());
  const total = Number(res.headers.get('content-length')) || undefined;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onProgress?.({ url, loaded, total });
    }
  }
  const bytes = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  return isGzip(bytes) ? gunzip(bytes, url) : bytes;
}

/**
 * One split of an IDX dataset served under `base` (e.g. 'mnist/'), each file fetched as
 * `<standard name><suffix>` (suffix '.gz' for the demo's build).
 */
export async function fetchIdxSplit(
  base: string,
  split: IdxSplit,
  opts: { name?: string; suffix?: string; onProgress?: (p: FetchProgress) => void } = {},
): Promise<PixelDataset> {
  const dir = base.endsWith('/') ? base : `${base}/`;
  const [img, lbl] = IDX_SPLIT_FILES[split].map((f) => `${dir}${f}${opts.suffix ?? ''}`);
  const [images, labels] = await Promise.all([fetchBytes(img, opts.onProgress), fetchBytes(lbl, opts.onProgress)]);
  return idxDataset(images, labels, [img, lbl], `${opts.name ?? 'MNIST'} ${split}`);
}
