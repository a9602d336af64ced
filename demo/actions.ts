// What the buttons do: build runs, start, pause, reset, save and load checkpoints.
import { scheduledLr } from '../src/index.ts';
import { decodeCheckpoint, type CheckpointState } from '../src/io/checkpoint.ts';
import { backendSelect, compare, forms, showCompare, updateButtons } from './controls.ts';
import { reportLoss, showLossBanner } from './device-loss.ts';
import { $, errorText, IDS } from './dom.ts';
import { say } from './messages.ts';
import { charts, rebuildLayerSelect, stopDrawing } from './render.ts';
import { configFromCheckpoint, Run, type BackendKind, type RunConfig, type RunId } from './run.ts';
import { page, presentRuns, running } from './state.ts';
import { heartbeat } from './test-hook.ts';
import { loadTrained } from './trained.ts';

async function buildRun(id: RunId, config: RunConfig, resume?: Parameters<typeof Run.create>[4]): Promise<Run> {
  const kind = backendSelect.value as BackendKind;
  const model = resume?.model ?? { hidden: config.hidden, activation: config.activation };
  say(
    `Run ${id}: building ${[784, ...model.hidden, 10].join('-')} ${model.activation} on ${kind === 'webgpu' ? 'WebGPU' : 'the CPU'}${kind === 'webgpu' ? ' (compiling shaders)' : ''}…`,
  );
  const t0 = performance.now();
  const run = await Run.create(id, config, kind, page.data!, resume);
  run.onChange = () => {
    page.dirty = true;
  };
  run.onDeadUnits = ({ alarm, check }) => {
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    if (alarm) say(`Run ${id}: dead-layer alarm: ${alarm.message}.`);
    if (check && sum(check.pruned) > 0)
      say(
        `Run ${id}: the check at step ${check.step} pruned ${check.pruned.join(' / ')} dead units: the network is now ${[784, ...check.widths, 10].join('-')}.`,
      );
    else if (check) say(`Run ${id}: the check at step ${check.step} revived ${check.revived.join(' / ')} dead units.`);
  };
  say(
    `Run ${id}: ${run.description}, ${(run.flopsPerExample / 1e6).toFixed(2)} MFLOP per example, ${run.trainer.stepsPerEpoch} steps per epoch; ready in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${run.adapter}.`,
  );
  // On the CPU: why its matmuls run on one thread, when that is for want of threads here.
  const threads = run.trainer.info.threadNote;
  if (threads) say(`Run ${id}: ${threads}.`);
  return run;
}

/** Build the runs that are not built yet, then train them all until paused or done. */
export async function start() {
  if (running() || page.busy) return;
  page.busy = true;
  updateButtons();
  try {
    if (!page.data) throw new Error('MNIST is still loading');
    if (backendSelect.value === 'webgpu' && !page.gpu.available) {
      throw new Error(`WebGPU is not available here (${page.gpu.reason}). Choose the CPU backend.`);
    }
    const ids: RunId[] = compare.checked ? ['A', 'B'] : ['A'];
    for (const id of ids) {
      if (page.runs[id]) continue;
      page.runs[id] = await buildRun(id, forms[id].read());
    }
    showCompare();
    rebuildLayerSelect();
  } catch (e) {
    say(`Could not start: ${errorText(e)}`, true);
    page.busy = false;
    updateButtons();
    return;
  }
  page.busy = false;
  page.stopRequested = false;
  page.stopper = new AbortController();
  const active = presentRuns().filter((r) => !r.finished && r.state !== 'error' && r.state !== 'lost');
  // A lost device is said at once: a run beside it may train on for a long while.
  page.loops = active.map((r) =>
    r.train(page.stopper.signal).then(() => {
      if (r.state === 'lost') reportLoss(r);
    }),
  );
  heartbeat.reset();
  updateButtons();
  page.dirty = true;
  await Promise.all(page.loops);
  page.loops = [];
  for (const r of active) {
    if (r.state === 'error') say(`Run ${r.id} stopped: ${r.error}`, true);
    else if (r.state === 'done') say(`Run ${r.id} finished ${r.config.epochs} epochs (step ${r.step}). Raise Epochs to go on.`);
  }
  page.stopRequested = false;
  updateButtons();
  page.dirty = true;
}

/** Stop every run after its current step. */
export async function pause() {
  if (!running()) return;
  page.stopRequested = true;
  page.stopper.abort();
  updateButtons();
  await Promise.all(page.loops);
  say(
    `Paused at ${presentRuns()
      .map((r) => `step ${r.step} (${r.id})`)
      .join(', ')}.`,
  );
}

/** End the runs (and their workers) and clear the charts: the settings can change again. */
export async function reset() {
  page.busy = true;
  updateButtons();
  await pause();
  for (const id of IDS) {
    const r = page.runs[id];
    delete page.runs[id];
    await r?.destroy();
  }
  page.trained = { state: 'idle' };
  showLossBanner();
  stopDrawing();
  for (const c of Object.values(charts)) c.clear();
  for (const id of IDS) {
    const canvas = $<HTMLCanvasElement>(`weights-${id}`);
    canvas.width = canvas.height = 1;
    page.drawnWeights[id] = -1;
  }
  page.busy = false;
  showCompare();
  updateButtons();
  page.dirty = true;
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

export async function save(id: RunId) {
  const run = page.runs[id];
  if (!run) return;
  try {
    const { bytes, step } = await run.save();
    const name = `rectigrad-${run.model.hidden.join('-')}-${run.model.activation}-step${step}.safetensors`;
    download(bytes, name);
    page.lastSaved[id] = { name, step, bytes: bytes.length };
    say(`Run ${id}: saved ${name} (${(bytes.length / 1e6).toFixed(2)} MB, step ${step}).`);
  } catch (e) {
    say(`Run ${id}: could not save a checkpoint: ${errorText(e)}`, true);
  }
}

export async function load(id: RunId, file: File) {
  if (id === 'A' && !page.busy) page.trained = { state: 'idle' };
  await loadInto(id, file.name, async () => new Uint8Array(await file.arrayBuffer()));
}

/**
 * A checkpoint whose optimiser keeps moments but that holds none (weights only, as the
 * trained network the page offers): training it on starts the moments from zero.
 */
function withMoments(state: CheckpointState, kind: RunConfig['optimizer']['kind']): { state: CheckpointState; note?: string } {
  const needM = kind !== 'sgd' && !state.m;
  const needV = kind === 'adam' && !state.v;
  if (!needM && !needV) return { state };
  const zeros = () => new Float32Array(state.params.length);
  return {
    state: { ...state, m: state.m ?? (needM ? zeros() : undefined), v: state.v ?? (needV ? zeros() : undefined) },
    note: `it holds no ${kind} state, so training it on starts the optimiser's moments from zero`,
  };
}

/**
 * Make a checkpoint run `id`: read its bytes, decode them, pause the runs, end the old run
 * `id` and build the new one in its place. Failures are said on the page; returns the
 * run, or undefined when it could not be loaded.
 */
export async function loadInto(id: RunId, name: string, read: () => Promise<Uint8Array>): Promise<Run | undefined> {
  if (page.busy) return undefined;
  page.busy = true;
  updateButtons();
  try {
    if (!page.data) throw new Error('MNIST is still loading; try again in a moment');
    const bytes = await read();
    let decoded;
    try {
      decoded = decodeCheckpoint(bytes, name);
    } catch (e) {
      throw new Error(`${errorText(e)}. Choose a .safetensors checkpoint saved by this page or by \`rectigrad train --save\`.`);
    }
    const base = (() => {
      try {
        return forms[id].read();
      } catch {
        return configFromCheckpoint(decoded, forms.A.read());
      }
    })();
    const config = configFromCheckpoint(decoded, base);
    const { state, note } = withMoments(decoded, config.optimizer.kind);
    await pause();
    const old = page.runs[id];
    delete page.runs[id];
    await old?.destroy();
    page.drawnWeights[id] = -1;
    const run = await buildRun(id, config, state);
    if (run.finished) run.config.epochs = run.epoch + Math.max(1, base.epochs);
    page.runs[id] = run;
    forms[id].fill(run.config);
    if (id === 'B' && !compare.checked) compare.checked = true;
    showCompare();
    rebuildLayerSelect();
    // A schedule that has run its course (cosine to 0) leaves nothing to train with.
    const ended = config.lrSchedule && scheduledLr(config.lrSchedule, config.lr, run.step + 1) === 0;
    const notes = [
      note,
      ended ? 'its learning-rate schedule has ended (rate 0 from here), so training on shows it on training batches without changing it' : '',
    ]
      .filter(Boolean)
      .map((n) => `; ${n}`)
      .join('');
    say(
      `Run ${id}: loaded ${name}: ${run.description} at step ${run.step} (epoch ${run.epoch})${notes}. Press ${presentRuns().some((r) => r.step > 0) ? 'Resume' : 'Start'} to continue training it.`,
    );
    page.loadedFrom[id] = { name, step: run.step };
    return run;
  } catch (e) {
    say(`Run ${id}: could not load ${name}: ${errorText(e)}`, true);
    page.lastLoadError = errorText(e);
    return undefined;
  } finally {
    page.busy = false;
    showLossBanner();
    updateButtons();
    page.dirty = true;
  }
}

/** Hooks the run buttons and the checkpoint inputs up. */
export function wireActions() {
  $('start').addEventListener('click', () => void start());
  $('pause').addEventListener('click', () => void pause());
  $('reset').addEventListener('click', () => void reset());
  $('trained-net').addEventListener('click', () => void loadTrained());
  for (const id of IDS) {
    $('save-' + id).addEventListener('click', () => void save(id));
    const input = $<HTMLInputElement>('load-' + id);
    input.addEventListener('change', () => {
      const f = input.files?.[0];
      input.value = '';
      if (f) void load(id, f);
    });
  }
}
