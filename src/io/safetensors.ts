// The safetensors format: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the raw little-endian data. Small
// enough to own; strict on reading, since a checkpoint may come from anywhere.

export type DType = 'F32' | 'U32';

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Uint32Array;
}

export class CheckpointError extends Error {}

/** Headers beyond this are refused (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape ${t.shape.join('×')} but ${t.data.length} values`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, name = 'checkpoint'): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new CheckpointError(`${name}: ${bytes.length} bytes is too short to be a safetensors file (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) throw new CheckpointError(`${name}: the header claims ${n} bytes, beyond the ${MAX_HEADER}-byte limit: not a safetensors file or corrupt`);
  const headLen = Number(n);
  if (8 + headLen > bytes.length) throw new CheckpointError(`${name}: truncated: the header needs ${headLen} bytes but the file has ${bytes.length - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headLen)));
  } catch {
    throw new CheckpointError(`${name}: the header is not valid JSON: not a safetensors file or corrupt`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new CheckpointError(`${name}: the header is not a JSON object`);
  const dataStart = 8 + headLen;
  const dataLen = bytes.length - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: Record<string, Tensor> = {};
  const spans: [number, number, string][] = [];
  for (const [key, v] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const e = v as { dtype?: string; shape?: number[]; data_offsets?: number[] };
    if (e.dtype !== 'F32' && e.dtype !== 'U32') throw new CheckpointError(`${name}: tensor ${key} has dtype ${e.dtype}; rectigrad reads F32 and U32`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new CheckpointError(`${name}: tensor ${key} has a bad shape`);
    const [begin, end] = e.data_offsets ?? [];
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin || end > dataLen) {
      throw new CheckpointError(`${name}: tensor ${key} lies outside the file (bytes ${begin}–${end} of ${dataLen}): truncated?`);
    }
    if (end - begin !== count * 4) throw new CheckpointError(`${name}: tensor ${key} has ${end - begin} bytes for shape ${e.shape.join('×')}`);
    spans.push([begin, end, key]);
    // A fresh, aligned copy (a Node Buffer's slice() is a view into a shared pool).
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[key] = {
      dtype: e.dtype,
      shape: e.shape,
      data: e.dtype === 'F32' ? new Float32Array(copy.buffer, 0, count) : new Uint32Array(copy.buffer, 0, count),
    };
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw new CheckpointError(`${name}: tensors ${spans[i - 1][2]} and ${spans[i][2]} overlap`);
  }
  return { tensors, metadata };
}
