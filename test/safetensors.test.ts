// The safetensors and checkpoint readers on hostile input: every claim in a header is
// checked against the file before anything is allocated, and every problem is a
// CheckpointError naming the file, the field or tensor, and what to do.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint-file.ts';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type Tensor } from '../src/io/safetensors.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/io/checkpoint.ts';
import { paramLayout } from '../src/model/layout.ts';
import { seededState, tinyModel } from './support/checkpoints.ts';

/** The header of a safetensors file as JSON, and a file rebuilt from a (changed) header. */
function headerOf(bytes: Uint8Array): Record<string, any> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}
function withHeader(bytes: Uint8Array, header: unknown): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(bytes.subarray(8 + n), 8 + head.length);
  return out;
}
const edit = (bytes: Uint8Array, f: (h: Record<string, any>) => void) => {
  const h = headerOf(bytes);
  f(h);
  return withHeader(bytes, h);
};
/** The error decoding throws (failing the test when it is not a CheckpointError). */
function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    const msg = (e as Error).message;
    expect(msg).not.toMatch(/undefined|\n/);
    return msg;
  }
  throw new Error('expected a CheckpointError, but decoding succeeded');
}

const state = seededState(tinyModel(), { step: 7, seed: 1, adam: true });
const file = encodeCheckpoint(state);

describe('safetensors reader', () => {
  it('round-trips F32, U32 and empty tensors', () => {
    const t: Record<string, Tensor> = {
      a: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, -6]) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      b: { dtype: 'U32', shape: [3], data: Uint32Array.from([7, 0, 4294967295]) },
    };
    const back = decodeSafetensors(encodeSafetensors(t, { k: 'v' }));
    expect(back.metadata).toEqual({ k: 'v' });
    for (const k of Object.keys(t)) {
      expect(back.tensors[k].shape).toEqual(t[k].shape);
      expect(Array.from(back.tensors[k].data)).toEqual(Array.from(t[k].data));
    }
  });

  it('caps the header length at 100 MB and at the file size', () => {
    const huge = Uint8Array.from(file);
    new DataView(huge.buffer).setBigUint64(0, 100_000_001n, true);
    expect(errorOf(() => decodeSafetensors(huge, 'f'))).toMatch(/^f: the header claims 100000001 bytes, beyond the 100000000-byte limit/);
    new DataView(huge.buffer).setBigUint64(0, BigInt(file.length), true);
    expect(errorOf(() => decodeSafetensors(huge, 'f'))).toMatch(/^f: truncated: the header needs/);
  });

  it('checks each tensor’s dtype, shape and byte range against the file and the others', () => {
    const w = 'layers.0.weight';
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h[w].dtype = 'F16')),
          'f',
        ),
      ),
    ).toMatch(/tensor "layers.0.weight" has dtype "F16"; rectigrad reads F32 and U32 only/);
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => delete h[w].dtype),
          'f',
        ),
      ),
    ).toMatch(/tensor "layers.0.weight" has no dtype/);
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h[w].shape = [5, -6])),
          'f',
        ),
      ),
    ).toMatch(/has shape \[5, -6\], not a list of whole numbers/);
    // The same byte count in another shape is a valid safetensors file, but not this model's.
    const transposed = edit(file, (h) => (h[w].shape = [6, 5]));
    expect(decodeSafetensors(transposed).tensors[w].shape).toEqual([6, 5]);
    expect(errorOf(() => decodeCheckpoint(transposed, 'f'))).toMatch(
      /tensor layers.0.weight is F32 \[6, 5\] but the 6-5-4-3 relu model its metadata describes needs F32 \[5, 6\]/,
    );
  });

  it('rejects byte ranges that are out of order, overlap, leave gaps or pass the end', () => {
    const w = 'layers.0.weight';
    const [b, e] = headerOf(file)[w].data_offsets;
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h[w].data_offsets = [e, b])),
          'f',
        ),
      ),
    ).toMatch(/data_offsets \[\d+, \d+\] out of order/);
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => delete h[w].data_offsets),
          'f',
        ),
      ),
    ).toMatch(/has data_offsets missing, not \[begin, end\]/);
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h[w].data_offsets = [b, e + 4])),
          'f',
        ),
      ),
    ).toMatch(/has \d+ bytes for F32 \[5, 6\], which needs 120/);
    // Two tensors claiming the same bytes.
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h['layers.0.bias'].data_offsets = [b, b + 20])),
          'f',
        ),
      ),
    ).toMatch(/overlap/);
    // Bytes that belong to no tensor (the data of one tensor dropped from the header).
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => delete h[w]),
          'f',
        ),
      ),
    ).toMatch(/bytes 0–120 of the data belong to no tensor/);
    const longer = new Uint8Array(file.length + 12);
    longer.set(file);
    expect(errorOf(() => decodeSafetensors(longer, 'f'))).toMatch(/12 bytes after the last tensor belong to none/);
    expect(errorOf(() => decodeSafetensors(file.subarray(0, file.length - 3), 'f'))).toMatch(/lies outside the file .*truncated/);
  });

  it('names metadata and entries of the wrong type instead of printing "undefined"', () => {
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h.__metadata__.step = 7)),
          'f',
        ),
      ),
    ).toMatch(/metadata field "step" is 7, not a string/);
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h.__metadata__ = [1])),
          'f',
        ),
      ),
    ).toMatch(/__metadata__ is \[1\], not an object of strings/);
    expect(
      errorOf(() =>
        decodeSafetensors(
          edit(file, (h) => (h['layers.0.bias'] = null)),
          'f',
        ),
      ),
    ).toMatch(/tensor "layers.0.bias" is null, not a \{dtype, shape, data_offsets\} entry/);
  });
});

describe('checkpoint reader', () => {
  it('round-trips a full state', () => {
    const back = decodeCheckpoint(file);
    expect(back.step).toBe(7);
    expect(back.model).toEqual(state.model);
    expect(back.config).toEqual(state.config);
    expect(Array.from(back.flags!)).toEqual(Array.from(state.flags!));
    const layout = paramLayout(state.model);
    for (const l of layout.layers) {
      const r = [l.weight, l.weight + l.inputs * l.outputs];
      expect(Array.from(back.params.subarray(r[0], r[1]))).toEqual(Array.from(state.params.subarray(r[0], r[1])));
      expect(Array.from(back.v!.subarray(l.bias, l.bias + l.outputs))).toEqual(Array.from(state.v!.subarray(l.bias, l.bias + l.outputs)));
    }
  });

  it('names missing or mistyped metadata fields', () => {
    const meta = (f: (m: Record<string, unknown>) => void) => edit(file, (h) => f(h.__metadata__));
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => delete m.format),
          'f',
        ),
      ),
    ).toBe('f: not a rectigrad checkpoint: its metadata has no "format" field (expected "rectigrad-1")');
    expect(
      errorOf(() =>
        decodeCheckpoint(
          edit(file, (h) => delete h.__metadata__),
          'f',
        ),
      ),
    ).toMatch(/no "format" field/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => (m.format = 'pytorch')),
          'f',
        ),
      ),
    ).toMatch(/metadata format is "pytorch", expected "rectigrad-1"/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => delete m.model),
          'f',
        ),
      ),
    ).toMatch(/its metadata has no "model" field/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => (m.model = '{"inputs":')),
          'f',
        ),
      ),
    ).toMatch(/metadata field "model" is not a JSON object/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => (m.model = 'null')),
          'f',
        ),
      ),
    ).toMatch(/metadata field "model" is not a JSON object/);
    const model = (f: (m: Record<string, unknown>) => void) =>
      meta((m) => {
        const spec = JSON.parse(m.model as string);
        f(spec);
        m.model = JSON.stringify(spec);
      });
    expect(
      errorOf(() =>
        decodeCheckpoint(
          model((s) => delete s.classes),
          'f',
        ),
      ),
    ).toMatch(/the model in its metadata has no "classes" field/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          model((s) => (s.hidden = '5,4')),
          'f',
        ),
      ),
    ).toMatch(/"hidden": "5,4", not a list/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          model((s) => (s.activation = 'gelu')),
          'f',
        ),
      ),
    ).toMatch(/unusable: unknown activation "gelu"/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => (m.step = '-1')),
          'f',
        ),
      ),
    ).toMatch(/metadata field "step" is "-1", not a whole number ≥ 0/);
    expect(
      errorOf(() =>
        decodeCheckpoint(
          meta((m) => (m.config = '[]')),
          'f',
        ),
      ),
    ).toMatch(/metadata field "config" is not a JSON object/);
  });

  it('rejects tensors that do not match the model in the metadata, naming the tensor', () => {
    const other = encodeCheckpoint(seededState(tinyModel({ hidden: [5, 3] }), { step: 1, seed: 2 }));
    const mixed = edit(other, (h) => (h.__metadata__.model = headerOf(file).__metadata__.model));
    expect(errorOf(() => decodeCheckpoint(mixed, 'f'))).toMatch(
      /^f: tensor layers.1.weight is F32 \[3, 5\] but the 6-5-4-3 relu model its metadata describes needs F32 \[4, 5\]/,
    );
    const noBias = edit(file, (h) => {
      const [b, e] = h['layers.2.bias'].data_offsets;
      h['layers.2.bias'] = { dtype: 'F32', shape: [0], data_offsets: [b, b] };
      h.__pad = { dtype: 'U32', shape: [(e - b) / 4], data_offsets: [b, e] };
    });
    expect(errorOf(() => decodeCheckpoint(noBias, 'f'))).toMatch(/tensor "__pad" is not part of the 6-5-4-3 relu model/);
    const flags = edit(file, (h) => (h['telemetry.active'].dtype = 'F32'));
    expect(errorOf(() => decodeCheckpoint(flags, 'f'))).toMatch(/tensor telemetry.active is F32 \[\d+\] but .* needs U32/);
    const dropM = edit(file, (h) => (h['optimizer.m.layers.1.bias'].dtype = 'U32'));
    expect(errorOf(() => decodeCheckpoint(dropM, 'f'))).toMatch(/tensor optimizer.m.layers.1.bias is U32/);
  });

  it('refuses a metadata model far larger than the file before allocating it', () => {
    // 5000×5000 hidden units would be a 100 MB parameter buffer; the file holds a few KB.
    const big = edit(file, (h) => (h.__metadata__.model = JSON.stringify({ ...state.model, hidden: [5000, 5000] })));
    const before = process.memoryUsage().arrayBuffers;
    expect(errorOf(() => decodeCheckpoint(big, 'f'))).toMatch(
      /tensor layers.0.weight is F32 \[5, 6\] but the 6-5000-5000-3 relu model .* needs F32 \[5000, 6\]/,
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(10e6);
    // A million layers: refused at the first missing tensor, before the layout is built.
    const deep = edit(file, (h) => (h.__metadata__.model = JSON.stringify({ ...state.model, hidden: new Array(1e6).fill(4) })));
    expect(errorOf(() => decodeCheckpoint(deep, 'f'))).toMatch(
      /^f: tensor layers.3.weight is missing \(the 1000001-layer model its metadata describes needs it\)/,
    );
    // A shape whose byte count is beyond any file.
    const huge = edit(file, (h) => (h['layers.0.weight'].shape = [2 ** 26, 2 ** 26]));
    expect(errorOf(() => decodeCheckpoint(huge, 'f'))).toMatch(/has 120 bytes for F32 \[67108864, 67108864\], which needs/);
  });

  it('says why a checkpoint file cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rectigrad-st-'));
    expect(() => loadCheckpoint(join(dir, 'none.safetensors'))).toThrow(/^cannot read checkpoint .*none.safetensors: no such file: check the path$/);
    expect(() => loadCheckpoint(dir)).toThrow(/: it is a directory: give the checkpoint file inside it$/);
    expect(() => loadCheckpoint(dir)).toThrow(CheckpointError);
  });
});
