// The IDX reader on the real MNIST files and on corrupted copies of them.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadIdxSplit, mnistDir } from '../src/data/idx-files.ts';
import { gunzip } from '../src/data/fetch-idx.ts';
import { gunzipIdx } from '../src/data/idx-files.ts';
import { IdxError, parseIdx } from '../src/data/idx.ts';

const real = (name: string) => readFileSync(join(mnistDir(), name));

function dirWith(files: Record<string, Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), 'rectigrad-idx-'));
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  return dir;
}

describe('IDX reader', () => {
  it('reads real MNIST: 60,000 training and 10,000 test images of 28×28, labels 0–9', () => {
    const train = loadIdxSplit(mnistDir(), 'train', 'MNIST');
    const test = loadIdxSplit(mnistDir(), 'test', 'MNIST');
    expect(train.examples).toBe(60000);
    expect(test.examples).toBe(10000);
    expect(train.features).toBe(784);
    expect(train.classes).toBe(10);
    // The well-known first training labels: 5 0 4 1 9 2 1 3 1 4.
    expect(Array.from(train.labels.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    const counts = new Array(10).fill(0);
    for (const l of test.labels) counts[l]++;
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let max = 0;
    for (const p of train.images.subarray(0, 784)) max = Math.max(max, p);
    expect(max).toBe(255);
  });

  it('reads gzipped files with the same content', () => {
    const dir = dirWith({
      't10k-images-idx3-ubyte.gz': gzipSync(real('t10k-images-idx3-ubyte')),
      't10k-labels-idx1-ubyte.gz': gzipSync(real('t10k-labels-idx1-ubyte')),
    });
    const a = loadIdxSplit(dir, 'test', 'gz');
    const b = loadIdxSplit(mnistDir(), 'test', 'MNIST');
    expect(Buffer.compare(a.images, b.images)).toBe(0);
    expect(Buffer.compare(a.labels, b.labels)).toBe(0);
  });

  it('names what is wrong with a bad file', () => {
    const labels = real('t10k-labels-idx1-ubyte');
    const images = real('t10k-images-idx3-ubyte');
    expect(() => parseIdx(labels.subarray(0, 5000), 'f')).toThrow(/truncated.*10000.*4992/);
    const magic = Uint8Array.from(labels);
    magic[2] = 0x0d;
    expect(() => parseIdx(magic, 'f')).toThrow(/element type 0x0d/);
    magic[0] = 0x1f;
    magic[1] = 0x8b;
    expect(() => parseIdx(magic, 'f')).toThrow(/gzip/);
    expect(() => parseIdx(new Uint8Array([0, 0]), 'f')).toThrow(/too short/);
    expect(() => parseIdx(Buffer.concat([labels, Buffer.from([1, 2, 3])]), 'f')).toThrow(/3 bytes more/);
    // Counts that disagree between images and labels.
    const fewer = Uint8Array.from(labels.subarray(0, 8 + 9999));
    new DataView(fewer.buffer).setUint32(4, 9999, false);
    const dir = dirWith({ 't10k-images-idx3-ubyte': images, 't10k-labels-idx1-ubyte': fewer });
    expect(() => loadIdxSplit(dir, 'test', 'x')).toThrow(/10000 images but .* 9999 labels/);
    // Swapped files.
    const swapped = dirWith({ 't10k-images-idx3-ubyte': labels, 't10k-labels-idx1-ubyte': images });
    expect(() => loadIdxSplit(swapped, 'test', 'x')).toThrow(/expected 3 dimensions/);
    // A corrupt gzip stream.
    const gz = gzipSync(labels).subarray(0, 200);
    const corrupt = dirWith({ 't10k-images-idx3-ubyte': images, 't10k-labels-idx1-ubyte.gz': gz });
    expect(() => loadIdxSplit(corrupt, 'test', 'x')).toThrow(/gzip data is corrupt/);
    expect(() => loadIdxSplit(dirWith({}), 'test', 'x')).toThrow(/not found/);
    const withDir = dirWith({ 't10k-labels-idx1-ubyte': labels });
    mkdirSync(join(withDir, 't10k-images-idx3-ubyte'));
    expect(() => loadIdxSplit(withDir, 'test', 'x')).toThrow(/t10k-images-idx3-ubyte: cannot be read: it is a directory, not an IDX file/);
  });

  it('sizes gzipped files by their header before inflating them', () => {
    const idx = (dims: number[], data: Uint8Array) => {
      const out = new Uint8Array(4 + 4 * dims.length + data.length);
      out.set([0, 0, 8, dims.length]);
      dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
      out.set(data, 4 + 4 * dims.length);
      return out;
    };
    const pixels = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 37) % 256);
    expect(Array.from(gunzipIdx(gzipSync(idx([3, 4, 5], pixels)), 'f').subarray(16))).toEqual(Array.from(pixels));
    // A header promising 4 G values in a file of a few dozen bytes: refused unread.
    expect(() => gunzipIdx(gzipSync(idx([65536, 256, 256], pixels)), 'f')).toThrow(
      /promises 65536×256×256 = 4294967296 values, more than \d+ compressed bytes can hold/,
    );
    // A bomb: a header for 4×4×4 pixels followed by 50 MB of zeros (50 KB compressed).
    const bomb = gzipSync(Buffer.concat([idx([4, 4, 4], pixels.subarray(0, 64)), Buffer.alloc(50e6)]), { level: 1 });
    const before = process.memoryUsage().arrayBuffers;
    expect(() => gunzipIdx(bomb, 'f')).toThrow(/f: inflates to more than the header's 4×4×4 values/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(20e6);
    expect(() => gunzipIdx(gzipSync(Buffer.from('hello')), 'f')).toThrow(IdxError);
    expect(() => parseIdx(idx([5, 0, 28], new Uint8Array(0)), 'f')).not.toThrow();
    const dir = dirWith({ 't10k-images-idx3-ubyte': idx([2, 0, 28], new Uint8Array(0)), 't10k-labels-idx1-ubyte': idx([2], Uint8Array.from([1, 2])) });
    expect(() => loadIdxSplit(dir, 'test', 'x')).toThrow(/images of 0×28 pixels have no pixels/);
  });

  it('the browser path (DecompressionStream) stops inflating where the header says the file ends', async () => {
    const labels = real('t10k-labels-idx1-ubyte');
    expect(Buffer.compare(await gunzip(gzipSync(labels), 'f'), labels)).toBe(0);
    const bomb = gzipSync(Buffer.concat([labels.subarray(0, 8 + 100).map((b, i) => (i === 6 ? 0 : i === 7 ? 100 : b)), Buffer.alloc(50e6)]), { level: 1 });
    const before = process.memoryUsage().arrayBuffers;
    await expect(gunzip(bomb, 'f')).rejects.toThrow(/^f: inflates to more than the header's 100 values/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(20e6);
    const claims = Uint8Array.from(labels.subarray(0, 108));
    new DataView(claims.buffer).setUint32(4, 2 ** 32 - 1, false);
    await expect(gunzip(gzipSync(claims), 'f')).rejects.toThrow(/promises 4294967295 = 4294967295 values, more than \d+ compressed bytes can hold/);
    await expect(gunzip(gzipSync(labels).subarray(0, 300), 'f')).rejects.toThrow(IdxError);
    await expect(gunzip(gzipSync(labels).subarray(0, 300), 'f')).rejects.toThrow(/gzip data is corrupt or cut off/);
  });
});
