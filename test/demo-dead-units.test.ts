// The demo page's dead units, end to end in headless Chromium on real MNIST: the unit maps
// of every hidden layer, the dead-unit policy reaching the trainer (revive and prune side by
// side, their checks marked on the charts, a prune shrinking the map), the alarm of a run
// made to die, and the paper's network, trained, loaded with one click and measured on the
// 10,000 test images. Small networks and a few dozen steps, except the trained network.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '../src/io/checkpoint.ts';
import { launchChromium, serveDirectory, startVite, type Served } from './support/chromium.ts';

interface LayerMap {
  units: number;
  dead: number;
  rare: number;
  active: number;
  cells: number;
}
interface RunSnap {
  id: 'A' | 'B';
  error: string | null;
  model: string;
  step: number;
  backend: string;
  config: { deadUnits: string };
  widths: number[];
  alarms: { layer: number; step: number; deadFraction: number; cause: string; message: string }[];
  checks: { step: number; dead: number[]; revived: number[]; pruned: number[]; widths: number[] }[];
  events: { step: number; kind: string; label: string }[];
  unitMap: { source: string | null; step: number | null; examples: number; layers: LayerMap[]; alarmText: string | null };
  testMeasure: { examples: number; of: number; error: number; sparsity: number[]; deadUnits: number[]; rareUnits: number[]; done: boolean } | null;
  epochs: { epoch: number; step: number; testError: number }[];
}
interface Snap {
  ready: boolean;
  gpu: { available: boolean; reason?: string };
  running: boolean;
  runs: RunSnap[];
  trained: { state: string; error?: string };
  charts: Record<string, { points: number; markers: { x: number; label: string }[] }>;
  messages: string[];
  errors: string[];
}

const root = process.cwd();
const work = mkdtempSync(join(tmpdir(), 'rectigrad-demo-dead-'));
const outDir = join(work, 'site');
const CHECKPOINT = join(root, 'docs/glorot2011/rectifier.safetensors');
let site: Served;

const snapshot = (page: Page) =>
  page.evaluate(() => (window as unknown as { rectigradDemo: { snapshot(): unknown } }).rectigradDemo.snapshot()) as Promise<Snap>;

async function until(page: Page, what: string, test: (s: Snap) => boolean, timeoutMs = 90_000): Promise<Snap> {
  const end = Date.now() + timeoutMs;
  let s = await snapshot(page);
  while (!test(s)) {
    const bad = s.runs.find((r) => r.error);
    if (bad) throw new Error(`run ${bad.id} failed while waiting for ${what}: ${bad.error}`);
    if (s.trained.state === 'error') throw new Error(`the trained network failed while waiting for ${what}: ${s.trained.error}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; page said:\n${JSON.stringify({ ...s, messages: s.messages.slice(-12) }, null, 1)}`);
    await new Promise((r) => setTimeout(r, 250));
    s = await snapshot(page);
  }
  return s;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`vite build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}, 150_000);

afterAll(async () => {
  await site?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('demo page: dead units', () => {
  it('revive and prune reach the trainer: unit maps per hidden layer, checks marked on the charts, a pruned map smaller', async () => {
    site ??= await serveDirectory(outDir);
    const chrome = await launchChromium({ webgpu: false });
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      // 31 steps per epoch (the dead-unit window): a check at step 31. Run A revives at a
      // learning rate that kills a few units; run B prunes at one that kills most.
      const common = 'hidden=32,16&batch=32&trainExamples=1000&testExamples=1000&optimizer=sgd&epochs=3';
      const q = [
        'backend=cpu&compare=1&preset=custom',
        ...common.split('&').flatMap((kv) => [`A.${kv}`, `B.${kv}`]),
        'A.lr=0.5&A.deadUnits=revive',
        'B.lr=3&B.deadUnits=prune',
      ].join('&');
      await page.goto(`${site.url}?${q}`);
      await until(page, 'the page to load', (x) => x.ready, 60_000);
      await page.click('#start');
      let s = await until(
        page,
        'both runs past their first check, read back and drawn after it',
        (x) =>
          x.runs.length === 2 &&
          x.runs.every((r) => r.checks.length >= 1 && (r.unitMap.step ?? 0) > 31 && r.unitMap.layers.every((l) => l.cells === l.units)) &&
          x.charts.loss.markers.length >= 2,
      );
      await page.click('#pause');
      s = await until(page, 'the runs to pause', (x) => !x.running);
      const [a, b] = s.runs;

      // The policy chosen per run reached its trainer: only revive and prune run checks.
      expect(a.config.deadUnits).toBe('revive');
      expect(b.config.deadUnits).toBe('prune');
      expect(a.checks[0].step).toBe(31);
      expect(sum(a.checks[0].revived), JSON.stringify(a.checks)).toBeGreaterThan(0);
      expect(a.checks[0].revived).toEqual(a.checks[0].dead);
      expect(a.widths).toEqual([32, 16]);
      expect(b.checks[0].step).toBe(31);
      expect(sum(b.checks[0].pruned), JSON.stringify(b.checks)).toBeGreaterThan(0);
      expect(b.widths).toEqual(b.checks.at(-1)!.widths);
      expect(b.widths[0]).toBeLessThan(32);
      expect(b.model).toBe(`784-${b.widths.join('-')}-10 relu`);

      // One map per hidden layer, one cell per unit; the pruned run's maps shrank with it.
      expect(a.unitMap.source).toBe('window');
      expect(a.unitMap.layers.map((l) => l.units)).toEqual([32, 16]);
      expect(a.unitMap.layers.map((l) => l.cells)).toEqual([32, 16]);
      expect(b.unitMap.layers.map((l) => l.units)).toEqual(b.widths);
      expect(b.unitMap.layers.map((l) => l.cells)).toEqual(b.widths);
      for (const l of [...a.unitMap.layers, ...b.unitMap.layers]) expect(l.dead + l.rare + l.active).toBe(l.units);
      // Run A learns (lr 0.5): most of its units fire.
      expect(a.unitMap.layers[0].active).toBeGreaterThan(16);
      expect(await page.$$eval('#units-A .unit-layer canvas', (cs) => cs.map((c) => Number((c as HTMLCanvasElement).dataset.cells)))).toEqual([32, 16]);
      expect(await page.$$eval('#units-B .unit-layer canvas', (cs) => cs.length)).toBe(2);
      // Pixels, not only counts: the maps are drawn.
      const inked = await page.$eval('#units-A .unit-layer canvas', (c) => {
        const cv = c as HTMLCanvasElement;
        const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250) n++;
        return n / (px.length / 4);
      });
      expect(inked).toBeGreaterThan(0.5);

      // Revive and prune marked at their step on the charts.
      for (const name of ['loss', 'sparsity', 'dead']) {
        const labels = s.charts[name].markers.map((m) => `${m.x} ${m.label}`);
        expect(labels, name).toContain(`31 A: revived ${sum(a.checks[0].revived)}`);
        expect(labels, name).toContain(`31 B: pruned ${sum(b.checks[0].pruned)}`);
      }
      expect(s.messages).toContain(
        `Run B: the check at step 31 pruned ${b.checks[0].pruned.join(' / ')} dead units: the network is now 784-${b.checks[0].widths.join('-')}-10.`,
      );
      // The prune killed most of run B: its scan raised the alarm, shown in its panel.
      expect(b.alarms.length).toBeGreaterThan(0);
      expect(b.unitMap.alarmText).toContain(`died at step 31`);
      expect(pageErrors).toEqual([]);
      expect(s.errors).toEqual([]);
    } finally {
      await chrome.close();
    }
  }, 150_000);

  it('raises the alarm for a run made to die (learning rate 10, WebGPU): layer, step, fraction and cause on the page', async () => {
    site ??= await serveDirectory(outDir);
    const chrome = await launchChromium();
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${site.url}?A.hidden=32&A.batch=32&A.trainExamples=1000&A.testExamples=1000&A.optimizer=sgd&A.lr=10&A.epochs=4`);
      let s = await until(page, 'the page to load', (x) => x.ready, 60_000);
      expect(s.gpu.available, `no WebGPU adapter in Chromium: ${s.gpu.reason}`).toBe(true);
      await page.click('#start');
      s = await until(
        page,
        'the dead-layer alarm, shown, and the map read back after it',
        (x) => x.runs.length === 1 && x.runs[0].alarms.length > 0 && !!x.runs[0].unitMap.alarmText && (x.runs[0].unitMap.step ?? 0) >= x.runs[0].alarms[0].step,
        120_000,
      );
      await page.click('#pause');
      s = await until(page, 'the run to pause', (x) => !x.running);
      const r = s.runs[0];
      expect(r.backend).toBe('webgpu');
      expect(r.config.deadUnits).toBe('keep');
      const alarm = r.alarms[0];
      expect(alarm.layer).toBe(1);
      expect(alarm.deadFraction).toBeGreaterThanOrEqual(0.5);
      expect(alarm.cause).toBe('learning-rate');
      const shown = await page.$eval('#units-A .alarm', (e) => ({
        hidden: (e as HTMLElement).hidden,
        text: e.textContent ?? '',
        role: e.getAttribute('role'),
      }));
      expect(shown.hidden).toBe(false);
      expect(shown.role).toBe('alert');
      expect(shown.text).toContain(`Hidden layer 1 died at step ${alarm.step}: ${Math.round(100 * alarm.deadFraction)}% of its 32 units dead.`);
      expect(shown.text).toContain('Likely cause: learning rate too high');
      expect(s.messages.some((m) => m.startsWith(`Run A: dead-layer alarm: hidden layer 1 at step ${alarm.step}`))).toBe(true);
      // Marked on the charts at its step, and the map shows the layer dead.
      expect(s.charts.dead.markers).toContainEqual({ x: alarm.step, label: 'layer 1 dead' });
      expect(r.unitMap.layers[0].dead).toBeGreaterThanOrEqual(16);
      expect(pageErrors).toEqual([]);
    } finally {
      await chrome.close();
    }
  }, 180_000);

  it("loads the paper's network, trained, with one click and measures it on the 10,000 test images", async () => {
    expect(existsSync(CHECKPOINT), `${CHECKPOINT} is missing`).toBe(true);
    // In the build, and from the dev server.
    const built = join(outDir, 'trained/glorot2011-rectifier.safetensors');
    expect(existsSync(built)).toBe(true);
    expect(statSync(built).size).toBe(statSync(CHECKPOINT).size);
    const dev = await startVite({ mode: 'dev', cwd: root });
    try {
      const res = await fetch(`${dev.url}trained/glorot2011-rectifier.safetensors`);
      expect(res.status).toBe(200);
      const ck = decodeCheckpoint(new Uint8Array(await res.arrayBuffer()), 'served');
      expect(ck.model.hidden).toEqual([1000, 1000, 1000]);
    } finally {
      await dev.close();
    }

    // Cross-origin isolated, as the dev and preview servers serve it: the CPU backend's
    // matmuls use helper threads.
    const isolated = await serveDirectory(outDir, { crossOriginIsolated: true });
    const chrome = await launchChromium({ webgpu: false });
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${isolated.url}?backend=cpu`);
      await until(page, 'the page to load', (x) => x.ready, 60_000);
      const t0 = Date.now();
      await page.click('#trained-net');
      // Live: partial figures show before the last test image is through.
      const partial = await until(page, 'a first part of the test set measured', (x) => (x.runs[0]?.testMeasure?.examples ?? 0) > 0, 120_000);
      const s = await until(page, 'the test set measured', (x) => x.trained.state === 'done', 180_000);
      const seconds = (Date.now() - t0) / 1000;
      const r = s.runs[0];
      const m = r.testMeasure!;
      console.log(
        `trained network: test error ${(100 * m.error).toFixed(2)}% on ${m.examples} images, sparsity ${m.sparsity.map((x) => (100 * x).toFixed(1)).join(' / ')}%, dead ${m.deadUnits.join(' / ')}, rare ${m.rareUnits.join(' / ')}; loaded and measured in ${seconds.toFixed(1)} s`,
      );
      expect(partial.runs[0].testMeasure!.of).toBe(10000);
      expect(r.model).toBe('784-1000-1000-1000-10 relu');
      expect(r.backend).toBe('cpu');
      expect(r.step).toBe(22649);
      expect(m.done).toBe(true);
      expect(m.examples).toBe(10000);
      expect(m.error).toBeLessThan(0.02);
      expect(m.error).toBeGreaterThan(0);
      // Trained with an L1 activation penalty: most outputs are exact zeros.
      for (const x of m.sparsity) expect(x).toBeGreaterThan(0.6);
      // The figures on the page, and the test-error point of its epoch.
      // The page redraws on its next frame after the measurement ends: wait for that frame.
      await page.waitForFunction(() => document.querySelector('#trained-summary')?.textContent?.includes('Test error'), { timeout: 10_000 });
      const summary = await page.$eval('#trained-summary', (e) => ({ hidden: (e as HTMLElement).hidden, text: e.textContent ?? '' }));
      expect(summary.hidden).toBe(false);
      expect(summary.text).toContain(`Test error ${(100 * m.error).toFixed(2)}% on 10,000 MNIST test images`);
      expect(summary.text).toContain(`Sparsity (exact zeros) ${m.sparsity.map((x) => `${(100 * x).toFixed(1)}%`).join(' / ')}`);
      expect(summary.text).toContain(`dead units ${m.deadUnits.join(' / ')}`);
      expect(r.epochs).toContainEqual({ epoch: 29, step: 22649, testError: m.error, testLoss: expect.any(Number) });
      expect(await page.$eval('#status-A', (e) => e.textContent)).toContain(`${(100 * m.error).toFixed(2)}%`);
      // Its recipe's dropout and max-norm come with it, into the form and the status line.
      const form = await page.evaluate(() => ['A-dropout', 'A-inputDropout', 'A-maxNorm'].map((id) => (document.getElementById(id) as HTMLInputElement).value));
      expect(form).toEqual(['0.3', '0.1', '3']);
      expect(await page.$eval('#status-A .sub', (e) => e.textContent)).toContain('dropout 0.3 (input 0.1) · max-norm 3');
      // Its unit maps: every unit of the three layers, on the test images.
      expect(r.unitMap.source).toBe('test');
      expect(r.unitMap.examples).toBe(10000);
      expect(r.unitMap.layers.map((l) => l.cells)).toEqual([1000, 1000, 1000]);
      expect(r.unitMap.layers.map((l) => l.dead)).toEqual(m.deadUnits);
      expect(r.unitMap.layers.map((l) => l.rare)).toEqual(m.rareUnits);
      expect(s.messages.some((x) => x.includes('it holds no momentum state'))).toBe(true);
      expect(pageErrors).toEqual([]);
      expect(s.errors).toEqual([]);
    } finally {
      await chrome.close();
      await isolated.close();
    }
  }, 300_000);
});
