// The dead-units card: per run, its dead-unit policy and what the checks did, any alarm in
// plain words, and per hidden layer a unit map: one cell per unit, dead, rare or active
// (shaded by how often it fires), from the run's latest per-unit activity.
import { $, IDS, pct } from './dom.ts';
import type { Run, RunId } from './run.ts';
import { page } from './state.ts';
import { countStates, RARE_BELOW, unitState, type LayerActivity, type UnitActivity } from './unit-activity.ts';

const DEAD: RGB = [30, 41, 59];
const RARE: RGB = [245, 158, 11];
/** Active units: pale to deep green as the share of examples they fire on grows (log scale, 1% … 100%). */
const ACTIVE_LO: RGB = [187, 247, 208];
const ACTIVE_HI: RGB = [21, 128, 61];
type RGB = [number, number, number];

const CAUSES: Record<string, string> = {
  initialisation: 'initialisation (dead from the first batch)',
  'learning-rate': 'learning rate too high (the units died while training)',
  blocked: 'blocked (a later layer is dead, so no gradient reaches it)',
  earlier: 'it died before this run resumed',
};

function activeColor(freq: number): RGB {
  const t = Math.max(0, Math.min(1, Math.log10(Math.max(freq, RARE_BELOW) / RARE_BELOW) / Math.log10(1 / RARE_BELOW)));
  return [0, 1, 2].map((i) => Math.round(ACTIVE_LO[i] + t * (ACTIVE_HI[i] - ACTIVE_LO[i]))) as RGB;
}

/** Draws one layer's units as a grid of cells (row-major, unit 0 top left); returns the cells drawn. */
export function drawUnitMap(canvas: HTMLCanvasElement, l: LayerActivity): number {
  const cols = Math.max(1, Math.ceil(Math.sqrt(l.units)));
  const rows = Math.max(1, Math.ceil(l.units / cols));
  const cell = Math.max(3, Math.min(16, Math.floor(192 / cols)));
  const gap = cell >= 6 ? 1 : 0;
  const W = cols * cell;
  const H = rows * cell;
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(W, H);
  img.data.fill(255);
  for (let j = 0; j < l.units; j++) {
    const s = unitState(l, j);
    const [r, g, b] = s === 'dead' ? DEAD : s === 'rare' ? RARE : activeColor(l.freq[j]);
    const x0 = (j % cols) * cell;
    const y0 = Math.floor(j / cols) * cell;
    for (let y = y0; y < y0 + cell - gap; y++) {
      for (let x = x0; x < x0 + cell - gap; x++) {
        const p = (y * W + x) * 4;
        img.data[p] = r;
        img.data[p + 1] = g;
        img.data[p + 2] = b;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
  canvas.dataset.cells = String(l.units);
  return l.units;
}

/** What the run's map shows, in words. */
function sourceText(r: Run, a: UnitActivity): string {
  if (a.source === 'test') {
    const m = r.testMeasure;
    return `On ${a.examples.toLocaleString('en')}${m && !m.done ? ` of ${m.of.toLocaleString('en')}` : ''} MNIST test images, weights of step ${a.step.toLocaleString('en')}: dead = fired on none of them.`;
  }
  const per = r.trainer.stepsPerEpoch;
  const since = Math.floor((a.step - 1) / per) * per + 1;
  return `Step ${a.step.toLocaleString('en')}: dead = fired on no example since step ${since.toLocaleString('en')} (the dead-unit window, an epoch); rare and active from the latest batch of ${a.examples}.`;
}

function policyText(r: Run): string {
  const per = r.trainer.stepsPerEpoch;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const done = r.checks.filter((c) => sum(c.revived) + sum(c.pruned) > 0).slice(-3);
  const did = done
    .map((c) =>
      sum(c.pruned) > 0
        ? `step ${c.step}: pruned ${c.pruned.join(' / ')}, widths now ${c.widths.join('-')}`
        : `step ${c.step}: revived ${c.revived.join(' / ')}`,
    )
    .join('; ');
  switch (r.config.deadUnits) {
    case 'keep':
      return 'Policy keep: the trainer only watches; the alarm fires when half of a layer stays dead for 20 steps.';
    case 'revive':
      return `Policy revive: every ${per} steps (an epoch) the trainer scans the training images with the weights frozen and re-initialises the units dead on all of them. Checks: ${r.checks.length}${did ? ` (${did})` : ''}.`;
    case 'prune':
      return `Policy prune: every ${per} steps (an epoch) the trainer scans the training images with the weights frozen and removes the units dead on all of them. Checks: ${r.checks.length}${did ? ` (${did})` : ''}.`;
  }
}

/** Per run: the structure built for its layer count, and the activity last drawn. */
const built = new Map<RunId, { layers: number; drawn?: UnitActivity }>();

function buildRun(id: RunId, layers: number): HTMLElement {
  const box = $(`units-${id}`);
  box.replaceChildren();
  const head = document.createElement('h4');
  head.innerHTML = `<span class="swatch swatch-${id}"></span><span class="units-title"></span>`;
  const alarm = document.createElement('div');
  alarm.className = 'alarm';
  alarm.setAttribute('role', 'alert');
  alarm.hidden = true;
  const maps = document.createElement('div');
  maps.className = 'unit-layers';
  for (let h = 0; h < layers; h++) {
    const cell = document.createElement('div');
    cell.className = 'unit-layer';
    cell.innerHTML = `<div class="k"></div><canvas width="1" height="1"></canvas><div class="v"></div>`;
    maps.append(cell);
  }
  const source = document.createElement('p');
  source.className = 'units-source';
  const policy = document.createElement('p');
  policy.className = 'units-policy';
  box.append(head, alarm, maps, source, policy);
  built.set(id, { layers });
  return box;
}

/** Draws the unit maps, alarms and policy notes of every run (a generator: the caller spreads it over frames). */
export function* renderDeadUnits(): Generator<void> {
  for (const id of IDS) {
    const r = page.runs[id];
    const box = $(`units-${id}`);
    if (!r) {
      box.hidden = true;
      built.delete(id);
      continue;
    }
    box.hidden = false;
    const H = r.model.hidden.length;
    if (built.get(id)?.layers !== H) buildRun(id, H);
    const state = built.get(id)!;
    box.querySelector('.units-title')!.textContent = `Run ${id} · ${r.description}`;
    const alarm = box.querySelector<HTMLElement>('.alarm')!;
    alarm.hidden = r.alarms.length === 0;
    if (r.alarms.length) {
      alarm.replaceChildren(
        ...r.alarms.map((a) => {
          const p = document.createElement('p');
          const b = document.createElement('strong');
          b.textContent = `Hidden layer ${a.layer} died at step ${a.step}: ${pct(a.deadFraction, 0)} of its ${a.units} units dead. Likely cause: ${CAUSES[a.cause] ?? a.cause}.`;
          p.append(b, ` ${a.message}`);
          return p;
        }),
      );
    }
    box.querySelector('.units-policy')!.textContent = policyText(r);
    const a = r.unitActivity;
    box.querySelector('.units-source')!.textContent = a ? sourceText(r, a) : 'No per-unit activity yet: it is read back after the first steps.';
    if (!a || state.drawn === a) continue;
    const cells = box.querySelectorAll<HTMLElement>('.unit-layer');
    a.layers.forEach((l, h) => {
      const el = cells[h];
      if (!el) return;
      drawUnitMap(el.querySelector('canvas')!, l);
      const n = countStates(l);
      el.querySelector('.k')!.textContent = `layer ${h + 1} · ${l.units.toLocaleString('en')} units`;
      el.querySelector('.v')!.innerHTML =
        `<span class="u-dead">${n.dead} dead</span> · <span class="u-rare">${n.rare} rare</span> · <span class="u-active">${n.active} active</span>`;
    });
    state.drawn = a;
    yield;
  }
}

/** What the maps show now, per run (the test hook). */
export function unitMapSnapshot(r: Run) {
  const a = r.unitActivity;
  const box = document.getElementById(`units-${r.id}`);
  const canvases = box ? Array.from(box.querySelectorAll<HTMLCanvasElement>('.unit-layer canvas')) : [];
  return {
    source: a?.source ?? null,
    step: a?.step ?? null,
    examples: a?.examples ?? 0,
    layers: (a?.layers ?? []).map((l, h) => ({ units: l.units, ...countStates(l), cells: Number(canvases[h]?.dataset.cells ?? 0) })),
    alarmText: box?.querySelector<HTMLElement>('.alarm:not([hidden])')?.textContent ?? null,
  };
}
