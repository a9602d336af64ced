// The experiment's figures as SVG, drawn by Vega-Lite (headless: no canvas needed).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Progress } from './glorot2011.ts';

async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const out = await view.toSVG();
  view.finalize();
  return out;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
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
