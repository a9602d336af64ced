// The dead-units experiment's figures as SVG (Vega-Lite, headless), one per question.
import type { TopLevelSpec } from 'vega-lite';
import { SCHEMA, svg } from './charts.ts';
import type { ContinualResult } from './continual.ts';
import type { TrainResult } from './dead-runs.ts';
import { continualPolicyName, finalDeadFraction, policyName, settingName, type DeadUnitsResults } from './dead-units.ts';

const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);
const cellName = (r: TrainResult) => settingName(r.spec);
const net = (hidden: number[]) => [784, ...hidden, 10].join('-');

/** E0: P(born dead on the image set) against depth by width, beside the one-image bound. */
export function bornDeadChart(res: DeadUnitsResults): Promise<string> {
  const values = res.e0.flatMap((c) => [
    { init: c.init, width: c.width, depth: c.depth, p: c.bornDead / Math.max(1, c.seeds), kind: `constant on all ${res.config.e0.images} images (measured)` },
    { init: c.init, width: c.width, depth: c.depth, p: c.theory, kind: 'dead at one image: 1 − (1 − 2^−width)^depth' },
  ]);
  return svg({
    $schema: SCHEMA,
    title: 'Born dead: bias-free relu networks constant at initialisation',
    data: { values },
    facet: { column: { field: 'init', type: 'nominal', title: 'initialisation' } },
    spec: {
      width: 260,
      height: 200,
      mark: { type: 'line', point: true, strokeWidth: 1.5 },
      encoding: {
        x: { field: 'depth', type: 'quantitative', title: 'hidden layers', scale: { type: 'log', base: 2 }, axis: { values: res.config.e0.depths } },
        y: { field: 'p', type: 'quantitative', title: 'probability', scale: { domain: [0, 1] } },
        color: { field: 'width', type: 'ordinal', title: 'width' },
        strokeDash: { field: 'kind', type: 'nominal', title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 } },
      },
    },
  } as TopLevelSpec);
}

/** E0: fraction of each layer's units dead on every image, at the deepest depth. */
export function bornDeadLayersChart(res: DeadUnitsResults): Promise<string> {
  const deepest = Math.max(...res.config.e0.depths);
  const values = res.e0.filter((c) => c.depth === deepest).flatMap((c) => c.deadFraction.map((f, h) => ({ init: c.init, width: c.width, layer: h + 1, f })));
  return svg({
    $schema: SCHEMA,
    title: `Units dead on every image at initialisation, by layer (networks of ${deepest} hidden layers)`,
    data: { values },
    facet: { column: { field: 'init', type: 'nominal', title: 'initialisation' } },
    spec: {
      width: 260,
      height: 200,
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'layer', type: 'quantitative', title: 'hidden layer' },
        y: { field: 'f', type: 'quantitative', title: 'dead fraction (mean over seeds)', axis: { format: '%' }, scale: { domain: [0, 1] } },
        color: { field: 'width', type: 'ordinal', title: 'width' },
      },
    },
  } as TopLevelSpec);
}

/** E1: dead fraction per layer over training, one panel per cell of the map. */
export function deathMapChart(res: DeadUnitsResults): Promise<string> {
  const runs = res.e1.filter((r) => r.spec.key.startsWith('e1-'));
  const column = (r: TrainResult) => res.config.e1.columns.find((c) => r.spec.key.startsWith(`e1-${c.name}-`))?.name ?? r.spec.activation;
  const values = runs.flatMap((r) =>
    r.trace.flatMap((p) => p.dead.map((d, h) => ({ column: column(r), setting: cellName(r), epoch: p.epoch, layer: `hidden ${h + 1}`, f: d / p.widths[h] }))),
  );
  return svg({
    $schema: SCHEMA,
    title: `E1: units dead on the training sample during training (${net(res.config.e1.hidden)})`,
    data: { values },
    facet: {
      row: { field: 'column', type: 'nominal', title: null, sort: res.config.e1.columns.map((c) => c.name) },
      column: { field: 'setting', type: 'nominal', title: null, sort: res.config.e1.settings.map(settingName) },
    },
    spec: {
      width: 110,
      height: 90,
      mark: { type: 'line', strokeWidth: 1.5, point: { size: 12 } },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'f', type: 'quantitative', title: 'dead', axis: { format: '%' }, scale: { domain: [0, 1] } },
        color: { field: 'layer', type: 'nominal', title: 'layer' },
      },
    },
  } as TopLevelSpec);
}

/** E1: test error against the dead fraction at the end, every finite cell. */
export function deadErrorChart(res: DeadUnitsResults): Promise<string> {
  const column = (r: TrainResult) =>
    r.spec.key.startsWith('e1x-')
      ? `relu, ${r.spec.hidden.length} layers, ${r.spec.init}`
      : (res.config.e1.columns.find((c) => r.spec.key.startsWith(`e1-${c.name}-`))?.name ?? r.spec.activation);
  const values = res.e1.filter((r) => r.final).map((r) => ({ dead: finalDeadFraction(r), error: r.final!.testError, setting: cellName(r), column: column(r) }));
  return svg({
    $schema: SCHEMA,
    title: 'E1: test error against the fraction of hidden units dead at the end',
    data: { values },
    width: 420,
    height: 280,
    mark: { type: 'point', filled: true, size: 70 },
    encoding: {
      x: { field: 'dead', type: 'quantitative', title: 'hidden units dead on the training sample', axis: { format: '%' } },
      y: { field: 'error', type: 'quantitative', title: 'test error', axis: { format: '.1%' }, scale: { type: 'log' } },
      color: { field: 'setting', type: 'nominal', title: 'optimiser, lr', sort: res.config.e1.settings.map(settingName) },
      shape: { field: 'column', type: 'nominal', title: 'cell', legend: { labelLimit: 300 } },
    },
  } as TopLevelSpec);
}

/** Dead units (sum over layers) and hidden units left over training, one line per policy (E2 or E3). */
export function policyChart(res: DeadUnitsResults, part: 'e2' | 'e3', title: string): Promise<string> {
  const runs = part === 'e2' ? res.e2.runs : res.e3;
  const values = runs.flatMap((r) =>
    r.trace.flatMap((p) => [
      { policy: policyName(res.config, r.spec, part), epoch: p.epoch, measure: 'dead units (training sample)', n: sum(p.dead) },
      { policy: policyName(res.config, r.spec, part), epoch: p.epoch, measure: 'dormant units (τ = 0.025)', n: sum(p.dormant) },
      { policy: policyName(res.config, r.spec, part), epoch: p.epoch, measure: 'hidden units', n: sum(p.widths) },
    ]),
  );
  return svg({
    $schema: SCHEMA,
    title,
    data: { values },
    facet: { column: { field: 'measure', type: 'nominal', title: null, sort: ['dead units (training sample)', 'dormant units (τ = 0.025)', 'hidden units'] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 200,
      height: 170,
      mark: { type: 'line', strokeWidth: 1.5, point: { size: 14 } },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'n', type: 'quantitative', title: 'units' },
        color: { field: 'policy', type: 'nominal', title: 'policy', sort: null, legend: { labelLimit: 300 } },
      },
    },
  } as TopLevelSpec);
}

const e4Setting = (r: ContinualResult) => settingName(r.spec);

/** E4: accuracy on each task as it was learnt, one line per policy, one panel per optimiser. */
export function continualAccuracyChart(res: DeadUnitsResults): Promise<string> {
  const values = res.e4.flatMap((r) =>
    r.tasks.map((t) => ({ setting: e4Setting(r), policy: continualPolicyName(res.config, r.spec), task: t.task, acc: t.onlineAccuracy })),
  );
  return svg({
    $schema: SCHEMA,
    title: 'E4: permuted MNIST, online accuracy on each new task',
    data: { values },
    facet: { column: { field: 'setting', type: 'nominal', title: null } },
    spec: {
      width: 280,
      height: 200,
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'task', type: 'quantitative', title: 'task' },
        y: { field: 'acc', type: 'quantitative', title: 'online accuracy', axis: { format: '%' }, scale: { zero: false } },
        color: { field: 'policy', type: 'nominal', title: 'policy', sort: null, legend: { labelLimit: 300 } },
      },
    },
  } as TopLevelSpec);
}

/** E4: dead and dormant units at the end of each task. */
export function continualUnitsChart(res: DeadUnitsResults): Promise<string> {
  const values = res.e4.flatMap((r) =>
    r.tasks.flatMap((t) => [
      { setting: e4Setting(r), policy: continualPolicyName(res.config, r.spec), task: t.task, measure: 'dead', n: sum(t.deadEnd) },
      { setting: e4Setting(r), policy: continualPolicyName(res.config, r.spec), task: t.task, measure: 'dormant (τ = 0.025)', n: sum(t.dormantEnd) },
    ]),
  );
  return svg({
    $schema: SCHEMA,
    title: 'E4: dead and dormant units (sum over the hidden layers) at the end of each task',
    data: { values },
    facet: { row: { field: 'measure', type: 'nominal', title: null }, column: { field: 'setting', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 280,
      height: 150,
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'task', type: 'quantitative', title: 'task' },
        y: { field: 'n', type: 'quantitative', title: 'units' },
        color: { field: 'policy', type: 'nominal', title: 'policy', sort: null, legend: { labelLimit: 300 } },
      },
    },
  } as TopLevelSpec);
}

/** Every figure of the report: file name → SVG (a part with no results yet draws nothing). */
export async function deadUnitsCharts(res: DeadUnitsResults): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (res.e0.length) {
    out['e0-born-dead.svg'] = await bornDeadChart(res);
    out['e0-layers.svg'] = await bornDeadLayersChart(res);
  }
  if (res.e1.length) {
    out['e1-death-map.svg'] = await deathMapChart(res);
    out['e1-dead-vs-error.svg'] = await deadErrorChart(res);
  }
  if (res.e2.runs.length) out['e2-policies.svg'] = await policyChart(res, 'e2', `E2: the policies on ${res.e2.cell}`);
  if (res.e3.length) out['e3-paper-network.svg'] = await policyChart(res, 'e3', `E3: ${net(res.config.e3.hidden)} with the L1 penalty ${res.config.e3.l1}`);
  if (res.e4.length) {
    out['e4-accuracy.svg'] = await continualAccuracyChart(res);
    out['e4-units.svg'] = await continualUnitsChart(res);
  }
  return out;
}
