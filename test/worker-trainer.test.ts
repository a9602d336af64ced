// WorkerTrainer in real headless Chromium: a page built by Vite from the library's
// sources trains in a Web Worker on the CPU backend and on WebGPU (SwiftShader here),
// with the same stats stream, AbortSignal, evaluation and predictions as a Trainer on the
// page's own thread, and errors that cross back as the library's errors (a lost device
// as DeviceLostError, after which a new worker continues from a state kept before).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveDirectory, type Served } from './support/chromium.ts';

const work = mkdtempSync(join(tmpdir(), 'rectigrad-worker-test-'));
const src = join(process.cwd(), 'src');
let site: Served;

const PAGE = `
import { CpuBackend, DEFAULT_OPTIMIZER, DeviceLostError, Predictor, Trainer, TrainingDivergedError, WorkerTrainer, datasetFromArrays, modelSpec, syntheticDataset } from '${src}/index.ts';

const px = syntheticDataset({ examples: 320, features: 20, classes: 5, seed: 3 });
const floats = Float32Array.from(px.images, (b) => b * px.scale + px.shift);
const train = datasetFromArrays({ inputs: floats, labels: px.labels, features: 20, classes: 5, name: 'floats' });
const test = datasetFromArrays({ inputs: floats.slice(0, 100 * 20), labels: px.labels.slice(0, 100), features: 20, classes: 5, name: 'held out' });
const model = modelSpec({ inputs: 20, classes: 5, hidden: [24, 17], seed: 11 });
const options = { batch: 16, l1: 0, telemetry: true, optimizer: { ...DEFAULT_OPTIMIZER }, lr: 0.05, shuffleSeed: 5 };
const errorOf = async (p) => { try { await p; return null; } catch (e) { return { message: e.message, diverged: e instanceof TrainingDivergedError, lost: e instanceof DeviceLostError }; } };

async function exercise(backend) {
  const t = await WorkerTrainer.create({ backend, model, options, train, test });
  const first = [];
  for await (const s of t.run(5)) first.push(s.step);
  const ac = new AbortController();
  const second = [];
  for await (const s of t.run(1000, { signal: ac.signal })) {
    second.push(s.step);
    if (s.step === 8) ac.abort();
  }
  const afterAbort = t.step;
  await t.setLearningRate(0.02);
  const more = [];
  for await (const s of t.run(2)) more.push({ step: s.step, loss: s.loss, sparsity: s.sparsity });
  const ev = await t.evaluate();
  const inputs = floats.slice(0, 7 * 20);
  const pred = await t.predict(inputs, { hidden: true });
  // The same parameters on this page's own CPU backend.
  const params = await t.getParams();
  const cpu = new CpuBackend();
  const local = await (await Predictor.create(cpu, model, params)).predict(inputs);
  cpu.destroy();
  let maxDiff = 0;
  for (let i = 0; i < local.probabilities.length; i++) maxDiff = Math.max(maxDiff, Math.abs(local.probabilities[i] - pred.probabilities[i]));
  const state = await t.state({ note: 'x' });
  const acts = await t.activations();
  const active = await t.activeInWindow(0);
  const w = await t.weights(0, 3);
  const badLayer = await errorOf(t.weights(7));
  await t.destroy();
  const afterDestroy = await errorOf(t.evaluate());
  return {
    info: t.info, first, second, afterAbort, more, ev, maxDiff, hidden: pred.hidden.map((h) => h.length),
    sums: Array.from({ length: 7 }, (_, r) => pred.probabilities.slice(r * 5, r * 5 + 5).reduce((a, b) => a + b, 0)),
    stateStep: state.step, stateConfig: state.config, acts: acts.map((a) => a.length), active: active.length, activeSum: active.reduce((a, b) => a + b, 0),
    weights: w.length, badLayer, afterDestroy,
  };
}

window.result = (async () => {
  const out = {};
  out.cpu = await exercise('cpu');
  out.webgpu = await exercise('webgpu');
  out.badData = await errorOf(WorkerTrainer.create({ backend: 'cpu', model, options, train: { ...train, labels: train.labels.map(() => 9) } }));
  const wild = await WorkerTrainer.create({ backend: 'cpu', model, options: { ...options, lr: 1e30 }, train });
  out.diverged = await errorOf((async () => { for await (const s of wild.run(50)) void s; })());
  await wild.destroy();
  // A lost device: the next call says so as a DeviceLostError; a new worker goes on from a state kept before.
  const gpu = await WorkerTrainer.create({ backend: 'webgpu', model, options, train });
  for await (const s of gpu.run(3)) void s;
  const kept = await gpu.state();
  await gpu.loseDevice();
  out.lost = await errorOf((async () => { for await (const s of gpu.run(2)) void s; })());
  await gpu.destroy();
  const again = await WorkerTrainer.create({ backend: 'webgpu', model, options, train, resume: kept });
  out.resumed = [];
  for await (const s of again.run(2)) out.resumed.push({ step: s.step, loss: s.loss });
  await again.destroy();
  const cpuT = await WorkerTrainer.create({ backend: 'cpu', model, options, train });
  out.cpuLose = await errorOf(cpuT.loseDevice());
  await cpuT.destroy();
  // A learning-rate schedule crosses to the worker as data: its run is the page's own Trainer's.
  const momentum = { ...options, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum' } };
  const sched = { ...momentum, lrSchedule: { kind: 'cosine', warmup: 3, total: 10 } };
  const losses = async (it) => { const l = []; for await (const s of it) l.push(s.loss); return l; };
  const ws = await WorkerTrainer.create({ backend: 'cpu', model, options: sched, train });
  out.schedWorker = await losses(ws.run(10));
  await ws.destroy();
  out.schedPage = await losses((await Trainer.create(new CpuBackend(), model, sched, train)).run(10));
  out.constPage = await losses((await Trainer.create(new CpuBackend(), model, momentum, train)).run(10));
  return out;
})().catch((e) => ({ failed: String(e && e.stack || e) }));
`;

beforeAll(async () => {
  const root = join(work, 'page');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(root);
  writeFileSync(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>worker</title><script type="module" src="./main.ts"></script>');
  writeFileSync(join(root, 'main.ts'), PAGE);
  await build({ root, configFile: false, logLevel: 'warn', base: './', build: { outDir: join(work, 'site'), target: 'es2022', emptyOutDir: true } });
  site = await serveDirectory(join(work, 'site'));
}, 150_000);

afterAll(async () => {
  await site?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('WorkerTrainer in Chromium', () => {
  it('trains in a worker on the CPU and on WebGPU, stops on abort, evaluates and predicts like the page would', async () => {
    const chrome = await launchChromium();
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(site.url);
      const r = (await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result)) as Record<string, any>;
      expect(r.failed, r.failed).toBeUndefined();
      for (const kind of ['cpu', 'webgpu']) {
        const x = r[kind];
        expect(x.info.backend).toBe(kind);
        expect(x.info.stepsPerEpoch).toBe(20);
        expect(x.first).toEqual([1, 2, 3, 4, 5]);
        // Aborted at step 8 of 1000: every step run was reported, and it stopped soon after
        // (the worker keeps stepping while the abort message travels: how many steps that is
        // depends on the machine, so the bound is loose: well short of the 1000 asked for).
        expect(x.second[0]).toBe(6);
        expect(x.second.at(-1)).toBe(x.afterAbort);
        expect(x.afterAbort).toBeGreaterThanOrEqual(8);
        expect(x.afterAbort).toBeLessThan(40);
        expect(x.more.map((s: { step: number }) => s.step)).toEqual([x.afterAbort + 1, x.afterAbort + 2]);
        for (const s of x.more) expect(Number.isFinite(s.loss)).toBe(true);
        expect(x.ev.examples).toBe(100);
        expect(Number.isFinite(x.ev.loss)).toBe(true);
        expect(x.ev.error).toBeGreaterThanOrEqual(0);
        expect(x.ev.error).toBeLessThanOrEqual(1);
        expect(x.ev.sparsity.length).toBe(2);
        expect(x.maxDiff, `${kind}: worker vs page predictions`).toBeLessThan(kind === 'cpu' ? 1e-7 : 1e-4);
        for (const s of x.sums) expect(s).toBeCloseTo(1, 5);
        expect(x.hidden).toEqual([7 * 24, 7 * 17]);
        expect(x.stateStep).toBe(x.afterAbort + 2);
        expect(x.stateConfig).toEqual({ note: 'x' });
        expect(x.acts).toEqual([16 * 24, 16 * 17]);
        expect(x.active).toBe(24);
        expect(x.activeSum).toBeGreaterThan(0);
        expect(x.weights).toBe(3 * 20);
        expect(x.badLayer.message).toMatch(/layer 7 does not exist/);
        expect(x.afterDestroy.message).toMatch(/destroyed/);
      }
      expect(r.badData.message).toMatch(/label 9 of example 0 is out of range/);
      expect(r.diverged.diverged, JSON.stringify(r.diverged)).toBe(true);
      expect(r.diverged.message).toMatch(/training diverged at step \d+/);
      expect(r.lost, JSON.stringify(r.lost)).toMatchObject({ lost: true, diverged: false });
      expect(r.lost.message).toMatch(/GPU device was lost \(destroyed\)/);
      expect(r.resumed.map((s: { step: number }) => s.step)).toEqual([4, 5]);
      for (const s of r.resumed) expect(Number.isFinite(s.loss)).toBe(true);
      expect(r.cpuLose.message).toMatch(/only a WebGPU device can be lost/);
      expect(r.schedWorker).toHaveLength(10);
      expect(r.schedWorker).toEqual(r.schedPage);
      expect(r.schedPage.slice(2)).not.toEqual(r.constPage.slice(2)); // the schedule changed the run
      expect(pageErrors).toEqual([]);
    } finally {
      await chrome.close();
    }
  }, 180_000);
});
