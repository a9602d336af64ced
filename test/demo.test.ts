// The demo page end to end, in real headless Chromium on its real WebGPU adapter
// (SwiftShader where there is no GPU): the static build served on 127.0.0.1, two tiny
// configurations trained side by side on real MNIST, the charts fed from the GPU's
// per-step stats, a checkpoint saved and loaded back, a bad file refused on the page, a
// screenshot that is not blank; a lost GPU device survived; the paper's network training in a Web Worker while the
// page's main thread stays free; and the page without WebGPU, offering the CPU backend.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ElementHandle, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzip } from '../src/data/fetch-idx.ts';
import { parseIdx } from '../src/data/idx.ts';
import { decodeCheckpoint } from '../src/io/checkpoint.ts';
import { decodePng, imageStats, launchChromium, serveDirectory, startVite, type Served } from './support/chromium.ts';

// What the page exposes as window.rectigradDemo.snapshot() (the parts read here).
interface RunSnap {
  id: 'A' | 'B';
  state: string;
  error: string | null;
  lost: string | null;
  keptStep: number | null;
  backend: string;
  adapter: string;
  model: string;
  step: number;
  startStep: number;
  latest: { loss: number; accuracy: number; sparsity: number[]; deadUnits: number[]; gradNorm: number[]; deltaNorm: number[] } | null;
  losses: number[];
  epochs: { epoch: number; testError: number }[];
  inspectedStep: number | null;
  weightsDrawnAtStep: number;
  examplesPerSecond: number | null;
}
interface Snap {
  ready: boolean;
  gpu: { available: boolean; adapter?: string; reason?: string };
  running: boolean;
  busy: boolean;
  runs: RunSnap[];
  charts: Record<string, { points: number; series: string[] }>;
  messages: string[];
  errors: string[];
  loaded: Record<string, { name: string; step: number }>;
  saved: Record<string, { name: string; step: number }>;
  lastLoadError: string | null;
  maxStallMs: number;
}

/** One Chrome trace event (the fields read here). */
interface TraceEvent {
  name: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

const root = process.cwd();
const work = mkdtempSync(join(tmpdir(), 'rectigrad-demo-test-'));
const outDir = join(work, 'site');
let site: Served;
let isolatedSite: Served | undefined;

const snapshot = (page: Page) =>
  page.evaluate(() => (window as unknown as { rectigradDemo: { snapshot(): unknown } }).rectigradDemo.snapshot()) as Promise<Snap>;

async function until(page: Page, what: string, test: (s: Snap) => boolean, timeoutMs = 90_000): Promise<Snap> {
  const end = Date.now() + timeoutMs;
  let s = await snapshot(page);
  while (!test(s)) {
    const bad = s.runs.find((r) => r.error);
    if (bad) throw new Error(`run ${bad.id} failed while waiting for ${what}: ${bad.error}`);
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}; page said:\n${JSON.stringify({ ...s, runs: s.runs.map((r) => ({ ...r, losses: r.losses.length })) }, null, 1)}`,
      );
    await new Promise((r) => setTimeout(r, 250));
    s = await snapshot(page);
  }
  return s;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

beforeAll(() => {
  // `npm run build:demo` into a temporary folder: the page exactly as it would be deployed.
  const r = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`vite build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}, 150_000);

afterAll(async () => {
  await site?.close();
  await isolatedSite?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('demo page', () => {
  it('builds to static files with real MNIST inside, and the dev server serves MNIST too', async () => {
    for (const f of [
      'index.html',
      'mnist/train-images-idx3-ubyte.gz',
      'mnist/train-labels-idx1-ubyte.gz',
      'mnist/t10k-images-idx3-ubyte.gz',
      'mnist/t10k-labels-idx1-ubyte.gz',
    ]) {
      expect(existsSync(join(outDir, f)), f).toBe(true);
    }
    const labels = parseIdx(await gunzip(readFileSync(join(outDir, 'mnist/t10k-labels-idx1-ubyte.gz'))));
    expect(labels.dims).toEqual([10000]);
    site = await serveDirectory(outDir);

    const dev = await startVite({ mode: 'dev', cwd: root });
    try {
      const page = await (await fetch(dev.url)).text();
      expect(page).toContain('rectigrad');
      const res = await fetch(`${dev.url}mnist/train-labels-idx1-ubyte.gz`);
      expect(res.status).toBe(200);
      const train = parseIdx(await gunzip(new Uint8Array(await res.arrayBuffer())));
      expect(train.dims).toEqual([60000]);
      // The training worker loads from the sources under the dev server too.
      const chrome = await launchChromium({ webgpu: false });
      try {
        const p = await chrome.browser.newPage();
        await p.goto(`${dev.url}?A.hidden=16&A.batch=32&A.trainExamples=1000&A.testExamples=1000&backend=cpu`);
        await until(p, 'the dev page to load', (x) => x.ready, 60_000);
        await p.click('#start');
        const s = await until(p, 'the dev page to train in its worker', (x) => x.runs.length === 1 && x.runs[0].step >= 3, 60_000);
        expect(s.runs[0].backend).toBe('cpu');
        expect(s.errors).toEqual([]);
        // The dev server's COOP/COEP headers isolate the page: the CPU backend has its threads.
        expect(await p.evaluate(() => crossOriginIsolated)).toBe(true);
        expect(s.messages.filter((m) => m.includes('one thread'))).toEqual([]);
      } finally {
        await chrome.close();
      }
    } finally {
      await dev.close();
    }
  }, 120_000);

  it('trains two configurations side by side on WebGPU, plots the GPU stats, saves and reloads a checkpoint', async () => {
    const downloads = join(work, 'downloads');
    const chrome = await launchChromium({ downloadPath: downloads });
    const pageErrors: string[] = [];
    try {
      const page = await chrome.browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      // Tiny networks on the first 1,000 images: 31 steps per epoch at batch 32; run A with
      // dropout and max-norm, which its checkpoint keeps.
      const q = 'A.hidden=32&A.batch=32&A.trainExamples=1000&A.testExamples=1000&A.dropout=0.1&A.inputDropout=0.05&A.maxNorm=3&compare=1&preset=tanh';
      await page.goto(`${site.url}?${q}`);
      let s = await until(page, 'the page to load MNIST and find an adapter', (x) => x.ready, 60_000);
      expect(s.gpu.available, `the page found no WebGPU adapter in Chromium: ${s.gpu.reason}`).toBe(true);
      expect(s.gpu.adapter).toBeTruthy();
      expect(await page.$eval('#gpu-banner', (e) => (e as HTMLElement).hidden)).toBe(true);

      await page.click('#start');
      // (The charts redraw a few times a second, so they may trail the stats by a frame.)
      s = await until(
        page,
        'both runs to pass step 40, an epoch and a read-back, and the charts to draw them',
        (x) =>
          x.runs.length === 2 &&
          x.runs.every((r) => r.step >= 40 && r.epochs.length >= 1 && (r.inspectedStep ?? 0) > 0 && r.weightsDrawnAtStep > 0) &&
          x.charts.loss.points >= 4 * 40 &&
          x.charts.test.points >= 2,
      );
      const [a, b] = s.runs;
      expect(a.model).toBe('784-32-10 relu');
      expect(b.model).toBe('784-32-10 tanh');
      for (const r of s.runs) {
        expect(r.backend, `run ${r.id} backend`).toBe('webgpu');
        expect(r.adapter).toBe(s.gpu.adapter);
        const l = r.latest!;
        expect(Number.isFinite(l.loss), `run ${r.id} loss ${l.loss}`).toBe(true);
        for (const x of [...l.sparsity, ...l.gradNorm, ...l.deltaNorm]) expect(Number.isFinite(x)).toBe(true);
        for (const x of l.sparsity) expect(x >= 0 && x <= 1).toBe(true);
        expect(r.losses.length).toBeGreaterThanOrEqual(40);
        // The loss fell: the last ten steps against the first ten.
        expect(mean(r.losses.slice(-10)), `run ${r.id} losses ${r.losses.map((x) => x.toFixed(2))}`).toBeLessThan(0.8 * mean(r.losses.slice(0, 10)));
        expect(r.epochs[0].testError).toBeLessThan(0.8);
      }
      // The rectifier has hard zeros; tanh has (almost) none.
      expect(a.latest!.sparsity[0]).toBeGreaterThan(0.05);
      expect(b.latest!.sparsity[0]).toBeLessThan(0.01);
      for (const name of ['loss', 'accuracy', 'sparsity', 'dead', 'grad', 'delta', 'hist', 'test']) {
        const c = s.charts[name];
        expect(c.points, `chart ${name} has no data`).toBeGreaterThan(0);
        expect(c.series.some((l) => l.startsWith('A')) && c.series.some((l) => l.startsWith('B')), `chart ${name} series ${c.series}`).toBe(true);
      }
      expect(s.charts.loss.points).toBeGreaterThanOrEqual(4 * 40);
      expect(s.charts.grad.series.length).toBe(4); // layer 1 and output, for each run
      // The page stayed responsive while it trained.
      expect(s.maxStallMs).toBeLessThan(1500);
      // The first layer's weights were drawn from the device.
      for (const id of ['A', 'B']) {
        const inked = await page.$eval(`#weights-${id}`, (c) => {
          const cv = c as HTMLCanvasElement;
          const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
          let n = 0;
          for (let i = 0; i < px.length; i += 4) if (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250) n++;
          return { n, total: px.length / 4 };
        });
        expect(inked.n / inked.total, `weights canvas ${id}`).toBeGreaterThan(0.3);
      }

      // Pause, save run A, load the file back, train on from where it stopped.
      await page.click('#pause');
      s = await until(page, 'the runs to pause', (x) => !x.running);
      const pausedAt = s.runs[0].step;
      await page.click('#save-A');
      s = await until(page, 'the checkpoint to be saved', (x) => !!x.saved.A);
      const file = await (async () => {
        const end = Date.now() + 30_000;
        for (;;) {
          const f = existsSync(downloads) ? readdirSync(downloads).find((n) => n.endsWith('.safetensors')) : undefined;
          if (f) return join(downloads, f);
          if (Date.now() > end) throw new Error('the checkpoint download never arrived');
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const ck = decodeCheckpoint(readFileSync(file), file);
      expect(ck.step).toBe(pausedAt);
      expect(ck.model.hidden).toEqual([32]);
      expect(ck.model.activation).toBe('relu');
      expect(ck.config).toMatchObject({ batch: 32, trainLimit: 1000, data: 'mnist', dropout: { hidden: 0.1, input: 0.05 }, maxNorm: 3 });

      const input = (await page.$('#load-A')) as ElementHandle<HTMLInputElement> | null;
      await input!.uploadFile(file);
      s = await until(page, 'the checkpoint to load', (x) => x.loaded.A?.step === pausedAt && !x.busy);
      expect(s.lastLoadError).toBeNull();
      expect(s.runs[0].startStep).toBe(pausedAt);
      expect(s.runs[0].step).toBe(pausedAt);
      expect(s.runs[1].id).toBe('B');
      // The loaded run trains on with its dropout and max-norm (the form shows them).
      const form = await page.evaluate(() => ['A-dropout', 'A-inputDropout', 'A-maxNorm'].map((id) => (document.getElementById(id) as HTMLInputElement).value));
      expect(form).toEqual(['0.1', '0.05', '3']);
      expect(await page.$eval('#status-A .sub', (e) => e.textContent)).toContain('dropout 0.1 (input 0.05) · max-norm 3');

      await page.click('#start');
      s = await until(page, 'the loaded run to train on', (x) => x.runs[0].step >= pausedAt + 8);
      expect(Number.isFinite(s.runs[0].latest!.loss)).toBe(true);
      // Continuing from a trained checkpoint, not from scratch: the loss is far below its start.
      expect(s.runs[0].latest!.loss).toBeLessThan(0.8 * mean(a.losses.slice(0, 10)));
      await page.click('#pause');
      await until(page, 'the runs to pause again', (x) => !x.running);

      // A file that is not a checkpoint gets a clear message on the page, and nothing is lost.
      const bad = join(work, 'not-a-checkpoint.safetensors');
      writeFileSync(bad, Buffer.from('this is not a safetensors file at all'));
      await input!.uploadFile(bad);
      s = await until(page, 'the bad file to be refused', (x) => !!x.lastLoadError && !x.busy);
      expect(s.lastLoadError).toMatch(/not-a-checkpoint\.safetensors/);
      const shown = await page.$eval('#messages li.error', (li) => li.textContent ?? '');
      expect(shown).toContain('could not load not-a-checkpoint.safetensors');
      expect(s.runs.map((r) => r.id)).toEqual(['A', 'B']);
      expect(pageErrors).toEqual([]);

      // A screenshot that shows something.
      const png = await page.screenshot({ fullPage: true });
      const stats = imageStats(decodePng(new Uint8Array(png)));
      expect(stats.distinctColors).toBeGreaterThan(200);
      expect(stats.nonBackground).toBeGreaterThan(0.2);
    } finally {
      await chrome.close();
    }
  }, 240_000);

  it('survives a lost GPU device: says so, keeps its charts, and continues on a new device from the step it kept', async () => {
    site ??= await serveDirectory(outDir);
    const chrome = await launchChromium();
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      // 8 steps per epoch (256 images at batch 32): the page keeps the state at each epoch's end.
      await page.goto(`${site.url}?A.hidden=16&A.batch=32&A.trainExamples=256&A.testExamples=256&A.epochs=200`);
      let s = await until(page, 'the page to load', (x) => x.ready, 60_000);
      expect(s.gpu.available, `no WebGPU adapter in Chromium: ${s.gpu.reason}`).toBe(true);
      await page.click('#start');
      await until(page, 'a state kept at an epoch end', (x) => x.runs.length === 1 && (x.runs[0].keptStep ?? 0) >= 8 && x.runs[0].step >= 10);

      await page.evaluate(() => (window as unknown as { rectigradDemo: { loseDevice(id: string): Promise<void> } }).rectigradDemo.loseDevice('A'));
      s = await until(page, 'the lost device to be reported', (x) => x.runs[0].state === 'lost' && !x.running);
      const lost = s.runs[0];
      const kept = lost.keptStep!;
      expect(lost.lost).toMatch(/destroyed/);
      expect(kept).toBeGreaterThanOrEqual(8);
      expect(kept % 8).toBe(0);
      expect(lost.step).toBeGreaterThanOrEqual(kept);
      // Nothing was thrown away: every step's loss is still there, and the charts show them.
      expect(lost.losses.length).toBe(lost.step);
      expect(s.charts.loss.points).toBeGreaterThan(0);
      expect(s.errors.find((e) => e.includes('the GPU device was lost'))).toContain(`continue from step ${kept}`);
      const banner = await page.$eval('#lost-banner', (e) => ({ hidden: (e as HTMLElement).hidden, text: e.textContent!.replace(/\s+/g, ' ') }));
      expect(banner.hidden).toBe(false);
      expect(banner.text).toContain('The GPU device was lost');
      expect(banner.text).toContain(`continue from step ${kept}`);
      expect(await page.$eval('#continue-lost', (e) => e.textContent)).toBe('Continue on a new device');
      // Saving now writes the state kept last (the device has nothing left to read).
      await page.click('#save-A');
      s = await until(page, 'the kept state to be saved', (x) => !!x.saved.A);
      expect(s.saved.A.step).toBe(kept);

      await page.click('#continue-lost');
      s = await until(page, 'training to go on from the kept step', (x) => x.runs[0].state === 'running' && x.runs[0].step >= kept + 4, 60_000);
      const r = s.runs[0];
      expect(r.backend).toBe('webgpu');
      expect(s.messages).toContain(`Run A: a new device on ${r.adapter}; training goes on from step ${kept}.`);
      // The steps count on from the kept one: the history is contiguous from step 1.
      expect(r.losses.length).toBe(r.step);
      expect(Number.isFinite(r.latest!.loss)).toBe(true);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(await page.$eval('#lost-banner', (e) => (e as HTMLElement).hidden)).toBe(true);
      console.log(`device lost after step ${lost.step}; the page had kept step ${kept}; on a new device it trained on to step ${r.step}`);
      await page.click('#pause');
      await until(page, 'the run to pause', (x) => !x.running);
      expect(pageErrors).toEqual([]);

      // Lost before anything was kept (125 steps per epoch, kept at its end): the page offers to start over.
      const early = await chrome.browser.newPage();
      early.on('pageerror', (e) => pageErrors.push(String(e)));
      await early.goto(`${site.url}?A.hidden=16&A.batch=32&A.trainExamples=4000&A.testExamples=256`);
      await until(early, 'the second page to load', (x) => x.ready, 60_000);
      await early.click('#start');
      await until(early, 'a first step', (x) => x.runs.length === 1 && x.runs[0].step >= 1);
      await early.evaluate(() => (window as unknown as { rectigradDemo: { loseDevice(id: string): Promise<void> } }).rectigradDemo.loseDevice('A'));
      s = await until(early, 'the early loss to be reported', (x) => x.runs[0].state === 'lost' && !x.running);
      expect(s.runs[0].keptStep).toBeNull();
      expect(s.runs[0].step).toBeLessThan(125);
      expect(s.errors.find((e) => e.includes('the GPU device was lost'))).toContain('start over from step 0');
      expect(await early.$eval('#continue-lost', (e) => e.textContent)).toBe('Start over on a new device');
      await early.click('#continue-lost');
      s = await until(early, 'the run to start over', (x) => x.runs[0].state === 'running' && x.runs[0].step >= 2, 60_000);
      expect(s.messages).toContain(`Run A: a new device on ${s.runs[0].adapter}; training goes on from step 0.`);
      expect(s.runs[0].losses.length).toBe(s.runs[0].step);
      expect(Number.isFinite(s.runs[0].latest!.loss)).toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      await chrome.close();
    }
  }, 150_000);

  // A frame of chart drawing takes 20–40 ms of main-thread CPU on this shared 2-core
  // machine, and now and then (a garbage collection in the same task) more: a run over the
  // limit is tried again, so only a page that is over it every time fails. (Sweeping the
  // buffers MNIST's loading leaves took 60–140 ms tasks here until the page loaded it in a
  // worker of its own: demo/mnist-worker.ts.)
  it("trains the paper's 784-1000-1000-1000-10 on the CPU backend in a worker: no main-thread task over 50 ms", { retry: 2, timeout: 240_000 }, async () => {
    // Served as the dev and preview servers serve it, cross-origin isolated: the worker's
    // matmuls split across helper workers.
    isolatedSite ??= await serveDirectory(outDir, { crossOriginIsolated: true });
    const chrome = await launchChromium({ webgpu: false });
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${isolatedSite.url}?A.hidden=1000,1000,1000&A.batch=64&A.trainExamples=1000&A.testExamples=1000&backend=cpu`);
      await until(page, 'the page to load', (x) => x.ready, 60_000);
      // Long tasks from here on (building the run, training, drawing), as the page sees
      // them, and a trace of the main thread to tell work from waiting for a core.
      await page.tracing.start({ categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink.user_timing'] });
      const supported = await page.evaluate(() => {
        const w = window as unknown as { longTasks: { start: number; duration: number }[] };
        w.longTasks = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration });
        }).observe({ type: 'longtask' });
        performance.mark('rectigrad-clock');
        return PerformanceObserver.supportedEntryTypes.includes('longtask');
      });
      expect(supported).toBe(true);
      await page.click('#start');
      const s = await until(
        page,
        'three steps of the paper network',
        (x) => x.runs.length === 1 && x.runs[0].step >= 3 && (x.runs[0].inspectedStep ?? 0) > 0,
        180_000,
      );
      expect(s.runs[0].model).toBe('784-1000-1000-1000-10 relu');
      expect(s.runs[0].backend).toBe('cpu');
      expect(s.messages.filter((m) => m.includes('one thread'))).toEqual([]);
      expect(Number.isFinite(s.runs[0].latest!.loss)).toBe(true);
      // Let the charts draw what arrived, then read what the observer saw.
      await new Promise((r) => setTimeout(r, 500));
      const { longTasks, clock } = await page.evaluate(() => ({
        longTasks: (window as unknown as { longTasks: { start: number; duration: number }[] }).longTasks,
        clock: performance.getEntriesByName('rectigrad-clock')[0].startTime,
      }));
      const trace = JSON.parse(new TextDecoder().decode(await page.tracing.stop())) as { traceEvents: TraceEvent[] };
      const ev = trace.traceEvents;
      // The page's main thread, and the trace time (µs) of the page's clock mark.
      const threads = new Map(ev.filter((e) => e.name === 'thread_name').map((e) => [`${e.pid}:${e.tid}`, String(e.args?.name)]));
      const mark = ev.find((e) => e.name === 'rectigrad-clock')!;
      expect(mark, 'the clock mark in the trace').toBeTruthy();
      const mainTasks = ev.filter(
        (e) => e.name === 'RunTask' && e.pid === mark.pid && threads.get(`${e.pid}:${e.tid}`) === 'CrRendererMain' && e.dur !== undefined,
      );
      expect(mainTasks.length).toBeGreaterThan(50);
      // A long task's wall time counts every moment the thread waited for a core (this
      // machine is shared: the worker trains on one of its cores). What the page itself
      // did in it is the thread time of the main-thread task the observer saw.
      const report = longTasks.map((t) => {
        const at = mark.ts + (t.start - clock) * 1000;
        const end = at + t.duration * 1000;
        // The main-thread task that overlaps the long task most (clocks agree to a few µs).
        const overlap = (m: TraceEvent) => Math.min(end, m.ts + m.dur!) - Math.max(at, m.ts);
        const task = mainTasks.filter((m) => overlap(m) > 0).sort((a, b) => overlap(b) - overlap(a))[0];
        return { wallMs: Math.round(t.duration), cpuMs: task?.tdur === undefined ? undefined : Math.round(task.tdur / 1000) };
      });
      const longest = Math.max(0, ...mainTasks.map((m) => (m.tdur ?? 0) / 1000));
      const said = `long tasks seen by the page (wall ms / main-thread CPU ms): ${JSON.stringify(report)}; longest main-thread task CPU ${longest.toFixed(1)} ms; the worker trained ${Math.round(s.runs[0].examplesPerSecond ?? 0)} examples/s`;
      console.log(said);
      for (const r of report) {
        expect(r.cpuMs, said).toBeDefined();
        expect(r.cpuMs!, said).toBeLessThanOrEqual(50);
      }
      expect(longest, said).toBeLessThanOrEqual(50);
      expect(pageErrors).toEqual([]);
    } finally {
      await chrome.close();
    }
  });

  it('without WebGPU says so plainly and offers the CPU backend, which trains', async () => {
    const chrome = await launchChromium({ webgpu: false });
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${site.url}?A.hidden=16&A.batch=32&A.trainExamples=1000&A.testExamples=1000&A.epochs=1`);
      let s = await until(page, 'the page to load', (x) => x.ready, 60_000);
      expect(s.gpu.available).toBe(false);
      const banner = await page.$eval('#gpu-banner', (e) => ({ hidden: (e as HTMLElement).hidden, text: e.textContent!.replace(/\s+/g, ' ') }));
      expect(banner.hidden).toBe(false);
      expect(banner.text).toContain('WebGPU is not available in this browser');
      expect(banner.text).toContain('CPU backend');
      expect(await page.$eval('#start', (e) => (e as HTMLButtonElement).disabled)).toBe(true);

      await page.click('#use-cpu');
      await page.click('#start');
      s = await until(page, 'the CPU run to train', (x) => x.runs.length === 1 && x.runs[0].step >= 10, 60_000);
      expect(s.runs[0].backend).toBe('cpu');
      expect(Number.isFinite(s.runs[0].latest!.loss)).toBe(true);
      expect(pageErrors).toEqual([]);
      // Served without COOP/COEP: where there are cores to spare, the page says in one line
      // why the CPU backend runs on one thread.
      const cores = await page.evaluate(() => navigator.hardwareConcurrency);
      const said = s.messages.filter((m) => m.includes('one thread'));
      expect(said).toEqual(cores > 1 ? [expect.stringContaining('one thread: the page is not cross-origin isolated')] : []);

      // A browser with no navigator.gpu at all gets the same offer.
      const bare = await chrome.browser.newPage();
      await bare.evaluateOnNewDocument(() => {
        delete (Navigator.prototype as { gpu?: unknown }).gpu;
      });
      await bare.goto(site.url);
      s = await until(bare, 'the page without navigator.gpu to load', (x) => x.ready, 60_000);
      expect(s.gpu.available).toBe(false);
      expect(await bare.$eval('#gpu-banner', (e) => e.textContent)).toContain('navigator.gpu is missing');
    } finally {
      await chrome.close();
    }
  }, 120_000);
});
