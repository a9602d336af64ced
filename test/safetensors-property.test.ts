// Property-based tests of the safetensors and checkpoint readers: valid files, mutated at
// the byte level (cut off, bits flipped, any header length, extra bytes, junk) and at the
// header level (any dtype, shape, offsets, entry, metadata or model field), always end in
// a correct decode or a one-line CheckpointError — never another exception, a hang, or an
// allocation beyond what the file's own bytes justify.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from '../src/io/checkpoint.ts';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type Tensor } from '../src/io/safetensors.ts';
import { paramLayout } from '../src/model/layout.ts';
import { seededState, tinyModel } from './support/checkpoints.ts';

const RUNS = 10_000;

/** Small rectigrad checkpoints: 1–3 hidden layers, with or without Adam moments. */
const checkpointFile = fc
  .record({ hidden: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }), adam: fc.boolean(), seed: fc.nat(1000), step: fc.nat(10 ** 6) })
  .map(({ hidden, adam, seed, step }) => encodeCheckpoint(seededState(tinyModel({ hidden }), { step, seed, adam })));

/** Plain safetensors files of F32 and U32 tensors, some empty. */
const rawFile = fc.array(fc.record({ u32: fc.boolean(), shape: fc.array(fc.nat(5), { maxLength: 3 }), seed: fc.nat() }), { maxLength: 5 }).map((specs) => {
  const tensors: Record<string, Tensor> = {};
  specs.forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.u32
      ? Uint32Array.from({ length: n }, (_, j) => (s.seed + j * 2654435761) >>> 0)
      : Float32Array.from({ length: n }, (_, j) => Math.sin(s.seed + j));
    tensors[`t${i}`] = { dtype: s.u32 ? 'U32' : 'F32', shape: s.shape, data };
  });
  return encodeSafetensors(tensors, { note: 'raw' });
});

/** JSON values a hostile header might hold where a number, string or list belongs. */
const wild = fc.oneof(
  fc.integer(),
  fc.constantFrom(-1, 0, -0, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, 'F32', 'U32', 'F16', 'BF16', 'I64', '', null, true, [], {}),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.array(fc.oneof(fc.nat(64), fc.integer(), fc.constantFrom(2 ** 40, 2 ** 53, -1, 1.5, '3', null)), { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 2 }),
);

const headerEdit = fc.oneof(
  fc.record({
    kind: fc.constant('field' as const),
    key: fc.nat(),
    field: fc.constantFrom('dtype', 'shape', 'data_offsets'),
    value: fc.option(wild, { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('entry' as const), key: fc.nat(), value: fc.option(wild, { nil: undefined }) }),
  fc.record({ kind: fc.constant('copyOffsets' as const), from: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('newEntry' as const), name: fc.string({ maxLength: 16 }), value: wild }),
  fc.record({
    kind: fc.constant('meta' as const),
    field: fc.constantFrom('format', 'model', 'step', 'config', 'other'),
    value: fc.option(
      fc.oneof(
        wild,
        fc.string(),
        wild.map((v) => JSON.stringify(v)),
      ),
      { nil: undefined },
    ),
  }),
  fc.record({
    kind: fc.constant('model' as const),
    field: fc.constantFrom('inputs', 'hidden', 'classes', 'activation', 'alpha', 'init', 'initScale', 'seed'),
    value: fc.option(wild, { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('metadata' as const), value: fc.option(wild, { nil: undefined }) }),
);
const byteEdit = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }),
  fc.record({
    kind: fc.constant('length' as const),
    value: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 4096n }), fc.constantFrom(100_000_000n, 100_000_001n, 2n ** 63n)),
  }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('junk' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);
const edits = fc.array(fc.oneof(headerEdit, byteEdit), { minLength: 0, maxLength: 3 });
type Edit = typeof edits extends fc.Arbitrary<(infer T)[]> ? T : never;

function headerLength(b: Uint8Array): number {
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true));
}

/** Rewrites the JSON header (when it still parses) and fixes the length prefix, so the data checks are reached. */
function editHeader(file: Uint8Array, f: (h: Record<string, any>) => void): Uint8Array {
  if (file.length < 8 || 8 + headerLength(file) > file.length) return file;
  let h: Record<string, any>;
  try {
    h = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + headerLength(file))));
  } catch {
    return file;
  }
  if (typeof h !== 'object' || h === null) return file;
  f(h);
  const head = new TextEncoder().encode(JSON.stringify(h) ?? '');
  const data = file.subarray(8 + headerLength(file));
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

function apply(file: Uint8Array, e: Edit): Uint8Array {
  const set = (o: Record<string, any>, k: string, v: unknown) => (v === undefined ? delete o[k] : (o[k] = v));
  const tensorKey = (h: Record<string, any>, i: number) => {
    const keys = Object.keys(h).filter((k) => k !== '__metadata__');
    return keys.length ? keys[i % keys.length] : undefined;
  };
  switch (e.kind) {
    case 'field':
      return editHeader(file, (h) => {
        const k = tensorKey(h, e.key);
        if (k && typeof h[k] === 'object' && h[k] !== null) set(h[k], e.field, e.value);
      });
    case 'entry':
      return editHeader(file, (h) => {
        const k = tensorKey(h, e.key);
        if (k) set(h, k, e.value);
      });
    case 'copyOffsets':
      // Two tensors claiming the same bytes (when their sizes agree) and a range claimed by none.
      return editHeader(file, (h) => {
        const [a, b] = [tensorKey(h, e.from), tensorKey(h, e.to)];
        const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
        if (a && b && isObj(h[a]) && isObj(h[b])) h[b].data_offsets = h[a].data_offsets;
      });
    case 'newEntry':
      return editHeader(file, (h) => (h[e.name] = e.value));
    case 'metadata':
      return editHeader(file, (h) => set(h, '__metadata__', e.value));
    case 'meta':
      return editHeader(file, (h) => {
        if (typeof h.__metadata__ === 'object' && h.__metadata__ !== null) set(h.__metadata__, e.field, e.value);
      });
    case 'model':
      return editHeader(file, (h) => {
        try {
          const m = JSON.parse(h.__metadata__.model);
          set(m, e.field, e.value);
          h.__metadata__.model = JSON.stringify(m);
        } catch {
          /* no model to edit */
        }
      });
    case 'truncate':
      return file.subarray(0, e.at % (file.length + 1));
    case 'flip': {
      const out = Uint8Array.from(file);
      if (out.length) for (const b of e.bits) out[(b >> 3) % out.length] ^= 1 << (b & 7);
      return out;
    }
    case 'length': {
      const out = Uint8Array.from(file);
      if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, e.value, true);
      return out;
    }
    case 'append': {
      const out = new Uint8Array(file.length + e.bytes.length);
      out.set(file);
      out.set(e.bytes, file.length);
      return out;
    }
    case 'junk':
      return e.bytes;
  }
}

/** The kinds of error seen (the message with its numbers and quoted values blanked). */
const kinds = new Map<string, number>();

/** Runs a decode; a one-line CheckpointError is an acceptable outcome, anything else thrown fails. */
function decodesOrCheckpointError<T>(bytes: Uint8Array, f: () => T): T | undefined {
  const t0 = performance.now();
  try {
    return f();
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    expect(e.message).not.toMatch(/[\n\r]/);
    expect(e.message.length).toBeLessThan(2000);
    // "undefined" may appear only when the file itself says it.
    if (!Buffer.from(bytes).includes('undefined')) expect(e.message).not.toMatch(/undefined/);
    const kind = e.message.replace(/"(?:[^"\\]|\\.)*"|\[[^\]]*\]|-?\d[\d.e+-]*/g, '#').slice(0, 60);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    return undefined;
  } finally {
    // A hang shows as one input taking seconds (generous: the machine may be shared).
    expect(performance.now() - t0).toBeLessThan(5000);
  }
}

const typedBytes = (...arrays: (ArrayBufferView | undefined)[]) => arrays.reduce((s, a) => s + (a?.byteLength ?? 0), 0);

describe('safetensors and checkpoint readers, property-based', () => {
  it(`decode or name the damage in ${RUNS} mutated files, allocating at most a few times the file`, () => {
    const outcome = { checkpoints: 0, safetensors: 0, errors: 0 };
    fc.assert(
      fc.property(fc.oneof({ arbitrary: checkpointFile, weight: 3 }, { arbitrary: rawFile, weight: 1 }), edits, (file, es) => {
        const bytes = es.reduce(apply, file);
        const st = decodesOrCheckpointError(bytes, () => decodeSafetensors(bytes, 'f'));
        if (st) {
          outcome.safetensors++;
          // The tensors are copies of disjoint ranges of the data: never more than the file.
          const tensors = Object.values(st.tensors);
          expect(typedBytes(...tensors.map((t) => t.data))).toBeLessThanOrEqual(bytes.length);
          for (const t of tensors) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
        }
        const ck = decodesOrCheckpointError(bytes, () => decodeCheckpoint(bytes, 'f'));
        if (ck) {
          outcome.checkpoints++;
          expect(st).toBeDefined();
          const size = paramLayout(ck.model).size;
          expect(ck.params.length).toBe(size);
          if (ck.m) expect(ck.m.length).toBe(size);
          if (ck.v) expect(ck.v.length).toBe(size);
          // Flat buffers add alignment padding (≤ 2 × 256 bytes a layer, each layer ≥ 2 header entries).
          expect(typedBytes(ck.params, ck.m, ck.v, ck.flags)).toBeLessThanOrEqual(8 * bytes.length);
          expect(ck.params.every(Number.isFinite)).toBe(true);
        }
        if (!st && !ck) outcome.errors++;
        if (es.length === 0) expect(st).toBeDefined();
      }),
      { numRuns: RUNS },
    );
    if (process.env.SHOW_KINDS)
      console.log(
        [...kinds]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${n}\t${k}`)
          .join('\n'),
      );
    console.log(
      `safetensors: ${RUNS} inputs: ${outcome.checkpoints} decoded as checkpoints, ${outcome.safetensors} as safetensors, ${outcome.errors} CheckpointError only; ${kinds.size} kinds of error message`,
    );
  });
});
