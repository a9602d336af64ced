// The CPU backend's helper threads in a browser (headless Chromium): in a worker of a
// cross-origin isolated page a product is split across a helper Web Worker with the very
// same bits as one thread (dense and sparse paths, the relaxed-SIMD kernels Chromium picks
// and the plain ones); without isolation, and on the page's
// main thread, it runs on one thread and says why in one line.
import { build } from 'esbuild';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LaunchedBrowser } from '../bench/chromium.ts';
import { launchChromium, serveDirectory, type Served } from './support/chromium.ts';

interface Product {
  c: number[];
  adapter: string;
  threadNote: string | null;
  stats: { threads: number; gemms: number; split: number; spmms: number } | null;
}
interface PageResult {
  error?: string;
  main: { adapter: string; threadNote: string | null };
  worker: { error?: string; isolated: boolean; one: Product; two: Product; sparseOne: Product; sparseTwo: Product; plainOne: Product; plainTwo: Product };
}

const fixture = join(process.cwd(), 'test/fixtures/cpu-threads-page');
const work = mkdtempSync(join(tmpdir(), 'rectigrad-cpu-threads-'));
let chrome: LaunchedBrowser;
const sites: Served[] = [];

beforeAll(async () => {
  await build({
    entryPoints: [join(fixture, 'main.ts'), join(fixture, 'worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: work,
    logLevel: 'warning',
  });
  copyFileSync(join(fixture, 'index.html'), join(work, 'index.html'));
  chrome = await launchChromium({ webgpu: false });
}, 60_000);

afterAll(async () => {
  await chrome?.close();
  for (const s of sites) await s.close();
  rmSync(work, { recursive: true, force: true });
});

async function pageResult(crossOriginIsolated: boolean): Promise<PageResult> {
  const site = await serveDirectory(work, { crossOriginIsolated });
  sites.push(site);
  const page = await chrome.browser.newPage();
  try {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(site.url);
    const r = (await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result)) as PageResult;
    expect(errors).toEqual([]);
    expect(r.error).toBeUndefined();
    expect(r.worker.error).toBeUndefined();
    return r;
  } finally {
    await page.close();
  }
}

describe('CPU backend threads in Chromium', () => {
  it('a cross-origin isolated page: the worker splits products across a helper Web Worker, bit for bit', async () => {
    const { main, worker } = await pageResult(true);
    expect(worker.isolated).toBe(true);
    const { one, two, sparseOne, sparseTwo } = worker;
    expect(two.adapter).toMatch(/2 threads/);
    expect(two.threadNote).toBeNull();
    expect(one.stats!.split).toBe(0);
    // The dense product and the sparse one were each split across the helper, twice (a
    // helper that failed once would be dropped) ...
    expect(two.stats).toMatchObject({ threads: 2, gemms: 2, split: 2, spmms: 0 });
    expect(sparseTwo.stats).toMatchObject({ threads: 2, split: 2, spmms: 2 });
    // ... and every element summed the same way as on one thread.
    expect(two.c).toEqual(one.c);
    expect(sparseTwo.c).toEqual(sparseOne.c);
    expect(one.c.some((x) => x !== 0)).toBe(true);
    let worst = 0;
    for (let i = 0; i < one.c.length; i++) worst = Math.max(worst, Math.abs(sparseOne.c[i] - one.c[i]) / Math.max(1, Math.abs(one.c[i])));
    expect(worst).toBeLessThan(1e-4);
    // Chromium validates relaxed SIMD: the default kernels fuse their multiply-adds, so they
    // match the plain kernels to float32 rounding, not bit for bit; the plain ones, forced
    // on the same helpers afterwards, still split bit for bit.
    expect(one.adapter).toMatch(/WebAssembly SIMD \(relaxed FMA\)/);
    expect(two.adapter).toMatch(/WebAssembly SIMD \(relaxed FMA\)/);
    expect(main.adapter).toMatch(/WebAssembly SIMD \(relaxed FMA\)/);
    const { plainOne, plainTwo } = worker;
    expect(plainOne.adapter).toMatch(/^CPU \(WebAssembly SIMD, float32, 1 thread/);
    expect(plainTwo.stats).toMatchObject({ threads: 2, gemms: 2, split: 2 });
    expect(plainTwo.c).toEqual(plainOne.c);
    let fused = 0;
    for (let i = 0; i < one.c.length; i++) fused = Math.max(fused, Math.abs(plainOne.c[i] - one.c[i]) / Math.max(1, Math.abs(one.c[i])));
    expect(fused).toBeLessThan(1e-4);
    expect(one.c.some((x, i) => x !== plainOne.c[i])).toBe(true);
    // The page's main thread may not block on Atomics.wait: one thread, and why.
    expect(main.adapter).toMatch(/1 thread of/);
    expect(main.threadNote).toBe("one thread: a page's main thread cannot wait for helper threads: run the backend in a worker (WorkerTrainer does)");
  });

  it('a page that is not cross-origin isolated: one thread, and one line saying how to get more', async () => {
    const { main, worker } = await pageResult(false);
    expect(worker.isolated).toBe(false);
    const note =
      'one thread: the page is not cross-origin isolated: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp';
    expect(worker.two.threadNote).toBe(note);
    expect(main.threadNote).toBe(note);
    expect(worker.two.adapter).toMatch(/1 thread of/);
    expect(worker.two.stats).toMatchObject({ threads: 1, split: 0 });
    expect(worker.two.c).toEqual(worker.one.c);
  });
});
