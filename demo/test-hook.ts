// What tests (and curious people) can read: window.rectigradDemo.snapshot(), and how
// long the page's main thread stalled while training.
import { pause, reset, start } from './actions.ts';
import { backendSelect } from './controls.ts';
import { messages } from './messages.ts';
import { unitMapSnapshot } from './dead-panel.ts';
import { charts } from './render.ts';
import { page, presentRuns, running } from './state.ts';

// The page must stay responsive while it trains: a timer measures the longest stall.
export const heartbeat = (() => {
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

/** Publishes window.rectigradDemo: snapshot() of the page; start, pause, reset and loseDevice. */
export function installTestHook() {
  (window as unknown as { rectigradDemo: unknown }).rectigradDemo = {
    snapshot: () => ({
      ready: page.ready,
      gpu: page.gpu,
      backend: backendSelect.value,
      running: running(),
      busy: page.busy,
      data: page.data ? { train: page.data.train.examples, test: page.data.test.examples } : null,
      runs: presentRuns().map((r) => ({
        id: r.id,
        state: r.state,
        error: r.error ?? null,
        lost: r.lost ?? null,
        keptStep: r.kept?.step ?? null,
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
        weightsDrawnAtStep: page.drawnWeights[r.id],
        widths: r.model.hidden,
        alarms: r.alarms,
        checks: r.checks,
        events: r.events,
        unitMap: unitMapSnapshot(r),
        testMeasure: r.testMeasure ?? null,
      })),
      trained: page.trained,
      charts: Object.fromEntries(
        Object.entries(charts).map(([k, c]) => [k, { points: c.points, series: c.labels, markers: c.markers.map((m) => ({ x: m.x, label: m.label })) }]),
      ),
      messages: messages.map((m) => `${m.error ? 'ERROR ' : ''}${m.text}`),
      errors: messages.filter((m) => m.error).map((m) => m.text),
      saved: page.lastSaved,
      loaded: page.loadedFrom,
      lastLoadError: page.lastLoadError ?? null,
      maxStallMs: Math.round(heartbeat.maxGap),
    }),
    start,
    pause,
    reset,
    /** Destroys run `id`'s WebGPU device in its worker, as a driver reset would. */
    loseDevice: (id: 'A' | 'B' = 'A') => page.runs[id]?.trainer.loseDevice(),
  };
}
