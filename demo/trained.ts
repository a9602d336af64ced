// "The paper's network, trained": one click fetches the checkpoint the page is built with
// (docs/glorot2011/rectifier.safetensors, a 784-1000-1000-1000-10 rectifier trained with
// the glorot2011 experiment's `best + dropout 0.3 (input 0.1) + max-norm 3` recipe), makes it run A, and measures it on the MNIST
// test set in run A's worker: test error, sparsity and the unit maps fill in as the
// images go through.
import { loadInto } from './actions.ts';
import { updateButtons } from './controls.ts';
import { $, errorText, pct } from './dom.ts';
import { say } from './messages.ts';
import { page } from './state.ts';

/** Where the build puts the checkpoint (vite.config.ts), relative to the page. */
export const TRAINED_URL = 'trained/glorot2011-rectifier.safetensors';
/** Test images measured: all of MNIST's. */
export const TRAINED_TEST_IMAGES = 10000;

async function fetchCheckpoint(): Promise<Uint8Array> {
  say('Fetching the paper’s network, trained (11 MB)…');
  const res = await fetch(TRAINED_URL);
  if (res.status === 404) {
    throw new Error(`${TRAINED_URL} is not on this server: the page's build copies it from docs/glorot2011/rectifier.safetensors, which this checkout lacks`);
  }
  if (!res.ok) throw new Error(`fetching ${TRAINED_URL} failed: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Load the trained network as run A, then measure it on the test set. */
export async function loadTrained(): Promise<void> {
  const t = page.trained;
  if (page.busy || t.state === 'loading' || t.state === 'measuring') return;
  page.trained = { state: 'loading' };
  page.dirty = true;
  const run = await loadInto('A', 'rectifier.safetensors', fetchCheckpoint);
  if (!run) {
    page.trained = { state: 'error', error: page.lastLoadError ?? 'the checkpoint could not be loaded' };
    page.dirty = true;
    updateButtons();
    return;
  }
  page.trained = { state: 'measuring' };
  updateButtons();
  const n = Math.min(TRAINED_TEST_IMAGES, page.data!.test.examples);
  say(`Run A: measuring the trained network on ${n.toLocaleString('en')} MNIST test images…`);
  const t0 = performance.now();
  try {
    const m = await run.measureTest(n);
    if (page.runs.A !== run) return;
    page.trained = { state: m.done ? 'done' : 'error', error: m.done ? undefined : 'the run ended before the measurement did' };
    say(
      `Run A: the paper’s network, trained: test error ${pct(m.error, 2)} on ${m.examples.toLocaleString('en')} MNIST test images; sparsity ${m.sparsity.map((x) => pct(x)).join(' / ')}; ` +
        `dead units ${m.deadUnits.join(' / ')} (silent on every test image); measured in ${((performance.now() - t0) / 1000).toFixed(1)} s.`,
    );
  } catch (e) {
    page.trained = { state: 'error', error: errorText(e) };
    say(`Run A: could not measure the trained network: ${errorText(e)}`, true);
  } finally {
    page.dirty = true;
    updateButtons();
  }
}

/** The summary line above the unit maps while the trained network is run A. */
export function renderTrained() {
  const el = $('trained-summary');
  const t = page.trained;
  const m = page.runs.A?.testMeasure;
  if (t.state === 'idle' || (!page.runs.A && t.state !== 'loading' && t.state !== 'error')) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.className = `trained ${t.state}`;
  if (t.state === 'loading') {
    el.textContent = 'The paper’s network, trained: loading the checkpoint into run A…';
    return;
  }
  if (t.state === 'error' && !m) {
    el.textContent = `The paper’s network, trained: ${t.error}`;
    return;
  }
  if (!m) {
    el.textContent = 'The paper’s network, trained: measuring on the test set…';
    return;
  }
  const head = m.done
    ? `Test error ${pct(m.error, 2)} on ${m.of.toLocaleString('en')} MNIST test images`
    : `Measuring: ${m.examples.toLocaleString('en')} of ${m.of.toLocaleString('en')} test images, error so far ${pct(m.error, 2)}`;
  el.innerHTML = `<strong></strong><span></span>`;
  el.querySelector('strong')!.textContent = `The paper’s network, trained (${page.runs.A?.description}, step ${m.step.toLocaleString('en')}): ${head}.`;
  el.querySelector('span')!.textContent =
    ` Sparsity (exact zeros) ${m.sparsity.map((x) => pct(x)).join(' / ')}; dead units ${m.deadUnits.join(' / ')}; rare units ${m.rareUnits.join(' / ')} (hidden layers ${m.sparsity.map((_, h) => h + 1).join(' / ')}).` +
    (t.state === 'error' ? ` ${t.error}` : '');
}
