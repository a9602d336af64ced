// Property-based tests of the IDX reader: valid files, mutated (cut off, bits flipped,
// dimensions replaced by anything up to 2^32−1, bytes appended, gzipped and then
// damaged), always end in a correct parse or an IdxError — never another exception, a
// hang, or an allocation beyond what the input justifies.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gunzip } from '../src/data/fetch-idx.ts';
import { gunzipIdx } from '../src/data/idx-files.ts';
import { IdxError, idxDataset, parseIdx } from '../src/data/idx.ts';

const RUNS = 10_000;

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, 8, dims.length]);
  dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** A valid IDX file: labels (1 dimension) or images (3), small, with non-zero content. */
const validIdx = fc
  .oneof(fc.tuple(fc.integer({ min: 0, max: 40 })), fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })))
  .chain((dims) => {
    const n = dims.reduce((a, b) => a * b, 1);
    return fc.uint8Array({ minLength: n, maxLength: n }).map((data) => idx(dims, data));
  });

/** Damage of every kind a file meets: cut off, flipped bits, any dimension, extra bytes, junk. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }),
  fc.record({
    kind: fc.constant('dim' as const),
    which: fc.nat(3),
    value: fc.oneof(fc.nat(64), fc.constantFrom(0, 2 ** 31, 2 ** 32 - 1, 60000, 65536), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  }),
  fc.record({ kind: fc.constant('magic' as const), bytes: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('junk' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.constant({ kind: 'none' as const }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(file: Uint8Array, m: Mutation): Uint8Array {
  const out = Uint8Array.from(file);
  switch (m.kind) {
    case 'truncate':
      return out.subarray(0, m.at % (file.length + 1));
    case 'flip':
      if (out.length) for (const b of m.bits) out[(b >> 3) % out.length] ^= 1 << (b & 7);
      return out;
    case 'dim': {
      const at = 4 + 4 * (m.which % Math.max(1, out[3] ?? 1));
      if (at + 4 <= out.length) new DataView(out.buffer).setUint32(at, m.value, false);
      return out;
    }
    case 'magic':
      out.set(m.bytes.subarray(0, Math.min(4, out.length)));
      return out;
    case 'append': {
      const longer = new Uint8Array(out.length + m.bytes.length);
      longer.set(out);
      longer.set(m.bytes, out.length);
      return longer;
    }
    case 'junk':
      return m.bytes;
    case 'none':
      return out;
  }
}

/** Runs `f`; an IdxError is an acceptable outcome, anything else thrown fails the property. */
function parsesOrIdxError<T>(f: () => T): T | undefined {
  const t0 = performance.now();
  try {
    return f();
  } catch (e) {
    if (!(e instanceof IdxError)) throw e;
    expect(e.message).not.toMatch(/undefined|NaN|\n/);
    return undefined;
  } finally {
    // A hang shows as one input taking seconds (generous: the machine may be shared).
    expect(performance.now() - t0).toBeLessThan(5000);
  }
}

describe('IDX reader, property-based', () => {
  it(`parses or names the damage in ${RUNS} mutated files, allocating nothing`, () => {
    let parsed = 0;
    fc.assert(
      fc.property(validIdx, mutation, (file, m) => {
        const bytes = mutate(file, m);
        const r = parsesOrIdxError(() => parseIdx(bytes, 'f'));
        if (m.kind === 'none') expect(r).toBeDefined();
        if (r) {
          parsed++;
          // The dimensions account for every byte, and the data is a view of the input.
          expect(r.data.length).toBe(r.dims.reduce((a, b) => a * b, 1));
          expect(r.data.length).toBeLessThanOrEqual(bytes.length);
          expect(r.data.buffer).toBe(bytes.buffer);
        }
      }),
      { numRuns: RUNS },
    );
    console.log(`IDX: ${RUNS} inputs, ${parsed} parsed, the rest IdxError`);
  });

  it(`inflates or refuses ${RUNS} gzipped files, damaged before or after compression, within their promised size`, () => {
    let inflated = 0;
    fc.assert(
      // The compressed stream is left intact half the time, so damage inside it is reached too.
      fc.property(
        validIdx,
        mutation,
        fc.oneof({ arbitrary: fc.constant({ kind: 'none' as const }), weight: 1 }, { arbitrary: mutation, weight: 1 }),
        (file, inner, outer) => {
          const gz = mutate(gzipSync(mutate(file, inner), { level: 1 }), outer);
          if (gz[0] !== 0x1f || gz[1] !== 0x8b) return; // the loader only inflates what looks like gzip
          const out = parsesOrIdxError(() => gunzipIdx(gz, 'f'));
          if (out) {
            inflated++;
            expect(out.length).toBeLessThanOrEqual(1032 * gz.length + 1024);
            parsesOrIdxError(() => parseIdx(out, 'f'));
          }
        },
      ),
      { numRuns: RUNS },
    );
    console.log(`IDX gzip: ${RUNS} inputs, ${inflated} inflated, the rest IdxError or not gzip`);
  });

  it(`the browser's inflation (DecompressionStream) agrees with Node's on ${RUNS / 5} damaged gzip files`, async () => {
    await fc.assert(
      fc.asyncProperty(validIdx, mutation, fc.oneof(fc.constant({ kind: 'none' as const }), mutation), async (file, inner, outer) => {
        const gz = mutate(gzipSync(mutate(file, inner), { level: 1 }), outer);
        if (gz[0] !== 0x1f || gz[1] !== 0x8b) return;
        const node = parsesOrIdxError(() => gunzipIdx(gz, 'f'));
        let web: Uint8Array | undefined;
        try {
          web = await gunzip(gz, 'f');
        } catch (e) {
          if (!(e instanceof IdxError)) throw e;
        }
        // Whatever Node accepts the browser path returns byte for byte; what it refuses is refused
        // or (a damaged file whose header the browser never needed) left to parseIdx to refuse.
        if (node) expect(web && Buffer.compare(web, node)).toBe(0);
        else if (web) expect(() => parseIdx(web, 'f')).toThrow(IdxError);
      }),
      { numRuns: RUNS / 5 },
    );
  });

  it(`turns ${RUNS} mutated image/label pairs into a consistent dataset or an IdxError`, () => {
    fc.assert(
      fc.property(validIdx, mutation, validIdx, mutation, (a, ma, b, mb) => {
        const images = mutate(a, ma);
        const labels = mutate(b, mb);
        const d = parsesOrIdxError(() => idxDataset(images, labels, ['img', 'lbl'], 'x'));
        if (d) {
          expect(d.images.length).toBe(d.examples * d.features);
          expect(d.labels.length).toBe(d.examples);
          expect(d.features).toBeGreaterThan(0);
          for (const l of d.labels) expect(l).toBeLessThan(d.classes);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
