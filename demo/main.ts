// The demo page: train on real MNIST (WebGPU, or the CPU backend, each in a Web Worker)
// and plot, live, what every layer of the network does. The parts: state.ts (the page's
// state), controls.ts (settings and buttons), actions.ts (what the buttons do), render.ts
// (charts and status), dead-panel.ts and unit-activity.ts (the unit maps and alarms),
// trained.ts (the paper's network, trained), messages.ts (the log), device-loss.ts (a lost
// GPU device), startup.ts (adapter and data), test-hook.ts.
import { pause, start, wireActions } from './actions.ts';
import { applyPreset, backendSelect, compare, forms, preset, showCompare, updateButtons, weightsMode, wireControls } from './controls.ts';
import { wireDeviceLoss } from './device-loss.ts';
import { $, errorText } from './dom.ts';
import { reportUncaughtErrors, say } from './messages.ts';
import { renderStatus, startRendering, wireViews } from './render.ts';
import { loadData, probeGpu } from './startup.ts';
import { page } from './state.ts';
import { installTestHook } from './test-hook.ts';

reportUncaughtErrors();
wireControls();
wireActions();
wireDeviceLoss({ start, pause });
wireViews();
installTestHook();

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
  startRendering();

  const dataP = loadData().then(
    (d) => (page.data = d),
    (e) => {
      say(`Could not load MNIST: ${errorText(e)}`, true);
      $('data-status').textContent = 'MNIST failed to load';
      $('data-status').className = 'chip bad';
    },
  );
  page.gpu = await probeGpu();
  await dataP;
  page.ready = true;
  updateButtons();
  page.dirty = true;
  if (params.get('autostart') === '1' && page.data) void start();
}
void boot();
