// A lost GPU device (driver reset, GPU process crash, device.destroy()): the page says so,
// keeps its charts and history, and offers to continue each lost run on a new adapter and
// device from the state it kept (run.ts, KEEP_EVERY), or to start it over when none was kept.
import { updateButtons } from './controls.ts';
import { $, errorText } from './dom.ts';
import { say } from './messages.ts';
import type { Run } from './run.ts';
import { page, presentRuns, running } from './state.ts';

const lostRuns = () => presentRuns().filter((r) => r.state === 'lost');

const offer = (r: Run) => (r.kept ? `continue from step ${r.kept.step}, the last state kept in this page` : 'start over from step 0 (no state was kept yet)');

/** Say what happened to a run whose device was lost, and show the banner with its button. */
export function reportLoss(r: Run) {
  say(`Run ${r.id}: the GPU device was lost after step ${r.step} (${r.lost}). The charts and history are kept; press Continue to ${offer(r)}.`, true);
  showLossBanner();
}

/** The banner: shown while any run is lost, its button labelled for what it will do. */
export function showLossBanner() {
  const lost = lostRuns();
  $('lost-banner').hidden = lost.length === 0;
  if (!lost.length) return;
  $('lost-text').textContent =
    `The GPU device was lost (${lost[0].lost}) after step ${lost.map((r) => `${r.step} (run ${r.id})`).join(', ')}. The charts and history are kept. ${lost.map((r) => `Run ${r.id} can ${offer(r)}.`).join(' ')}`;
  const button = $<HTMLButtonElement>('continue-lost');
  button.textContent = lost.every((r) => !r.kept) ? 'Start over on a new device' : 'Continue on a new device';
  button.disabled = page.busy;
}

/** Reopen every lost run on a new adapter and device, then train on. */
async function continueLost(actions: Actions) {
  if (page.busy) return;
  // A run that still trains (side by side, on its own device) pauses, then all go on together.
  if (running()) await actions.pause();
  page.busy = true;
  showLossBanner();
  updateButtons();
  for (const r of lostRuns()) {
    try {
      await r.reopen();
      say(`Run ${r.id}: a new device on ${r.adapter}; training goes on from step ${r.step}.`);
    } catch (e) {
      say(`Run ${r.id}: could not open a new GPU device: ${errorText(e)}. Try again, or Reset.`, true);
    }
  }
  page.busy = false;
  page.dirty = true;
  showLossBanner();
  updateButtons();
  if (!lostRuns().length) await actions.start();
}

interface Actions {
  start(): Promise<void>;
  pause(): Promise<void>;
}

export function wireDeviceLoss(actions: Actions) {
  $('continue-lost').addEventListener('click', () => void continueLost(actions));
}
