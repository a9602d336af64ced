// The demo page: train on real MNIST in this tab (WebGPU, or the CPU backend) and plot,
// live, what every layer of the network does.
import { acquireGpu, adapterName, type Dataset } from '../src/index.ts';
import { fetchIdxSplit, type FetchProgress } from '../src/data/fetch-idx.ts';
import { decodeCheckpoint } from '../src/io/checkpoint.ts';
import { fmtNumber, layerColor, LiveChart, RUN_COLORS, RUN_DASH, type SeriesSpec } from './charts.ts';
import { RunForm } from './form.ts';
import { Buckets } from './history.ts';
import { configFromCheckpoint, Run, type BackendKind, type RunConfig, type RunId } from './run.ts';
import { drawWeightTiles, histogram } from './views.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const IDS: RunId[] = ['A', 'B'];
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const pct = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;

// ---- messages ------------------------------------------------------------------------

const messages: { time: string; text: string; error: boolean }[] = [];
function say(text: string, error = false) {
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  messages.push({ time, text, error });
  const li = document.createElement('li');
  if (error) li.className = 'error';
  const t = document.createElement('time');
  t.textContent = time;
  li.append(t, text);
  const ul = $('messages');
  ul.prepend(li);
  while (ul.children.length > 60) ul.lastChild!.remove();
  if (error) console.warn(text);
}
// Whatever escapes is said on the page, not only in the console.
window.addEventListener('error', (e) => {
  // Browsers report a benign layout notice this way; it is not the page failing.
  if (/ResizeObserver loop/.test(e.message)) return;
  say(`unexpected error: ${e.message}`, true);
});
window.addEventListener('unhandledrejection', (e) => say(`unexpected error: ${errorText(e.reason)}`, true));

// ---- the device and the data ----------------------------------------------------------

interface GpuStatus {
  available: boolean;
  adapter?: string;
  fallback?: boolean;
  reason?: string;
}
let gpu: GpuStatus = { available: false, reason: 'not probed yet' };

async function probeGpu(): Promise<GpuStatus> {
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

let data: { train: Dataset; test: Dataset } | undefined;
async function loadData(): Promise<{ train: Dataset; test: Dataset }> {
  const chip = $('data-status');
  const seen = new Map<string, FetchProgress>();
  const progress = (p: FetchProgress) => {
    seen.set(p.url, p);
    const loaded = [...seen.values()].reduce((s, x) => s + x.loaded, 0);
    chip.textContent = `loading MNIST · ${(loaded / 1e6).toFixed(1)} MB`;
  };
  const t0 = performance.now();
  const [train, test] = await Promise.all([
    fetchIdxSplit('mnist/', 'train', { suffix: '.gz', onProgress: progress }),
    fetchIdxSplit('mnist/', 'test', { suffix: '.gz', onProgress: progress }),
  ]);
  chip.textContent = `MNIST · ${train.examples.toLocaleString('en')} train · ${test.examples.toLocaleString('en')} test`;
  chip.className = 'chip ok';
  say(`Loaded MNIST (${train.examples.toLocaleString('en')} training and ${test.examples.toLocaleString('en')} test images) in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
  return { train, test };
}

// ---- controls -------------------------------------------------------------------------

const forms = { A: new RunForm('A', $('form-A')), B: new RunForm('B', $('form-B')) };
const compare = $<HTMLInputElement>('compare');
const preset = $<HTMLSelectElement>('compare-preset');
const backendSelect = $<HTMLSelectElement>('backend');
const histLayer = $<HTMLSelectElement>('hist-layer');
const weightsMode = $<HTMLSelectElement>('weights-mode');

function applyPreset() {
  if (preset.value === 'custom') return;
  let a: RunConfig;
  try {
    a = forms.A.read();
  } catch {
    return;
  }
  const b: RunConfig = { ...a, optimizer: { ...a.optimizer } };
  if (preset.value === 'tanh' || preset.value === 'softplus') b.activation = a.activation === preset.value ? 'relu' : preset.value;
  if (preset.value === 'l1') b.l1 = a.l1 > 0 ? 0 : 0.001;
  if (preset.value === 'depth') b.hidden = [...a.hidden, ...a.hidden];
  forms.B.fill(b);
}

function showCompare() {
  const on = compare.checked;
  $('panel-B').hidden = !on;
  $('preset-row').hidden = !on;
  $('status-B').hidden = !on && !runs.B;
  $('weights-run-B').hidden = !on && !runs.B;
}

compare.addEventListener('change', () => {
  if (compare.checked) applyPreset();
  showCompare();
  dirty = true;
});
preset.addEventListener('change', applyPreset);
forms.A.onInput = () => {
  if (compare.checked && preset.value !== 'custom' && !runs.B) applyPreset();
  liveEdit('A');
};
forms.B.onInput = () => liveEdit('B');
$('use-cpu').addEventListener('click', () => {
  backendSelect.value = 'cpu';
  $('gpu-banner').hidden = true;
  say('Backend: CPU. Keep the network small (e.g. 128 or 256,256) and press Start.');
  updateButtons();
});
backendSelect.addEventListener('change', () => {
  if (backendSelect.value === 'webgpu' && !gpu.available) say(`WebGPU is not available here (${gpu.reason}). Use the CPU backend.`, true);
  updateButtons();
});

/** The learning rate and the epoch count are read every step: apply edits to the live run. */
function liveEdit(id: RunId) {
  const run = runs[id];
  if (!run) return;
  const lr = Number(forms[id].input('lr').value);
  if (lr > 0 && Number.isFinite(lr) && lr !== run.config.lr) {
    run.setLearningRate(lr);
    say(`Run ${id}: learning rate ${lr} from step ${run.step + 1} on.`);
  }
  const epochs = Number(forms[id].input('epochs').value);
  if (Number.isInteger(epochs) && epochs >= 1 && epochs !== run.config.epochs) {
    run.config.epochs = epochs;
    if (run.state === 'done' && !run.finished) run.state = 'paused';
    say(`Run ${id}: trains until epoch ${epochs}.`);
  }
  dirty = true;
  updateButtons();
}

// ---- runs -----------------------------------------------------------------------------

const runs: Partial<Record<RunId, Run>> = {};
let loops: Promise<void>[] = [];
let stopRequested = false;
let stopper = new AbortController();
let busy = false; // building runs, loading a checkpoint or resetting
let dirty = true;

const presentRuns = () => IDS.map((id) => runs[id]).filter((r): r is Run => !!r);
const running = () => loops.length > 0;

function updateButtons() {
  const any = presentRuns().length > 0;
  const canTrain = presentRuns().some((r) => !r.finished && r.state !== 'error') || IDS.some((id) => !runs[id] && (id === 'A' || compare.checked));
  const backendOk = backendSelect.value === 'cpu' || gpu.available;
  $<HTMLButtonElement>('start').disabled = busy || running() || !data || !canTrain || !backendOk;
  $<HTMLButtonElement>('pause').disabled = !running() || stopRequested;
  $<HTMLButtonElement>('reset').disabled = busy || (!any && !running());
  $<HTMLButtonElement>('start').textContent = any && !running() && presentRuns().some((r) => r.step > 0) ? 'Resume' : 'Start';
  for (const id of IDS) {
    $<HTMLButtonElement>(`save-${id}`).disabled = !runs[id] || busy;
    $<HTMLInputElement>(`load-${id}`).disabled = busy;
    forms[id].lock(!!runs[id] || busy);
  }
  compare.disabled = any || busy;
  preset.disabled = any || busy;
  backendSelect.disabled = any || busy;
}

async function buildRun(id: RunId, config: RunConfig, resume?: Parameters<typeof Run.create>[4]): Promise<Run> {
  const kind = backendSelect.value as BackendKind;
  const model = resume?.model ?? { hidden: config.hidden, activation: config.activation };
  say(`Run ${id}: building ${[784, ...model.hidden, 10].join('-')} ${model.activation} on ${kind === 'webgpu' ? 'WebGPU' : 'the CPU'}${kind === 'webgpu' ? ' (compiling shaders)' : ''}…`);
  const t0 = performance.now();
  const run = await Run.create(id, config, kind, data!, resume);
  run.onChange = () => {
    dirty = true;
  };
  say(
    `Run ${id}: ${run.description}, ${(run.flopsPerExample / 1e6).toFixed(2)} MFLOP per example, ${run.trainer.stepsPerEpoch} steps per epoch; ready in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${run.adapter}.`,
  );
  return run;
}

async function start() {
  if (running() || busy) return;
  busy = true;
  updateButtons();
  try {
    if (!data) throw new Error('MNIST is still loading');
    if (backendSelect.value === 'webgpu' && !gpu.available) {
      throw new Error(`WebGPU is not available here (${gpu.reason}). Choose the CPU backend.`);
    }
    const ids: RunId[] = compare.checked ? ['A', 'B'] : ['A'];
    for (const id of ids) {
      if (runs[id]) continue;
      runs[id] = await buildRun(id, forms[id].read());
    }
    showCompare();
    rebuildLayerSelect();
  } catch (e) {
    say(`Could not start: ${errorText(e)}`, true);
    busy = false;
    updateButtons();
    return;
  }
  busy = false;
  stopRequested = false;
  stopper = new AbortController();
  const active = presentRuns().filter((r) => !r.finished && r.state !== 'error');
  loops = active.map((r) => r.train(stopper.signal));
  heartbeat.reset();
  updateButtons();
  dirty = true;
  await Promise.all(loops);
  loops = [];
  for (const r of active) {
    if (r.state === 'error') say(`Run ${r.id} stopped: ${r.error}`, true);
    else if (r.state === 'done') say(`Run ${r.id} finished ${r.config.epochs} epochs (step ${r.step}). Raise Epochs to go on.`);
  }
  stopRequested = false;
  updateButtons();
  dirty = true;
}

async function pause() {
  if (!running()) return;
  stopRequested = true;
  stopper.abort();
  updateButtons();
  await Promise.all(loops);
  say(`Paused at ${presentRuns().map((r) => `step ${r.step} (${r.id})`).join(', ')}.`);
}

async function reset() {
  busy = true;
  updateButtons();
  await pause();
  for (const id of IDS) {
    const r = runs[id];
    delete runs[id];
    await r?.destroy();
  }
  drawing = undefined;
  for (const c of Object.values(charts)) c.clear();
  for (const id of IDS) {
    const canvas = $<HTMLCanvasElement>(`weights-${id}`);
    canvas.width = canvas.height = 1;
    drawnWeights[id] = -1;
  }
  busy = false;
  showCompare();
  updateButtons();
  dirty = true;
  say('Reset: the settings can be changed again.');
}

function download(bytes: Uint8Array, name: string) {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function save(id: RunId) {
  const run = runs[id];
  if (!run) return;
  try {
    const bytes = await run.save();
    const name = `rectigrad-${run.model.hidden.join('-')}-${run.model.activation}-step${run.step}.safetensors`;
    download(bytes, name);
    lastSaved[id] = { name, step: run.step, bytes: bytes.length };
    say(`Run ${id}: saved ${name} (${(bytes.length / 1e6).toFixed(2)} MB, step ${run.step}).`);
  } catch (e) {
    say(`Run ${id}: could not save a checkpoint: ${errorText(e)}`, true);
  }
}
const lastSaved: Partial<Record<RunId, { name: string; step: number; bytes: number }>> = {};

async function load(id: RunId, file: File) {
  if (busy) return;
  busy = true;
  updateButtons();
  try {
    if (!data) throw new Error('MNIST is still loading; try again in a moment');
    let state;
    try {
      state = decodeCheckpoint(new Uint8Array(await file.arrayBuffer()), file.name);
    } catch (e) {
      throw new Error(`${errorText(e)}. Choose a .safetensors checkpoint saved by this page or by \`rectigrad train --save\`.`);
    }
    const base = (() => {
      try {
        return forms[id].read();
      } catch {
        return configFromCheckpoint(state, forms.A.read());
      }
    })();
    const config = configFromCheckpoint(state, base);
    await pause();
    const old = runs[id];
    delete runs[id];
    await old?.destroy();
    drawnWeights[id] = -1;
    const run = await buildRun(id, config, state);
    if (run.finished) run.config.epochs = run.epoch + Math.max(1, base.epochs);
    runs[id] = run;
    forms[id].fill(run.config);
    if (id === 'B' && !compare.checked) compare.checked = true;
    showCompare();
    rebuildLayerSelect();
    say(`Run ${id}: loaded ${file.name}: ${run.description} at step ${run.step} (epoch ${run.epoch}). Press ${presentRuns().some((r) => r.step > 0) ? 'Resume' : 'Start'} to continue training it.`);
    loadedFrom[id] = { name: file.name, step: run.step };
  } catch (e) {
    say(`Run ${id}: could not load ${file.name}: ${errorText(e)}`, true);
    lastLoadError = errorText(e);
  } finally {
    busy = false;
    updateButtons();
    dirty = true;
  }
}
const loadedFrom: Partial<Record<RunId, { name: string; step: number }>> = {};
let lastLoadError: string | undefined;

$('start').addEventListener('click', () => void start());
$('pause').addEventListener('click', () => void pause());
$('reset').addEventListener('click', () => void reset());
for (const id of IDS) {
  $('save-' + id).addEventListener('click', () => void save(id));
  const input = $<HTMLInputElement>('load-' + id);
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    input.value = '';
    if (f) void load(id, f);
  });
}

// ---- charts ---------------------------------------------------------------------------

const charts = {
  loss: new LiveChart($('chart-loss'), { xLabel: 'step', yLabel: 'loss', log: true }),
  accuracy: new LiveChart($('chart-accuracy'), { xLabel: 'step', yLabel: 'accuracy %', yRange: [0, 100], fmt: (v) => `${v.toFixed(1)}` }),
  sparsity: new LiveChart($('chart-sparsity'), { xLabel: 'step', yLabel: 'zeros %', yRange: [0, 100], fmt: (v) => `${v.toFixed(1)}` }),
  dead: new LiveChart($('chart-dead'), { xLabel: 'step', yLabel: 'dead units', yIntegers: true, fmt: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)) }),
  grad: new LiveChart($('chart-grad'), { xLabel: 'step', yLabel: '‖∂L/∂W‖', log: true }),
  delta: new LiveChart($('chart-delta'), { xLabel: 'step', yLabel: '‖∂L/∂z‖/√B', log: true }),
  hist: new LiveChart($('chart-hist'), { xLabel: 'activation value', yLabel: '% of values', fmt: (v) => v.toFixed(2), xFmt: (v) => v.toPrecision(3), legendLatest: false }),
  test: new LiveChart($('chart-test'), { xLabel: 'epoch', yLabel: 'test error %', xIntegers: true, fmt: (v) => v.toFixed(2) }),
};
const drawnWeights: Record<RunId, number> = { A: -1, B: -1 };

/** What distinguishes a run from the other one on screen (for legends). */
function tag(run: Run, all: Run[]): string {
  if (all.length < 2) return '';
  const other = all.find((r) => r !== run)!;
  const a = run.config;
  const b = other.config;
  const diffs: string[] = [];
  if (a.activation !== b.activation) diffs.push(a.activation);
  if (a.l1 !== b.l1) diffs.push(a.l1 ? `L1 ${a.l1}` : 'no L1');
  if (a.hidden.join() !== b.hidden.join()) diffs.push(a.hidden.join('-'));
  if (a.optimizer.kind !== b.optimizer.kind) diffs.push(a.optimizer.kind);
  if (a.lr !== b.lr) diffs.push(`lr ${a.lr}`);
  if (a.batch !== b.batch) diffs.push(`batch ${a.batch}`);
  if (a.init !== b.init) diffs.push(a.init);
  return diffs.length ? `${run.id} ${diffs.join(' ')}` : run.id;
}

function rebuildLayerSelect() {
  const depth = Math.max(1, ...presentRuns().map((r) => r.model.hidden.length));
  const keep = Math.min(Number(histLayer.value) || 0, depth - 1);
  histLayer.replaceChildren(...Array.from({ length: depth }, (_, h) => new Option(`hidden layer ${h + 1}`, String(h))));
  histLayer.value = String(keep);
}
histLayer.addEventListener('change', () => {
  dirty = true;
});
weightsMode.addEventListener('change', () => {
  drawnWeights.A = drawnWeights.B = -1;
  dirty = true;
});

/** Draws the charts one at a time: the caller spreads the steps over frames, so no frame is long. */
function* renderCharts(): Generator<void> {
  const all = presentRuns();
  const multi = all.length > 1;
  const buckets = Buckets.over(all.map((r) => r.history));
  const prefix = (r: Run) => (multi ? `${tag(r, all)} · ` : '');

  if (buckets) {
    const x = buckets.x;
    // Loss and accuracy: one colour per run; faint batch values under the moving average.
    const lossS: SeriesSpec[] = [];
    const lossD: (number | null)[][] = [x];
    const accS: SeriesSpec[] = [];
    const accD: (number | null)[][] = [x];
    for (const r of all) {
      const color = RUN_COLORS[r.id];
      const name = multi ? tag(r, all) : 'batch';
      lossS.push({ label: multi ? `${name} batch` : 'batch', color, alpha: 0.28, width: 1 }, { label: multi ? `${name} avg` : 'moving average', color, width: 2.25, dash: RUN_DASH[r.id] });
      lossD.push(buckets.mean(r.history, r.history.loss), buckets.lastOf(r.history, r.history.lossEma));
      accS.push({ label: multi ? `${name} batch` : 'batch', color, alpha: 0.28, width: 1 }, { label: multi ? `${name} avg` : 'moving average', color, width: 2.25, dash: RUN_DASH[r.id] });
      accD.push(buckets.mean(r.history, r.history.accuracy, 100), buckets.lastOf(r.history, r.history.accuracyEma, 100));
    }
    charts.loss.set(lossS, lossD);
    yield;
    charts.accuracy.set(accS, accD);
    yield;

    // Per-layer charts: one colour per layer, run B dashed.
    const perLayer = (get: (r: Run) => number[][], names: (r: Run) => string[], scale = 1) => {
      const s: SeriesSpec[] = [];
      const d: (number | null)[][] = [x];
      for (const r of all) {
        const rows = get(r);
        const labels = names(r);
        rows.forEach((vals, i) => {
          s.push({ label: `${prefix(r)}${labels[i]}`, color: layerColor(i), dash: RUN_DASH[r.id], width: 1.75 });
          d.push(buckets.mean(r.history, vals, scale));
        });
      }
      return [s, d] as const;
    };
    const hiddenNames = (r: Run) => r.model.hidden.map((w, h) => `layer ${h + 1} (${w})`);
    const denseNames = (r: Run) => [...r.model.hidden.map((_, h) => `layer ${h + 1}`), 'output'];
    charts.sparsity.set(...perLayer((r) => r.history.sparsity, hiddenNames, 100));
    yield;
    charts.dead.set(...perLayer((r) => r.history.dead, hiddenNames));
    yield;
    charts.grad.set(...perLayer((r) => r.history.grad, denseNames));
    yield;
    charts.delta.set(...perLayer((r) => r.history.delta, denseNames));
    yield;
  }

  // Test error per epoch.
  const epochs = [...new Set(all.flatMap((r) => r.history.epochs.map((e) => e.epoch)))].sort((a, b) => a - b);
  if (epochs.length) {
    charts.test.set(
      all.map((r) => ({ label: multi ? tag(r, all) : 'test error', color: RUN_COLORS[r.id], dash: RUN_DASH[r.id], points: true, width: 2 })),
      [epochs, ...all.map((r) => epochs.map((ep) => r.history.epochs.find((e) => e.epoch === ep)?.testError ?? null).map((v) => (v == null ? null : 100 * v)))],
    );
    const last = all.map((r) => {
      const e = r.history.epochs.at(-1);
      return e ? `${multi ? `${r.id}: ` : ''}${pct(e.testError, 2)} after epoch ${e.epoch}` : '';
    });
    yield;
    $('test-caption').textContent = `Error on ${all[0].config.testExamples.toLocaleString('en')} MNIST test images at each epoch's end. ${last.filter(Boolean).join(' · ')}`;
  }

  // Histogram of the chosen layer over the latest batch read back.
  const h = Number(histLayer.value) || 0;
  const withActs = all.filter((r) => r.inspection && r.inspection.acts[h]);
  if (withActs.length) {
    const hist = histogram(withActs.map((r) => r.inspection!.acts[h]));
    const two = withActs.length > 1;
    charts.hist.set(
      withActs.map((r, i) => ({
        label: `${two ? `${tag(r, all)}` : 'share'}`,
        color: two ? RUN_COLORS[r.id] : layerColor(h),
        bars: { size: two ? 0.45 : 0.9, align: (two ? (i === 0 ? -1 : 1) : 0) as -1 | 0 | 1 },
      })),
      [hist.centres, ...hist.shares],
    );
    $('hist-caption').textContent =
      `Hidden layer ${h + 1} over the latest batch (` +
      withActs.map((r, i) => `${two ? `${r.id}: ` : ''}${hist.counts[i].toLocaleString('en')} values at step ${r.inspection!.step}, ${hist.zeros[i].toFixed(1)}% exactly 0`).join('; ') +
      '). The exact zeros are not in the bars.';
    yield;
  }

  // First-layer weights, as they are or as the change since the run began.
  const delta = weightsMode.value === 'change';
  for (const id of IDS) {
    const r = runs[id];
    const ins = r?.inspection;
    if (!r || !ins || drawnWeights[id] === ins.step) continue;
    let w = ins.weights;
    if (delta && r.initialWeights) {
      w = new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) w[i] = ins.weights[i] - r.initialWeights[i];
    }
    const cols = Math.ceil(Math.sqrt(ins.units));
    drawWeightTiles($<HTMLCanvasElement>(`weights-${id}`), w, ins.inputs, ins.units, ins.dead, { cols });
    drawnWeights[id] = ins.step;
    const dead = ins.dead ? ins.dead.reduce((s, x) => s + x, 0) : 0;
    $(`weights-run-${id}`).querySelector('h4')!.lastChild!.textContent =
      `Run ${id}: ${ins.units} of ${r.model.hidden[0]} units at step ${ins.step}${delta ? `, change since step ${r.startStep}` : ''}${ins.dead ? `, ${dead} dead so far this epoch` : ''}`;
    yield;
  }
}

function renderStatus() {
  const all = presentRuns();
  for (const id of IDS) {
    const el = $(`status-${id}`);
    const r = runs[id];
    if (!r) {
      const cfgText = (() => {
        try {
          const c = forms[id].read();
          return `${[784, ...c.hidden, 10].join('-')} ${c.activation}${c.l1 ? `, L1 ${c.l1}` : ''} · ${c.optimizer.kind} lr ${c.lr} · batch ${c.batch}`;
        } catch (e) {
          return errorText(e);
        }
      })();
      el.innerHTML = `<div class="head"><span class="title">Run ${id}</span><span class="state">not started</span></div><div class="sub"></div>`;
      el.querySelector('.sub')!.textContent = cfgText;
      continue;
    }
    const s = r.latest;
    const c = r.config;
    const e = r.history.epochs.at(-1);
    const per = r.trainer.stepsPerEpoch;
    const metric = (k: string, v: string) => `<div class="metric"><div class="k">${k}</div><div class="v">${v}</div></div>`;
    const n = r.history.length;
    const eps = r.examplesPerSecond;
    el.innerHTML =
      `<div class="head"><span class="title">Run ${id} · ${r.description}</span><span class="state ${r.state}">${r.state}</span></div>` +
      `<div class="sub">${c.optimizer.kind} lr ${c.lr}${c.l1 ? ` · L1 ${c.l1}` : ''} · batch ${c.batch} · ${c.trainExamples.toLocaleString('en')} images · ${r.backendKind === 'webgpu' ? 'WebGPU' : 'CPU'}: ${r.adapter}${multiTag(r, all)}</div>` +
      `<div class="metrics">` +
      metric('step', r.step.toLocaleString('en')) +
      metric('epoch', `${r.epoch + 1 > c.epochs ? c.epochs : r.epoch + 1}<small>/${c.epochs}</small> · ${Math.floor((100 * (r.step % per)) / per)}%`) +
      metric('loss', n ? fmtNumber(r.history.lossEma[n - 1]) : '–') +
      metric('batch acc', n ? pct(r.history.accuracyEma[n - 1]) : '–') +
      metric('test error', e ? pct(e.testError, 2) : '–') +
      metric('examples/s', eps ? Math.round(eps).toLocaleString('en') : '–') +
      metric('GFLOP/s', eps ? ((eps * r.flopsPerExample) / 1e9).toFixed(2) : '–') +
      metric('sparsity', s ? s.sparsity.map((x) => `${Math.round(100 * x)}`).join(' · ') + '%' : '–') +
      `</div>` +
      (r.error ? `<div class="err"></div>` : '');
    if (r.error) el.querySelector('.err')!.textContent = r.error;
  }
}
const multiTag = (r: Run, all: Run[]) => (all.length > 1 && tag(r, all) !== r.id ? ` · <b>${tag(r, all).slice(2)}</b>` : '');

// Charts redraw at most ~6 times a second, from the animation loop, a few charts per
// frame (within ~6 ms), so drawing never makes a long task.
let lastRender = 0;
let drawing: Generator<void> | undefined;
function* renderAll(): Generator<void> {
  yield* renderCharts();
  renderStatus();
}
function frame(now: number) {
  if (!drawing && dirty && now - lastRender > 160) {
    dirty = false;
    lastRender = now;
    drawing = renderAll();
  }
  if (drawing) {
    const end = performance.now() + 6;
    try {
      while (performance.now() < end) {
        if (drawing.next().done) {
          drawing = undefined;
          if (!running()) updateButtons();
          break;
        }
      }
    } catch (e) {
      drawing = undefined;
      say(`drawing failed: ${errorText(e)}`, true);
    }
  }
  requestAnimationFrame(frame);
}

// The page must stay responsive while it trains: a timer measures the longest stall.
const heartbeat = (() => {
  let last = performance.now();
  let maxGap = 0;
  setInterval(() => {
    const now = performance.now();
    if (running()) maxGap = Math.max(maxGap, now - last - 50);
    last = now;
  }, 50);
  return {
    reset() {
      maxGap = 0;
      last = performance.now();
    },
    get maxGap() {
      return maxGap;
    },
  };
})();

// ---- what tests (and curious people) can read: window.rectigradDemo.snapshot() --------

let ready = false;
(window as unknown as { rectigradDemo: unknown }).rectigradDemo = {
  snapshot: () => ({
    ready,
    gpu,
    backend: backendSelect.value,
    running: running(),
    busy,
    data: data ? { train: data.train.examples, test: data.test.examples } : null,
    runs: presentRuns().map((r) => ({
      id: r.id,
      state: r.state,
      error: r.error ?? null,
      backend: r.backendKind,
      adapter: r.adapter,
      model: r.description,
      config: r.config,
      step: r.step,
      epoch: r.epoch,
      startStep: r.startStep,
      slice: r.slice,
      examplesPerSecond: r.examplesPerSecond ?? null,
      latest: r.latest ?? null,
      losses: r.history.loss,
      epochs: r.history.epochs,
      inspectedStep: r.inspection?.step ?? null,
      weightsDrawnAtStep: drawnWeights[r.id],
    })),
    charts: Object.fromEntries(Object.entries(charts).map(([k, c]) => [k, { points: c.points, series: c.labels }])),
    messages: messages.map((m) => `${m.error ? 'ERROR ' : ''}${m.text}`),
    errors: messages.filter((m) => m.error).map((m) => m.text),
    saved: lastSaved,
    loaded: loadedFrom,
    lastLoadError: lastLoadError ?? null,
    maxStallMs: Math.round(heartbeat.maxGap),
  }),
  start,
  pause,
  reset,
};

// ---- boot -----------------------------------------------------------------------------

async function boot() {
  const params = new URLSearchParams(location.search);
  forms.A.applyParams(params);
  if (params.get('compare') === '1') {
    compare.checked = true;
    if (params.get('preset')) preset.value = params.get('preset')!;
    applyPreset();
  }
  forms.B.applyParams(params);
  if (params.get('backend') === 'cpu') backendSelect.value = 'cpu';
  if (params.get('weights') === 'change') weightsMode.value = 'change';
  showCompare();
  renderStatus();
  updateButtons();
  requestAnimationFrame(frame);

  const dataP = loadData().then(
    (d) => (data = d),
    (e) => {
      say(`Could not load MNIST: ${errorText(e)}`, true);
      $('data-status').textContent = 'MNIST failed to load';
      $('data-status').className = 'chip bad';
    },
  );
  gpu = await probeGpu();
  await dataP;
  ready = true;
  updateButtons();
  dirty = true;
  if (params.get('autostart') === '1' && data) void start();
}
void boot();
