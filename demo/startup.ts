// What the page needs before it can train: a look for a WebGPU adapter (probed on the
// main thread, then released: each run opens its own device in its worker) and MNIST.
import { acquireGpu, adapterName, type Dataset } from '../src/index.ts';
import type { PixelDataset } from '../src/data/dataset.ts';
import type { FetchProgress } from '../src/data/fetch-idx.ts';
import type { IdxSplit } from '../src/data/idx.ts';
import type { MnistReply, MnistRequest } from './mnist-worker.ts';
import { $, errorText } from './dom.ts';
import { say } from './messages.ts';
import type { GpuStatus } from './state.ts';

/** Is there a WebGPU adapter here? Shown on the adapter chip, and the banner when there is none. */
export async function probeGpu(): Promise<GpuStatus> {
  const chip = $('adapter');
  try {
    const ctx = await acquireGpu();
    const name = adapterName(ctx.adapter);
    ctx.device.destroy();
    chip.textContent = `WebGPU · ${name}`;
    chip.className = `chip ${ctx.adapter.isFallback ? 'warn' : 'ok'}`;
    chip.title = ctx.adapter.isFallback ? 'A software adapter: correct, but far slower than a GPU' : 'Training runs on this adapter';
    if (ctx.adapter.isFallback) say(`WebGPU adapter: ${name}. A software adapter is slow: keep the network and batch small.`);
    else say(`WebGPU adapter: ${name}.`);
    return { available: true, adapter: name, fallback: ctx.adapter.isFallback };
  } catch (e) {
    // The engine's message speaks to Node users too; say it the browser's way.
    const reason =
      typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu
        ? 'This browser exposes no WebGPU (navigator.gpu is missing): use a current Chrome, Edge or Safari, or Firefox with WebGPU enabled.'
        : /no webgpu adapter/i.test(errorText(e))
          ? 'The browser offers WebGPU but found no usable adapter: WebGPU may be switched off in its settings, or this GPU or driver is blocklisted.'
          : `WebGPU could not be started: ${errorText(e)}`;
    chip.textContent = 'WebGPU unavailable';
    chip.className = 'chip bad';
    chip.title = reason;
    $('gpu-reason').textContent = reason;
    $('gpu-banner').hidden = false;
    say(`No WebGPU. ${reason} The CPU backend is offered instead.`);
    return { available: false, reason };
  }
}

/** MNIST from the page's own mnist/ folder (gzipped IDX files), progress on the data chip. */
export async function loadData(): Promise<{ train: Dataset; test: Dataset }> {
  const chip = $('data-status');
  const seen = new Map<string, FetchProgress>();
  const progress = (p: FetchProgress) => {
    seen.set(p.url, p);
    const loaded = [...seen.values()].reduce((s, x) => s + x.loaded, 0);
    chip.textContent = `loading MNIST · ${(loaded / 1e6).toFixed(1)} MB`;
  };
  const t0 = performance.now();
  const [train, test] = await Promise.all([fetchInWorker('train', progress), fetchInWorker('test', progress)]);
  chip.textContent = `MNIST · ${train.examples.toLocaleString('en')} train · ${test.examples.toLocaleString('en')} test`;
  chip.className = 'chip ok';
  say(
    `Loaded MNIST (${train.examples.toLocaleString('en')} training and ${test.examples.toLocaleString('en')} test images) in ${((performance.now() - t0) / 1000).toFixed(1)} s.`,
  );
  return { train, test };
}

/** One split, fetched and gunzipped in a worker that is ended afterwards (see mnist-worker.ts). */
function fetchInWorker(split: IdxSplit, progress: (p: FetchProgress) => void): Promise<PixelDataset> {
  const worker = new Worker(new URL('./mnist-worker.ts', import.meta.url), { type: 'module', name: `MNIST ${split}` });
  return new Promise<PixelDataset>((resolve, reject) => {
    worker.onmessage = ({ data: m }: MessageEvent<MnistReply>) => {
      if (m.type === 'progress') return progress(m);
      worker.terminate();
      if (m.type === 'done') resolve(m.data);
      else reject(new Error(m.message));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`the MNIST loader could not run: ${e.message || 'worker error'}`));
    };
    worker.postMessage({ base: new URL('mnist/', location.href).href, split, suffix: '.gz' } satisfies MnistRequest);
  });
}
