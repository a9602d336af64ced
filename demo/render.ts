// Drawing: the charts from every run's history, the histogram and weight views from the
// latest read-back, the run status cards, spread over animation frames.
import { fmtNumber, layerColor, LiveChart, RUN_COLORS, RUN_DASH, type Marker, type SeriesSpec } from './charts.ts';
import { forms, histLayer, updateButtons, weightsMode } from './controls.ts';
import { renderDeadUnits } from './dead-panel.ts';
import { $, errorText, IDS, pct } from './dom.ts';
import { Buckets } from './history.ts';
import { say } from './messages.ts';
import type { Run, RunConfig } from './run.ts';
import { page, presentRuns, running } from './state.ts';
import { renderTrained } from './trained.ts';
import { drawWeightTiles, histogram } from './views.ts';

export const charts = {
  loss: new LiveChart($('chart-loss'), { xLabel: 'step', yLabel: 'loss', log: true }),
  accuracy: new LiveChart($('chart-accuracy'), { xLabel: 'step', yLabel: 'accuracy %', yRange: [0, 100], fmt: (v) => `${v.toFixed(1)}` }),
  sparsity: new LiveChart($('chart-sparsity'), { xLabel: 'step', yLabel: 'zeros %', yRange: [0, 100], fmt: (v) => `${v.toFixed(1)}` }),
  dead: new LiveChart($('chart-dead'), { xLabel: 'step', yLabel: 'dead units', yIntegers: true, fmt: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)) }),
  grad: new LiveChart($('chart-grad'), { xLabel: 'step', yLabel: '‖∂L/∂W‖', log: true }),
  delta: new LiveChart($('chart-delta'), { xLabel: 'step', yLabel: '‖∂L/∂z‖/√B', log: true }),
  hist: new LiveChart($('chart-hist'), {
    xLabel: 'activation value',
    yLabel: '% of values',
    fmt: (v) => v.toFixed(2),
    xFmt: (v) => v.toPrecision(3),
    legendLatest: false,
  }),
  test: new LiveChart($('chart-test'), { xLabel: 'epoch', yLabel: 'test error %', xIntegers: true, fmt: (v) => v.toFixed(2) }),
};

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
  if (a.deadUnits !== b.deadUnits) diffs.push(a.deadUnits);
  if (a.dropout !== b.dropout || a.inputDropout !== b.inputDropout) diffs.push(regularisers({ ...a, maxNorm: 0 }) || 'no dropout');
  if (a.maxNorm !== b.maxNorm) diffs.push(a.maxNorm ? `max-norm ${a.maxNorm}` : 'no max-norm');
  return diffs.length ? `${run.id} ${diffs.join(' ')}` : run.id;
}

/** Dropout and max-norm, when on: "dropout 0.3 (input 0.1) · max-norm 3"; '' when both are off. */
function regularisers(c: RunConfig): string {
  const parts: string[] = [];
  if (c.dropout || c.inputDropout) parts.push(`dropout ${c.dropout}${c.inputDropout ? ` (input ${c.inputDropout})` : ''}`);
  if (c.maxNorm) parts.push(`max-norm ${c.maxNorm}`);
  return parts.join(' · ');
}
const withRegularisers = (c: RunConfig) => {
  const r = regularisers(c);
  return r ? ` · ${r}` : '';
};

export function rebuildLayerSelect() {
  const depth = Math.max(1, ...presentRuns().map((r) => r.model.hidden.length));
  const keep = Math.min(Number(histLayer.value) || 0, depth - 1);
  histLayer.replaceChildren(...Array.from({ length: depth }, (_, h) => new Option(`hidden layer ${h + 1}`, String(h))));
  histLayer.value = String(keep);
}
/** Hooks the view controls (histogram layer, weights mode) up. */
export function wireViews() {
  histLayer.addEventListener('change', () => {
    page.dirty = true;
  });
  weightsMode.addEventListener('change', () => {
    page.drawnWeights.A = page.drawnWeights.B = -1;
    page.dirty = true;
  });
}

/** Marker colours: revive green, prune purple, alarm red. */
const MARKER_COLORS = { revive: '#15803d', prune: '#7c3aed', alarm: '#dc2626' } as const;

/** Every run's revives, prunes and alarms as vertical chart markers at their steps. */
function markers(all: Run[]): Marker[] {
  const multi = all.length > 1;
  return all
    .flatMap((r) =>
      r.events.map((e) => ({
        x: e.step,
        label: multi ? `${r.id}: ${e.label}` : e.label,
        color: MARKER_COLORS[e.kind],
        dash: e.kind === 'alarm' ? [4, 3] : undefined,
      })),
    )
    .sort((a, b) => a.x - b.x);
}

/** Draws the charts one at a time: the caller spreads the steps over frames, so no frame is long. */
function* renderCharts(): Generator<void> {
  const all = presentRuns();
  const multi = all.length > 1;
  const buckets = Buckets.over(all.map((r) => r.history));
  const prefix = (r: Run) => (multi ? `${tag(r, all)} · ` : '');

  if (buckets) {
    const x = buckets.x;
    const marks = markers(all);
    // Loss and accuracy: one colour per run; faint batch values under the moving average.
    const lossS: SeriesSpec[] = [];
    const lossD: (number | null)[][] = [x];
    const accS: SeriesSpec[] = [];
    const accD: (number | null)[][] = [x];
    for (const r of all) {
      const color = RUN_COLORS[r.id];
      const name = multi ? tag(r, all) : 'batch';
      lossS.push(
        { label: multi ? `${name} batch` : 'batch', color, alpha: 0.28, width: 1 },
        { label: multi ? `${name} avg` : 'moving average', color, width: 2.25, dash: RUN_DASH[r.id] },
      );
      lossD.push(buckets.mean(r.history, r.history.loss), buckets.lastOf(r.history, r.history.lossEma));
      accS.push(
        { label: multi ? `${name} batch` : 'batch', color, alpha: 0.28, width: 1 },
        { label: multi ? `${name} avg` : 'moving average', color, width: 2.25, dash: RUN_DASH[r.id] },
      );
      accD.push(buckets.mean(r.history, r.history.accuracy, 100), buckets.lastOf(r.history, r.history.accuracyEma, 100));
    }
    charts.loss.set(lossS, lossD, marks);
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
    charts.sparsity.set(...perLayer((r) => r.history.sparsity, hiddenNames, 100), marks);
    yield;
    charts.dead.set(...perLayer((r) => r.history.dead, hiddenNames), marks);
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
    $('test-caption').textContent =
      `Error on ${all[0].config.testExamples.toLocaleString('en')} MNIST test images at each epoch's end. ${last.filter(Boolean).join(' · ')}`;
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
      withActs
        .map(
          (r, i) =>
            `${two ? `${r.id}: ` : ''}${hist.counts[i].toLocaleString('en')} values at step ${r.inspection!.step}, ${hist.zeros[i].toFixed(1)}% exactly 0`,
        )
        .join('; ') +
      '). The exact zeros are not in the bars.';
    yield;
  }

  // First-layer weights, as they are or as the change since the run began.
  const delta = weightsMode.value === 'change';
  for (const id of IDS) {
    const r = page.runs[id];
    const ins = r?.inspection;
    if (!r || !ins || page.drawnWeights[id] === ins.step) continue;
    let w = ins.weights;
    if (delta && r.initialWeights) {
      w = new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) w[i] = ins.weights[i] - r.initialWeights[i];
    }
    const cols = Math.ceil(Math.sqrt(ins.units));
    drawWeightTiles($<HTMLCanvasElement>(`weights-${id}`), w, ins.inputs, ins.units, ins.dead, { cols });
    page.drawnWeights[id] = ins.step;
    const dead = ins.dead ? ins.dead.reduce((s, x) => s + x, 0) : 0;
    $(`weights-run-${id}`).querySelector('h4')!.lastChild!.textContent =
      `Run ${id}: ${ins.units} of ${r.model.hidden[0]} units at step ${ins.step}${delta && r.initialWeights ? `, change since step ${r.startStep}` : delta ? ' (pruned since it began: shown as they are)' : ''}${ins.dead ? `, ${dead} dead so far this epoch` : ''}`;
    yield;
  }
}

export function renderStatus() {
  const all = presentRuns();
  for (const id of IDS) {
    const el = $(`status-${id}`);
    const r = page.runs[id];
    if (!r) {
      const cfgText = (() => {
        try {
          const c = forms[id].read();
          return `${[784, ...c.hidden, 10].join('-')} ${c.activation}${c.l1 ? `, L1 ${c.l1}` : ''} · ${c.optimizer.kind} lr ${c.lr} · batch ${c.batch}${withRegularisers(c)}`;
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
      `<div class="sub">${c.optimizer.kind} lr ${c.lr}${c.l1 ? ` · L1 ${c.l1}` : ''} · batch ${c.batch}${withRegularisers(c)} · ${c.trainExamples.toLocaleString('en')} images · ${r.backendKind === 'webgpu' ? 'WebGPU' : 'CPU'}: ${r.adapter}${multiTag(r, all)}</div>` +
      `<div class="metrics">` +
      metric('step', r.step.toLocaleString('en')) +
      metric('epoch', `${r.epoch + 1 > c.epochs ? c.epochs : r.epoch + 1}<small>/${c.epochs}</small> · ${Math.floor((100 * (r.step % per)) / per)}%`) +
      metric('loss', n ? fmtNumber(r.history.lossEma[n - 1]) : '–') +
      metric('batch acc', n ? pct(r.history.accuracyEma[n - 1]) : '–') +
      metric('test error', e ? pct(e.testError, 2) : '–') +
      metric('examples/s', eps ? Math.round(eps).toLocaleString('en') : '–') +
      metric('GFLOP/s', eps ? ((eps * r.flopsPerExample) / 1e9).toFixed(2) : '–') +
      // Before any step here: the sparsity measured on the test set, if it was (a loaded network).
      metric(
        'sparsity',
        s
          ? s.sparsity.map((x) => `${Math.round(100 * x)}`).join(' · ') + '%'
          : r.testMeasure
            ? r.testMeasure.sparsity.map((x) => `${Math.round(100 * x)}`).join(' · ') + '% test'
            : '–',
      ) +
      `</div>` +
      (r.error || r.lost ? `<div class="err"></div>` : '');
    if (r.error || r.lost) el.querySelector('.err')!.textContent = r.error ?? `GPU device lost after step ${r.step} (${r.lost})`;
  }
}
const multiTag = (r: Run, all: Run[]) => (all.length > 1 && tag(r, all) !== r.id ? ` · <b>${tag(r, all).slice(2)}</b>` : '');

// Charts redraw at most ~6 times a second, from the animation loop, a few charts per
// frame: another only while one more like the last fits in ~6 ms (a chart can take 5–15 ms
// on a busy 2-core machine), so drawing never makes a long task.
let lastRender = 0;
let drawing: Generator<void> | undefined;
function* renderAll(): Generator<void> {
  yield* renderCharts();
  yield* renderDeadUnits();
  renderTrained();
  renderStatus();
}
/** The animation loop: started once. */
export function startRendering() {
  requestAnimationFrame(frame);
}

/** Forget a drawing in progress (the runs it draws are gone). */
export function stopDrawing() {
  drawing = undefined;
}

function frame(now: number) {
  if (!drawing && page.dirty && now - lastRender > 160) {
    page.dirty = false;
    lastRender = now;
    drawing = renderAll();
  }
  if (drawing) {
    let t = performance.now();
    const end = t + 6;
    let last = 0;
    try {
      while (t + last < end) {
        if (drawing.next().done) {
          drawing = undefined;
          if (!running()) updateButtons();
          break;
        }
        const after = performance.now();
        last = after - t;
        t = after;
      }
    } catch (e) {
      drawing = undefined;
      say(`drawing failed: ${errorText(e)}`, true);
    }
  }
  requestAnimationFrame(frame);
}
