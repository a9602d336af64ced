// Loading IDX datasets over HTTP (the demo page; works wherever fetch and
// DecompressionStream exist, Node 18+ included): plain or gzipped files, sniffed by their
// first bytes, so a server that decompresses on the fly is fine too.
import type { PixelDataset } from './dataset.ts';
import { IDX_SPLIT_FILES, IdxError, idxDataset, type IdxSplit } from './idx.ts';


export interface FetchProgress {
  /** The URL being read. */
  url: string;
  /** Bytes received so far (as sent: compressed when the file is). */
  loaded: number;
  /** Content-Length when the server sent one. */
  total?: number;
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Inflate gzip bytes (DecompressionStream); a corrupt or cut-off stream gets an IdxError naming the file. */
export async function gunzip(bytes: Uint8Array, name = 'data'): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new IdxError(`${name}: the gzip data is corrupt or cut off (${(e as Error).message})`);
  }
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
