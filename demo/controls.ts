// The settings: the two run forms, side by side and its preset, the backend, and the
// buttons' enabled states; edits that apply to a live run (learning rate, epochs).
import { $, IDS } from './dom.ts';
import { RunForm } from './form.ts';
import { say } from './messages.ts';
import type { RunConfig, RunId } from './run.ts';
import { page, presentRuns, running } from './state.ts';

export const forms = { A: new RunForm('A', $('form-A')), B: new RunForm('B', $('form-B')) };
export const compare = $<HTMLInputElement>('compare');
export const preset = $<HTMLSelectElement>('compare-preset');
export const backendSelect = $<HTMLSelectElement>('backend');
export const histLayer = $<HTMLSelectElement>('hist-layer');
export const weightsMode = $<HTMLSelectElement>('weights-mode');

export function applyPreset() {
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

export function showCompare() {
  const on = compare.checked;
  $('panel-B').hidden = !on;
  $('preset-row').hidden = !on;
  $('status-B').hidden = !on && !page.runs.B;
  $('weights-run-B').hidden = !on && !page.runs.B;
}

/** Hooks the settings controls up. */
export function wireControls() {
  compare.addEventListener('change', () => {
    if (compare.checked) applyPreset();
    showCompare();
    page.dirty = true;
  });
  preset.addEventListener('change', applyPreset);
  forms.A.onInput = () => {
    if (compare.checked && preset.value !== 'custom' && !page.runs.B) applyPreset();
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
    if (backendSelect.value === 'webgpu' && !page.gpu.available) say(`WebGPU is not available here (${page.gpu.reason}). Use the CPU backend.`, true);
    updateButtons();
  });
}

/** The learning rate and the epoch count are read every step: apply edits to the live run. */
function liveEdit(id: RunId) {
  const run = page.runs[id];
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
  page.dirty = true;
  updateButtons();
}

/** Enable and label the buttons and lock the forms for what the page is doing now. */
export function updateButtons() {
  const any = presentRuns().length > 0;
  const canTrain =
    presentRuns().some((r) => !r.finished && r.state !== 'error' && r.state !== 'lost') || IDS.some((id) => !page.runs[id] && (id === 'A' || compare.checked));
  const backendOk = backendSelect.value === 'cpu' || page.gpu.available;
  const measuring = page.trained.state === 'loading' || page.trained.state === 'measuring';
  $<HTMLButtonElement>('start').disabled = page.busy || running() || !page.data || !canTrain || !backendOk || measuring;
  $<HTMLButtonElement>('pause').disabled = !running() || page.stopRequested;
  $<HTMLButtonElement>('reset').disabled = page.busy || (!any && !running());
  $<HTMLButtonElement>('trained-net').disabled = page.busy || running() || !page.data || !backendOk || measuring;
  $<HTMLButtonElement>('start').textContent = any && !running() && presentRuns().some((r) => r.step > 0) ? 'Resume' : 'Start';
  for (const id of IDS) {
    $<HTMLButtonElement>(`save-${id}`).disabled = !page.runs[id] || page.busy;
    $<HTMLInputElement>(`load-${id}`).disabled = page.busy;
    forms[id].lock(!!page.runs[id] || page.busy);
  }
  compare.disabled = any || page.busy;
  preset.disabled = any || page.busy;
  backendSelect.disabled = any || page.busy;
}
