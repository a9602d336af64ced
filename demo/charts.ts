// Live charts on uPlot: one chart per card, rebuilt when its set of series changes
// (layers, compare mode), otherwise fed new data in place.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Colours of the two runs in per-run charts. */
export const RUN_COLORS = { A: '#2563eb', B: '#ea580c' } as const;
/** Colours of layers 1, 2, … (ordered, so depth reads across charts). */
export const LAYER_COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#eeca3b'];
/** Run B is drawn dashed beside run A's solid lines. */
export const RUN_DASH = { A: undefined, B: [7, 4] } as const;

export const layerColor = (i: number) => LAYER_COLORS[i % LAYER_COLORS.length];

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: readonly number[];
  width?: number;
  /** 0–1 opacity of the line (e.g. faint raw values under a smoothed line). */
  alpha?: number;
  /** Draw the data points (sparse series such as per-epoch values). */
  points?: boolean;
  /** Draw as histogram bars: share of the bin width, and which side of the bin centre (two runs side by side). */
  bars?: { size: number; align: -1 | 0 | 1 };
}

export interface ChartOptions {
  xLabel: string;
  yLabel: string;
  /** log10 y scale (values ≤ 0 are dropped). */
  log?: boolean;
  /** Fixed y range, else auto. */
  yRange?: [number, number];
  /** Format of y values in the legend and on the axis. */
  fmt?: (v: number) => string;
  /** Format of x values in the legend. */
  xFmt?: (v: number) => string;
  /** Ticks at whole numbers only (epochs, counts). */
  xIntegers?: boolean;
  yIntegers?: boolean;
  /** When the pointer is not on the chart, the legend shows the latest values (default true). */
  legendLatest?: boolean;
  height?: number;
}

const withAlpha = (hex: string, a: number) => {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
};

export const fmtNumber = (v: number): string => {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
};

/** Axis tick labels: short, no trailing zeros. */
export const fmtTick = (v: number): string => {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
};

/** A vertical line at step `x` with a short label (a revive, a prune, an alarm). */
export interface Marker {
  x: number;
  label: string;
  color: string;
  dash?: readonly number[];
}

/** Draws the markers inside the plot area, labels stacked from the top so neighbours stay legible. */
function drawMarkers(u: uPlot, markers: Marker[]) {
  if (!markers.length) return;
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const px = devicePixelRatio || 1;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  ctx.font = `${Math.round(10.5 * px)}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  let lastX = -Infinity;
  let row = 0;
  for (const m of markers) {
    const x = Math.round(u.valToPos(m.x, 'x', true)) + 0.5;
    if (x < left || x > left + width) continue;
    ctx.strokeStyle = m.color;
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash(m.dash ? m.dash.map((d) => d * px) : []);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    row = x - lastX < 60 * px ? (row + 1) % 4 : 0;
    lastX = x;
    ctx.fillStyle = m.color;
    ctx.fillText(m.label, x + 3 * px, top + (3 + 13 * row) * px);
  }
  ctx.restore();
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 1e5, 2e5, 5e5, 1e6];

export class LiveChart {
  private plot?: uPlot;
  private signature = '';
  private observer: ResizeObserver;
  /** Non-null y values in the data last set (what the tests read). */
  points = 0;
  /** Labels of the series last set. */
  labels: string[] = [];
  /** Vertical markers drawn over the data last set. */
  markers: Marker[] = [];

  constructor(
    readonly host: HTMLElement,
    readonly options: ChartOptions,
  ) {
    this.observer = new ResizeObserver(() => this.fit());
    this.observer.observe(host);
  }

  private size() {
    return { width: Math.max(240, Math.floor(this.host.clientWidth)), height: this.options.height ?? 210 };
  }

  private fit() {
    if (!this.plot) return;
    const s = this.size();
    if (s.width !== this.plot.width || s.height !== this.plot.height) this.plot.setSize(s);
  }

  private build(series: SeriesSpec[], data: uPlot.AlignedData) {
    this.plot?.destroy();
    const o = this.options;
    const fmt = o.fmt ?? fmtNumber;

    const opts: uPlot.Options = {
      ...this.size(),
      legend: { live: true },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: {
        x: { time: false },
        y: o.log ? { distr: 3, log: 10 } : o.yRange ? { range: o.yRange } : { auto: true },
      },
      axes: [
        {
          label: o.xLabel,
          labelSize: 18,
          size: 36,
          stroke: '#475569',
          grid: { stroke: '#e2e8f0', width: 1 },
          ticks: { stroke: '#cbd5e1' },
          incrs: o.xIntegers ? INTEGER_INCRS : undefined,
          values: (_u, splits) => splits.map((v) => (v == null ? '' : fmtTick(v))),
        },
        {
          label: o.yLabel,
          labelSize: 18,
          size: 58,
          stroke: '#475569',
          grid: { stroke: '#e2e8f0', width: 1 },
          ticks: { stroke: '#cbd5e1' },
          incrs: o.yIntegers ? INTEGER_INCRS : undefined,
          values: (_u, splits) => splits.map((v) => (v == null ? '' : fmtTick(v))),
        },
      ],
      series: [
        { label: o.xLabel, value: (_u, v) => (v == null ? '–' : (o.xFmt ?? ((x: number) => String(Math.round(x))))(v)) },
        ...series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.alpha !== undefined && !s.bars ? withAlpha(s.color, s.alpha) : s.color,
          fill: s.bars ? withAlpha(s.color, 0.55) : undefined,
          width: s.bars ? 0 : (s.width ?? 1.75),
          dash: s.dash ? [...s.dash] : undefined,
          spanGaps: !!s.points,
          points: s.points ? { show: true, size: 7, fill: s.color } : { show: false },
          paths: s.bars ? uPlot.paths.bars!({ size: [s.bars.size, Infinity], align: s.bars.align, gap: 1 }) : undefined,
          value: (_u, v) => (v == null ? '–' : fmt(v)),
        })),
      ],
      hooks: { draw: [(u) => drawMarkers(u, this.markers)] },
    };
    this.plot = new uPlot(opts, data, this.host);
  }

  /** Show these series with this data (x first, then one array per series), and these markers. */
  set(series: SeriesSpec[], data: (number | null)[][], markers: Marker[] = []) {
    this.markers = markers;
    const sig = JSON.stringify(series);
    const aligned = data as uPlot.AlignedData;
    if (this.options.log) {
      for (let i = 1; i < aligned.length; i++) {
        const ys = aligned[i] as (number | null)[];
        for (let j = 0; j < ys.length; j++) if (ys[j] != null && !((ys[j] as number) > 0)) ys[j] = null;
      }
    }
    this.points = 0;
    for (let i = 1; i < data.length; i++) for (const v of data[i]) if (v != null && Number.isFinite(v)) this.points++;
    this.labels = series.map((s) => s.label);
    if (sig !== this.signature || !this.plot) {
      this.signature = sig;
      this.build(series, aligned);
    } else {
      this.plot.setData(aligned);
    }
    const plot = this.plot!;
    const n = data[0].length;
    if (this.options.legendLatest !== false && n > 0 && !(plot.cursor.left! >= 0)) {
      // Each series' latest value (runs may end at different points).
      const idxs = data.map((ys) => {
        for (let i = ys.length - 1; i >= 0; i--) if (ys[i] != null) return i;
        return null;
      });
      plot.setLegend({ idx: n - 1, idxs });
    }
  }

  clear() {
    this.plot?.destroy();
    this.plot = undefined;
    this.signature = '';
    this.points = 0;
    this.labels = [];
    this.markers = [];
  }
}
