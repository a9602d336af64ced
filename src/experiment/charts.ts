// The experiment's figures as SVG, drawn by Vega-Lite (headless: no canvas needed).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Progress } from './glorot2011.ts';

/** A Vega-Lite spec drawn as SVG. */
export async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const out = await view.toSVG();
  view.finalize();
  return out;
}

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const layerName = (i: number, n: number) => (i === n - 1 ? 'output' : `hidden ${i + 1}`);

/** Fraction of exact zeros per hidden layer over training, one panel per model. */
export function sparsityChart(runs: Progress[]): Promise<string> {
  const values = runs.flatMap((p) =>
    p.samples.flatMap((s) => s.sparsity.map((v, i) => ({ model: p.variant.name, epoch: s.epoch, layer: `hidden ${i + 1}`, sparsity: v }))),
  );
  return svg({
    $schema: SCHEMA,
    title: 'Exact zeros in each hidden layer during training (training batches)',
    data: { values },
    facet: { column: { field: 'model', type: 'nominal', title: null } },
    spec: {
      width: 220,
      height: 180,
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'sparsity', type: 'quantitative', title: 'sparsity', axis: { format: '%' }, scale: { domain: [0, 1] } },
        color: { field: 'layer', type: 'nominal', title: 'layer' },
      },
    },
  } as TopLevelSpec);
}

/** ‖∂L/∂W‖ per layer over training on a log scale: the vanishing-gradient view. */
export function gradNormChart(runs: Progress[]): Promise<string> {
  const values = runs.flatMap((p) =>
    p.samples.flatMap((s) =>
      s.gradNorm.map((v, i) => ({ model: p.variant.name, epoch: s.epoch, layer: layerName(i, s.gradNorm.length), gradNorm: Math.max(v, 1e-12) })),
    ),
  );
  return svg({
    $schema: SCHEMA,
    title: 'Weight-gradient norm ‖∂L/∂W‖ of each layer during training',
    data: { values },
    facet: { column: { field: 'model', type: 'nominal', title: null } },
    spec: {
      width: 220,
      height: 180,
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'gradNorm', type: 'quantitative', title: '‖∂L/∂W‖', scale: { type: 'log' } },
        color: { field: 'layer', type: 'nominal', title: 'layer', sort: null },
      },
    },
  } as TopLevelSpec);
}

/** Exact zeros per hidden layer right after initialisation (whole test set). */
export function initSparsityChart(runs: Progress[]): Promise<string> {
  const values = runs.flatMap((p) => (p.init?.sparsity ?? []).map((v, i) => ({ model: p.variant.name, layer: `hidden ${i + 1}`, sparsity: v })));
  return svg({
    $schema: SCHEMA,
    title: 'Exact zeros right after initialisation (Glorot uniform, zero biases)',
    data: { values },
    width: 320,
    height: 180,
    mark: 'bar',
    encoding: {
      x: { field: 'model', type: 'nominal', title: null },
      xOffset: { field: 'layer' },
      y: { field: 'sparsity', type: 'quantitative', title: 'sparsity', axis: { format: '%' }, scale: { domain: [0, 1] } },
      color: { field: 'layer', type: 'nominal', title: 'layer' },
    },
  } as TopLevelSpec);
}

/** One grid run as the λ-sweep figure plots it. */
export interface SweepPoint {
  l1: number;
  lr: number;
  /** Mean fraction of exact zeros on the test set, and the test error, at the best-validation epoch. */
  sparsity: number;
  error: number;
}

/**
 * Test error against sparsity over the rectifier's λ sweep: one point per (λ, learning
 * rate), the band the selection asks for shaded, the paper's result marked, and other
 * models' test errors as horizontal lines for comparison.
 */
export function sparsityErrorChart(
  points: SweepPoint[],
  band: [number, number],
  paper: { sparsity: number; error: number },
  others: { model: string; error: number }[],
): Promise<string> {
  const x = {
    field: 'sparsity',
    type: 'quantitative',
    title: 'mean exact zeros in the hidden layers (test set)',
    axis: { format: '%' },
    scale: { zero: false },
  } as const;
  const y = { field: 'error', type: 'quantitative', title: 'test error (best-validation epoch)', axis: { format: '.1%' }, scale: { zero: false } } as const;
  return svg({
    $schema: SCHEMA,
    title: 'Rectifier: test error against sparsity over the λ sweep',
    width: 420,
    height: 260,
    layer: [
      {
        data: { values: [{ lo: band[0], hi: band[1] }] },
        mark: { type: 'rect', opacity: 0.12, color: '#4c78a8' },
        encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } },
      },
      {
        data: { values: others },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
        encoding: { y: { field: 'error', type: 'quantitative' } },
      },
      {
        data: { values: others },
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#555' },
        encoding: { y: { field: 'error', type: 'quantitative' }, x: { value: 0 }, text: { field: 'model' } },
      },
      {
        data: { values: points.map((p) => ({ ...p, lambda: `λ ${p.l1}`, rate: `lr ${p.lr}` })) },
        mark: { type: 'point', filled: true, size: 70 },
        encoding: { x, y, color: { field: 'lambda', type: 'nominal', title: 'L1 penalty' }, shape: { field: 'rate', type: 'nominal', title: 'learning rate' } },
      },
      {
        data: { values: [{ ...paper, label: 'paper' }] },
        mark: { type: 'point', shape: 'cross', size: 120, color: 'black' },
        encoding: { x, y },
      },
      {
        data: { values: [{ ...paper, label: 'paper (λ 0.001)' }] },
        mark: { type: 'text', align: 'left', dx: 7, dy: 3 },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec);
}

/** One measured throughput of the sparsity sweep (bench/sparse-sweep.ts). */
export interface ThroughputPoint {
  /** Fraction of exact zeros in every hidden layer at the start of the timed steps. */
  sparsity: number;
  examplesPerSecond: number;
  /** e.g. "rectigrad-cpu sparse path", "PyTorch (OpenBLAS)". */
  engine: string;
}

/** Training examples/s against the hidden layers' sparsity, one line per engine. */
export function sparsityThroughputChart(points: ThroughputPoint[], title: string): Promise<string> {
  return svg({
    $schema: SCHEMA,
    title,
    width: 420,
    height: 260,
    data: { values: points },
    mark: { type: 'line', point: true, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'sparsity', type: 'quantitative', title: 'exact zeros in the hidden layers', axis: { format: '%' }, scale: { domain: [0, 1] } },
      y: { field: 'examplesPerSecond', type: 'quantitative', title: 'training examples/s', scale: { zero: true } },
      color: { field: 'engine', type: 'nominal', title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 } },
    },
  } as TopLevelSpec);
}
