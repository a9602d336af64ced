// The safetensors format: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the raw little-endian data. Small
// enough to own; strict on reading, since a checkpoint may come from anywhere.

export type DType = 'F32' | 'U32';

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | Uint32Array;
}

/** A checkpoint or safetensors file that cannot be used; the message names the file and the fix. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

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

const ELEMENT_BYTES: Record<DType, number> = { F32: 4, U32: 4 };

/** What to do about a file that fails a structural check. */
const DAMAGED = 'the file is damaged or not a safetensors file; use an intact copy or save it again';

/**
 * Every claim the header makes is checked against the file before anything is allocated:
 * the header length, each tensor's dtype, shape and byte range (dtype × shape = bytes),
 * and that the ranges tile the data exactly (no overlap, no stray bytes). So a hostile
 * file costs at most a copy of its own bytes.
 */
export function decodeSafetensors(bytes: Uint8Array, name = 'checkpoint'): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new CheckpointError(`${name}: ${bytes.length} bytes is too short to be a safetensors file (truncated?): use an intact copy`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) throw new CheckpointError(`${name}: the header claims ${n} bytes, beyond the ${MAX_HEADER}-byte limit: ${DAMAGED}`);
  const headLen = Number(n);
  if (8 + headLen > bytes.length) {
    throw new CheckpointError(
      `${name}: truncated: the header needs ${headLen} bytes but the file has ${bytes.length - 8} after the length; use an intact copy`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headLen)));
  } catch {
    throw new CheckpointError(`${name}: the header is not valid JSON: ${DAMAGED}`);
  }
  if (!isPlainObject(header)) throw new CheckpointError(`${name}: the header is not a JSON object: ${DAMAGED}`);
  const dataStart = 8 + headLen;
  const dataLen = bytes.length - dataStart;

  const metadata: Record<string, string> = Object.create(null);
  const meta = header.__metadata__;
  if (meta !== undefined) {
    if (!isPlainObject(meta)) throw new CheckpointError(`${name}: __metadata__ is ${describe(meta)}, not an object of strings: ${DAMAGED}`);
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') throw new CheckpointError(`${name}: metadata field ${describe(k)} is ${describe(v)}, not a string: ${DAMAGED}`);
      metadata[k] = v;
    }
  }

  interface Entry {
    key: string;
    dtype: DType;
    shape: number[];
    begin: number;
    end: number;
  }
  const entries: Entry[] = [];
  for (const [key, v] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const t = `${name}: tensor ${describe(key)}`;
    if (!isPlainObject(v)) throw new CheckpointError(`${t} is ${describe(v)}, not a {dtype, shape, data_offsets} entry: ${DAMAGED}`);
    const { dtype, shape, data_offsets: offsets } = v;
    if (dtype === undefined) throw new CheckpointError(`${t} has no dtype: ${DAMAGED}`);
    if (dtype !== 'F32' && dtype !== 'U32') {
      throw new CheckpointError(`${t} has dtype ${describe(dtype)}; rectigrad reads F32 and U32 only (convert it to float32)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`${t} has shape ${describe(shape)}, not a list of whole numbers ≥ 0: ${DAMAGED}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new CheckpointError(`${t} has data_offsets ${describe(offsets)}, not [begin, end] byte offsets: ${DAMAGED}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new CheckpointError(`${t} has data_offsets [${begin}, ${end}] out of order: ${DAMAGED}`);
    if (end > dataLen) throw new CheckpointError(`${t} lies outside the file (bytes ${begin}–${end} of ${dataLen}): truncated? use an intact copy`);
    // The product stays a safe integer here: it is compared only after each factor is.
    let bytesNeeded = ELEMENT_BYTES[dtype];
    for (const d of shape) bytesNeeded *= d;
    if (bytesNeeded !== end - begin) {
      throw new CheckpointError(`${t} has ${end - begin} bytes for ${dtype} [${shape.join(', ')}], which needs ${bytesNeeded}: ${DAMAGED}`);
    }
    entries.push({ key, dtype, shape, begin, end });
  }
  // The ranges must tile the data region exactly, as the reference implementation requires.
  const spans = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (s.begin < at) throw new CheckpointError(`${name}: tensors ${describe(spans[i - 1].key)} and ${describe(s.key)} overlap: ${DAMAGED}`);
    if (s.begin > at) throw new CheckpointError(`${name}: bytes ${at}–${s.begin} of the data belong to no tensor: ${DAMAGED}`);
    at = s.end;
  }
  if (at !== dataLen) throw new CheckpointError(`${name}: ${dataLen - at} bytes after the last tensor belong to none (two files joined?): ${DAMAGED}`);

  const tensors: Record<string, Tensor> = Object.create(null);
  for (const e of entries) {
    // A fresh, aligned copy (a Node Buffer's slice() is a view into a shared pool).
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    const count = copy.length / ELEMENT_BYTES[e.dtype];
    tensors[e.key] = {
      dtype: e.dtype,
      shape: e.shape,
      data: e.dtype === 'F32' ? new Float32Array(copy.buffer, 0, count) : new Uint32Array(copy.buffer, 0, count),
    };
  }
  return { tensors, metadata };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON value as a message shows it: short, and never the word "undefined" for a missing one. */
export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const flat = v.length <= 8 && v.every((x) => typeof x !== 'object' || x === null);
    return flat ? `[${v.map(describe).join(', ')}]` : `a list of ${v.length}`;
  }
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}…` : s;
}
