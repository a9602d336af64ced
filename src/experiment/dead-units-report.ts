// The dead-units experiment's markdown report: each part's table, the findings read off
// the numbers (so the text always says what this run measured), the figures, what was
// scaled down, and the papers. Written after every finished run, so a partial run reads too.
import type { ContinualResult } from './continual.ts';
import type { TrainResult } from './dead-runs.ts';
import {
  continualPolicyName,
  e1Specs,
  e4Specs,
  finalDeadFraction,
  policyName,
  settingName,
  type DeadUnitsConfig,
  type DeadUnitsResults,
} from './dead-units.ts';

export interface DeadUnitsReportContext {
  command: string;
  wallSeconds: number;
  adapter: string;
  machine: string;
  date: string;
}

const pct = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(d)}%`);
const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);
const mean = (a: number[]) => (a.length ? sum(a) / a.length : NaN);
const net = (hidden: number[]) => [784, ...hidden, 10].join('-');
/** Multiply-adds of one forward pass (training costs about three times as many). */
const macs = (hidden: number[]) => [784, ...hidden, 10].reduce((s, w, i, a) => (i ? s + a[i - 1] * w : 0), 0);
const n0 = (x: number) => Math.round(x).toLocaleString('en');
const secs = (s: number) => `${s.toFixed(s >= 100 ? 0 : 1)} s`;

/** Spearman's rank correlation (average ranks for ties). */
export function spearman(x: number[], y: number[]): number {
  const rank = (a: number[]) => {
    const idx = a.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(a.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
      for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return r;
  };
  const rx = rank(x);
  const ry = rank(y);
  const mx = mean(rx);
  const my = mean(ry);
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < x.length; i++) {
    num += (rx[i] - mx) * (ry[i] - my);
    dx += (rx[i] - mx) ** 2;
    dy += (ry[i] - my) ** 2;
  }
  return dx && dy ? num / Math.sqrt(dx * dy) : NaN;
}

const column = (c: DeadUnitsConfig, r: TrainResult) =>
  r.spec.key.startsWith('e1x-')
    ? `relu, ${r.spec.hidden.length}×${r.spec.hidden[0]}, ${r.spec.init} init`
    : (c.e1.columns.find((col) => r.spec.key.startsWith(`e1-${col.name}-`))?.name ?? r.spec.activation);

/** The scan closest after `epoch` (or the last). */
const at = (r: TrainResult, epoch: number) => r.trace.find((p) => p.epoch >= epoch - 1e-9) ?? r.trace[r.trace.length - 1];
const deadFrac = (p: { dead: number[]; widths: number[] }) => sum(p.dead) / sum(p.widths);
const layers = (a: number[]) => a.join(' / ');

function e0Section(res: DeadUnitsResults, lines: string[]): string[] {
  const c = res.config.e0;
  const findings: string[] = [];
  const cells = res.e0;
  lines.push('## E0 — born dead: relu networks constant at initialisation', '');
  lines.push(
    `No training. Bias-free relu networks of every width in {${c.widths.join(', ')}} and depth (hidden layers) in {${c.depths.join(', ')}}, ` +
      `784 inputs, weights drawn by the engine's initialisers (Glorot uniform; He normal), biases 0, evaluated on ${n0(c.images)} MNIST training images ` +
      `(a fixed sample). Seeds per width: ${c.widths.map((w) => `${w}: ${c.seeds[w]}`).join(', ')}. A network is **born dead** on the images when some hidden layer outputs 0 ` +
      `for every one of them: every later layer then sees 0 and the output is constant. Each seed's network is drawn ${Math.max(...c.depths)} layers deep and read at every depth ` +
      `(its first L layers are the depth-L network of that seed: with zero biases a layer's scale cannot change a sign). ` +
      `For one image x ≠ 0 and weights symmetric about 0, each unit's pre-activation is ≤ 0 with probability ½, independently, so the chance that some layer is all 0 at x is exactly ` +
      `1 − (1 − 2^−width)^depth; being dead on every image needs that at each image, so this bounds P(born dead) from above.`,
    '',
  );
  if (!cells.length) {
    lines.push('_Not run yet._', '');
    return findings;
  }
  lines.push(`### Networks born dead on the ${n0(c.images)} images`, '');
  lines.push(`| init | width | ${c.depths.map((d) => `depth ${d}`).join(' | ')} |`);
  lines.push(`|---|---|${c.depths.map(() => '---').join('|')}|`);
  for (const init of c.inits) {
    for (const w of c.widths) {
      const row = c.depths.map((d) => cells.find((x) => x.init === init && x.width === w && x.depth === d));
      if (!row.some(Boolean)) continue;
      lines.push(`| ${init} | ${w} | ${row.map((x) => (x ? `${pct(x.bornDead / x.seeds)} (${x.bornDead}/${x.seeds})` : '–')).join(' | ')} |`);
    }
  }
  lines.push('', '### Dead at one image: measured (mean over seeds and images) against 1 − (1 − 2^−width)^depth', '');
  lines.push(`| width | ${c.depths.map((d) => `depth ${d}: ${c.inits.join(' / ')} / bound`).join(' | ')} |`);
  lines.push(`|---|${c.depths.map(() => '---').join('|')}|`);
  for (const w of c.widths) {
    const row = c.depths.map((d) => {
      const xs = c.inits.map((i) => cells.find((x) => x.init === i && x.width === w && x.depth === d));
      if (!xs.some(Boolean)) return '–';
      return `${xs.map((x) => (x ? x.deadAtImage.toFixed(3) : '–')).join(' / ')} / ${xs.find(Boolean)!.theory.toFixed(3)}`;
    });
    lines.push(`| ${w} | ${row.join(' | ')} |`);
  }
  const deepest = Math.max(...c.depths);
  const show = [...new Set([1, 2, 4, 8, 16, 32, deepest].filter((l) => l <= deepest))];
  lines.push('', `### Units dead on every image, by layer (networks ${deepest} layers deep, mean over seeds)`, '');
  lines.push(`| init | width | ${show.map((l) => `layer ${l}`).join(' | ')} | layer ${deepest}, networks not born dead |`);
  lines.push(`|---|---|${show.map(() => '---').join('|')}|---|`);
  for (const init of c.inits) {
    for (const w of c.widths) {
      const x = cells.find((y) => y.init === init && y.width === w && y.depth === deepest);
      if (!x) continue;
      const alive = x.deadFractionAlive[deepest - 1];
      lines.push(`| ${init} | ${w} | ${show.map((l) => pct(x.deadFraction[l - 1])).join(' | ')} | ${alive === null ? 'none alive' : pct(alive)} |`);
    }
  }
  lines.push('', '![born dead against depth](e0-born-dead.svg)', '', '![dead units by layer at initialisation](e0-layers.svg)', '');

  // Findings.
  const narrow = Math.min(...c.widths);
  const byInit = (init: string, w: number) => cells.filter((x) => x.init === init && x.width === w).sort((a, b) => a.depth - b.depth);
  for (const init of c.inits) {
    const n = byInit(init, narrow);
    if (n.length >= 2) {
      const a = n[0];
      const b = n[n.length - 1];
      const rises = b.bornDead / b.seeds > a.bornDead / a.seeds;
      findings.push(
        `E0 (${init}): at width ${narrow}, ${pct(a.bornDead / a.seeds)} of networks are born dead at depth ${a.depth} and ${pct(b.bornDead / b.seeds)} at depth ${b.depth} ` +
          `(${b.bornDead} of ${b.seeds})` +
          (rises
            ? ' — rising with depth at fixed width, as Lu et al. (2019) prove it must (to 1 as depth → ∞).'
            : ' — not rising with depth here, against Lu et al. (2019): look at the seeds.'),
      );
    }
  }
  const neverWidths = c.widths.filter((w) => cells.filter((x) => x.width === w).every((x) => x.bornDead === 0) && cells.some((x) => x.width === w));
  const someWidths = c.widths.filter((w) => cells.some((x) => x.width === w && x.bornDead > 0));
  if (neverWidths.length) {
    findings.push(
      `E0: no network of width ${neverWidths.join(', ')} was born dead at any depth up to ${deepest}` +
        (someWidths.length ? `; the widest that ever was: ${Math.max(...someWidths)}` : '') +
        ` (the one-image bound 1 − (1 − 2^−w)^L is ${pointDeathBound(Math.min(...neverWidths), deepest)} at width ${Math.min(...neverWidths)}, depth ${deepest}).`,
    );
  }
  // Dead at one image: its expectation is the bound exactly. The images of one network die
  // together or not at all to an unknown degree, so the yardstick is the largest standard
  // error a mean over the seeds of values in [0, 1] with mean p can have: √(p(1 − p)/seeds).
  const gap = (x: (typeof cells)[number]) => Math.abs(x.deadAtImage - x.theory);
  const yard = (x: (typeof cells)[number]) => Math.sqrt((x.theory * (1 - x.theory)) / x.seeds);
  const z = cells.map((x) => (yard(x) > 0 ? gap(x) / yard(x) : gap(x) > 0 ? Infinity : 0));
  const far = z.filter((v) => v > 3).length;
  const worst = cells.reduce((a, b) => (gap(b) > gap(a) ? b : a));
  findings.push(
    `E0: the fraction of images at which a network is dead ${far ? 'departs from' : 'agrees with'} its exact expectation 1 − (1 − 2^−width)^depth: ` +
      `the largest gap is ${gap(worst).toFixed(3)} (width ${worst.width}, depth ${worst.depth}, ${worst.init}: ${worst.deadAtImage.toFixed(3)} against ${worst.theory.toFixed(3)}), ` +
      `and ${far} of ${cells.length} cells lie more than 3 × √(p(1 − p)/seeds) away, the largest standard error a mean over the seeds can have. ` +
      `Dead on *all* ${n0(c.images)} images can only be rarer than dead at one; the first table shows by how much.`,
  );
  if (c.inits.length === 2) {
    const diffs = cells
      .filter((x) => x.init === c.inits[0])
      .flatMap((x) => {
        const y = cells.find((v) => v.init === c.inits[1] && v.width === x.width && v.depth === x.depth);
        if (!y) return [];
        const p = x.bornDead / x.seeds;
        const q = y.bornDead / y.seeds;
        const se = Math.sqrt((p * (1 - p)) / x.seeds + (q * (1 - q)) / y.seeds);
        return [{ d: Math.abs(p - q), z: se > 0 ? Math.abs(p - q) / se : 0, x }];
      });
    if (diffs.length) {
      const m = diffs.reduce((a, b) => (b.z > a.z ? b : a));
      const same = m.z <= 3;
      findings.push(
        `E0: ${c.inits[0]} and ${c.inits[1]} ${same ? 'give the same picture' : 'differ'}: the largest difference in P(born dead) is ${pct(m.d)} (width ${m.x.width}, depth ${m.x.depth}; ` +
          `${m.z.toFixed(1)} standard errors). With zero biases a layer's scale cannot change a sign, so only the shape of the distribution could matter (uniform against normal), never its width.`,
      );
    }
  }
  const wide = Math.max(...c.widths);
  const wx = cells.find((x) => x.width === wide && x.depth === deepest && x.init === c.inits[0]);
  if (wx && deepest > 1) {
    const first = wx.deadFraction[0];
    const lastF = wx.deadFraction[deepest - 1];
    findings.push(
      `E0: at width ${wide}, depth ${deepest} (${wx.init}), ${wx.bornDead} of ${wx.seeds} networks are born dead, yet ${pct(first)} of layer 1's units and ${pct(lastF)} of layer ${deepest}'s ` +
        `are dead on every image` +
        (lastF > first + 0.05
          ? ': units die with depth though layers do not — deep relu layers map all images to ever more alike activations, so a unit tends to be off for all of them or for none.'
          : '.'),
    );
  }
  return findings;
}

function pointDeathBound(width: number, depth: number): string {
  const p = 1 - (1 - 2 ** -width) ** depth;
  return p < 1e-3 ? p.toExponential(1) : p.toFixed(3);
}

function trainRow(c: DeadUnitsConfig, r: TrainResult): string {
  const cellName = `${column(c, r)} | ${settingName(r.spec)}`;
  if (r.diverged) return `| ${cellName} | diverged at step ${r.diverged.step} | | | | | | | |`;
  const q = at(r, 0.25);
  const one = at(r, 1);
  const last = r.trace[r.trace.length - 1];
  const f = r.final!;
  const alarm = r.alarms[0];
  return (
    `| ${cellName} | ${pct(deadFrac(q))} | ${pct(deadFrac(one))} | ${layers(last.dead)} | **${pct(deadFrac(last))}** | ${layers(last.dormant)} | ${layers(f.deadTest)} | ` +
    `**${pct(f.testError, 2)}** | ${alarm ? `layer ${alarm.layer}, step ${alarm.step}` : '–'} |`
  );
}

function e1Section(res: DeadUnitsResults, lines: string[]): string[] {
  const c = res.config;
  const e = c.e1;
  const findings: string[] = [];
  lines.push('## E1 — death map: optimiser × learning rate × activation', '');
  lines.push(
    `${net(e.hidden)} trained for ${e.epochs} epoch${e.epochs === 1 ? '' : 's'} (batch ${c.batch}, seed ${c.seed}, Glorot init, zero biases) with SGD + momentum 0.9 or Adam at three learning rates each, ` +
      `for relu, leaky_relu (slope 0.01) and relu with the L1 activation penalty λ = ${e.columns.find((x) => x.l1 > 0)?.l1 ?? '–'}; then, at two settings, relu with He init and a network of ` +
      `${e.extra.hidden.length} hidden layers. Every ${n0(e.scanEvery)} training examples the weights are frozen and a fixed sample of ${n0(c.sample)} training images is scanned: a unit is **dead** ` +
      `when its pre-activation z ≤ 0 on every one of them (for leaky_relu, too: it still passes 1% of the gradient), **dormant** when its mean |activation| is at most 2.5% of its layer's mean ` +
      `(τ = 0.025, Sokar et al. 2023). Test error and dead units on the test set (${c.testLimit ? n0(c.testLimit) : '10,000'} images) at the end.`,
    '',
  );
  if (!res.e1.length) {
    lines.push('_Not run yet._', '');
    return findings;
  }
  const planned = e1Specs(c).length;
  if (res.e1.length < planned) lines.push(`_${res.e1.length} of ${planned} runs done so far._`, '');
  lines.push(
    '| cell | optimiser, lr | dead after ¼ epoch | after 1 epoch | dead at the end, by layer | dead, all layers | dormant at the end | dead on the test set | test error | first alarm |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of res.e1) lines.push(trainRow(c, r));
  lines.push(
    '',
    `Dead and dormant counts are units of the ${e.hidden.join(' / ')} of each layer, on the training sample; "first alarm" is the trainer's dead-layer alarm (half a layer silent for a whole ` +
      `${n0(e.window)}-example window, or a layer with no gradient).`,
    '',
    '![dead units during training, every cell](e1-death-map.svg)',
    '',
    '![test error against dead units](e1-dead-vs-error.svg)',
    '',
  );

  const map = res.e1.filter((r) => r.spec.key.startsWith('e1-'));
  const finite = res.e1.filter((r) => r.final);
  const diverged = res.e1.filter((r) => r.diverged);
  const relu = (col: string) => map.filter((r) => column(c, r) === col);
  for (const col of e.columns.map((x) => x.name)) {
    const rs = relu(col);
    if (!rs.length) continue;
    findings.push(
      `E1 (${col}): dead hidden units at the end — ${rs.map((r) => `${settingName(r.spec)}: ${r.diverged ? 'diverged' : pct(finalDeadFraction(r))}`).join(', ')}; ` +
        `test error ${rs.map((r) => (r.final ? pct(r.final.testError, 2) : '–')).join(', ')}.`,
    );
  }
  if (diverged.length)
    findings.push(
      `E1: ${diverged.length} run${diverged.length === 1 ? '' : 's'} diverged (non-finite loss): ${diverged.map((r) => `${column(c, r)} ${settingName(r.spec)}`).join(', ')}.`,
    );
  const dying = finite.filter((r) => finalDeadFraction(r) >= 0.1);
  if (dying.length) {
    const early = mean(dying.map((r) => deadFrac(at(r, 0.25)) / Math.max(1e-9, finalDeadFraction(r))));
    const w = Math.ceil(e.window / c.batch);
    const first = dying.map((r) => r.windows.find((w) => w.dead.some((d, h) => d >= 0.1 * r.spec.hidden[h]))?.step).filter((s): s is number => s !== undefined);
    findings.push(
      `E1, when: in the ${dying.length} runs that ended with ≥ 10% of their units dead, ${pct(early, 0)} of those units (mean over the runs) were already dead after the first quarter epoch` +
        (first.length
          ? `; the telemetry first counted ≥ 10% of a layer silent for a whole ${n0(e.window)}-example window (${w} steps) in the window ending at step ` +
            (Math.min(...first) === Math.max(...first)
              ? `${first[0]} (steps ${first[0] - w + 1}–${first[0]}) in every one of them`
              : `${Math.min(...first)}–${Math.max(...first)}`)
          : '') +
        (early >= 0.5 ? ': most units die in the first steps, not gradually.' : ': the units die gradually over training.'),
    );
  } else if (finite.length) findings.push('E1, when: no run ended with 10% of its units dead.');
  if (finite.length >= 4) {
    const rho = spearman(
      finite.map(finalDeadFraction),
      finite.map((r) => r.final!.testError),
    );
    findings.push(
      `E1, cost: over the ${finite.length} finite runs, Spearman's ρ between the dead fraction at the end and the test error is ${rho.toFixed(2)}` +
        (rho > 0.3
          ? ': runs with more dead units tend to end worse'
          : rho < -0.3
            ? ': runs with more dead units tend to end *better*'
            : ': no clear relation') +
        ' (across settings; the learning rate drives both).',
    );
  }
  const layerDead = (r: TrainResult) => r.final!.deadTrain.some((d, h) => d === r.final!.widths[h]);
  const whole = finite.filter(layerDead);
  const partial = finite.filter((r) => !layerDead(r));
  if (partial.length) {
    const worstPartial = partial.reduce((a, b) => (b.final!.testError > a.final!.testError ? b : a));
    const mostDead = partial.reduce((a, b) => (finalDeadFraction(b) > finalDeadFraction(a) ? b : a));
    const best = Math.min(...partial.map((r) => r.final!.testError));
    findings.push(
      `E1, cost: in the ${partial.length} finite runs where no layer died entirely, test error lies between ${pct(best, 2)} and ${pct(worstPartial.final!.testError, 2)} ` +
        `(${column(c, worstPartial)}, ${settingName(worstPartial.spec)}); the run with most dead units among them (${column(c, mostDead)}, ${settingName(mostDead.spec)}: ${pct(finalDeadFraction(mostDead))} dead) ` +
        `ends at ${pct(mostDead.final!.testError, 2)}` +
        (whole.length
          ? `. In ${whole.length} run${whole.length === 1 ? '' : 's'} a whole layer died (${whole.map((r) => `${column(c, r)}, ${settingName(r.spec)}`).join('; ')}): the output is then constant and the test error ${whole.map((r) => pct(r.final!.testError, 2)).join(', ')}.`
          : '.'),
    );
  }
  // relu against leaky_relu at the same setting.
  const pairs = relu('relu').flatMap((r) => {
    const l = relu('leaky_relu').find((x) => x.spec.optimizer === r.spec.optimizer && x.spec.lr === r.spec.lr);
    return l && r.final && l.final ? [{ r, l }] : [];
  });
  if (pairs.length) {
    const worse = pairs.filter((p) => finalDeadFraction(p.r) >= 0.1);
    findings.push(
      `E1, relu against leaky_relu: ` +
        (worse.length
          ? `where relu lost ≥ 10% of its units (${worse.map((p) => `${settingName(p.r.spec)}: ${pct(finalDeadFraction(p.r))} dead, ${pct(p.r.final!.testError, 2)} error against leaky_relu's ${pct(finalDeadFraction(p.l))} z-dead, ${pct(p.l.final!.testError, 2)}`).join('; ')})`
          : 'relu never lost 10% of its units') +
        `; over all ${pairs.length} settings the mean test error is ${pct(mean(pairs.map((p) => p.r.final!.testError)), 2)} (relu) against ${pct(mean(pairs.map((p) => p.l.final!.testError)), 2)} (leaky_relu).`,
    );
  }
  const extra = res.e1.filter((r) => r.spec.key.startsWith('e1x-'));
  for (const x of extra) {
    const base = relu('relu').find((r) => r.spec.optimizer === x.spec.optimizer && r.spec.lr === x.spec.lr);
    if (!base) continue;
    findings.push(
      `E1, ${column(c, x)} at ${settingName(x.spec)}: ${x.diverged ? 'diverged' : `${pct(finalDeadFraction(x))} dead, ${pct(x.final!.testError, 2)} test error`} against ` +
        `${base.diverged ? 'diverged' : `${pct(finalDeadFraction(base))} and ${pct(base.final!.testError, 2)}`} for ${net(base.spec.hidden)} with Glorot init.`,
    );
  }
  return findings;
}

function policyTable(res: DeadUnitsResults, runs: TrainResult[], part: 'e2' | 'e3', lines: string[]): void {
  lines.push(
    '| policy | test error | test error by epoch | dead at the end, by layer | dormant at the end | revived | re-died | pruned | widths at the end | parameters | training time | examples/s, first → last epoch | examples/s, whole run |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const name = policyName(res.config, r.spec, part);
    const f = r.final;
    const e = r.epochs;
    // A diverged run still shows what it did before: its epochs and the last scan.
    const last = r.trace[r.trace.length - 1];
    lines.push(
      `| ${name} | ${f ? `**${pct(f.testError, 2)}**` : `**diverged at step ${r.diverged?.step}**`} | ${e.map((x) => pct(x.testError, 2)).join(', ') || '–'} | ` +
        `${layers(f?.deadTrain ?? last.dead)} | ${layers(f?.dormantTrain ?? last.dormant)} | ${sum(r.totals.revived)} | ` +
        `${sum(r.totals.redied)} | ${sum(r.totals.pruned)} | ${layers(f?.widths ?? last.widths)} | ${f ? n0(f.params) : '–'} | ${secs(r.trainSeconds)} | ` +
        `${e.length ? `${n0(e[0].examplesPerSecond)} → ${n0(e[e.length - 1].examplesPerSecond)}` : '–'} | ${n0(r.examplesPerSecond)} |`,
    );
  }
  lines.push('');
}

function policyFindings(res: DeadUnitsResults, runs: TrainResult[], part: 'e2' | 'e3'): string[] {
  const tag = part.toUpperCase();
  const out: string[] = [];
  const keep = runs.find((r) => r.spec.policy === 'keep' && r.final);
  if (!keep) return out;
  for (const r of runs) {
    if (r === keep) continue;
    const name = policyName(res.config, r.spec, part);
    if (!r.final) {
      const e = r.epochs[r.epochs.length - 1];
      out.push(
        `${tag}, ${name}: diverged at step ${r.diverged?.step} (${r.diverged?.detail}) after reviving ${sum(r.totals.revived)} units` +
          (e
            ? `; its test error was ${pct(e.testError, 2)} after epoch ${e.epoch}, against keep's ${pct(keep.epochs.find((k) => k.epoch === e.epoch)?.testError, 2)}`
            : '') +
          '.',
      );
      continue;
    }
    const d = r.final.testError - keep.final!.testError;
    const what =
      r.spec.policy === 'revive'
        ? `revived ${sum(r.totals.revived)} units over ${r.checks.length} checks; ${sum(r.totals.redied)} times a check found a unit revived before dead${r.spec.tau > 0 ? ' or dormant' : ''} again; `
        : `removed ${sum(r.totals.pruned)} units (widths ${layers(keep.final!.widths)} → ${layers(r.final.widths)}, parameters ${n0(keep.final!.params)} → ${n0(r.final.params)}); `;
    const lastEps = (x: TrainResult) => x.epochs[x.epochs.length - 1]?.examplesPerSecond ?? NaN;
    // Revive pays the same checks as prune: the fair comparison of speed.
    const revive = runs.find((x) => x.spec.policy === 'revive' && x.epochs.length === r.epochs.length);
    const speed =
      r.spec.policy === 'prune' && r.epochs.length && keep.epochs.length
        ? `multiply-adds per example ${pct(macs(r.final.widths) / macs(keep.final!.widths), 0)} of keep's; last epoch ${n0(lastEps(r))} examples/s against keep's ${n0(lastEps(keep))} ` +
          `(×${(lastEps(r) / lastEps(keep)).toFixed(2)}` +
          (revive ? `; revive, which pays the same checks: ${n0(lastEps(revive))}, ×${(lastEps(r) / lastEps(revive)).toFixed(2)}` : '') +
          `); whole run ${secs(r.trainSeconds)} against keep's ${secs(keep.trainSeconds)}; `
        : `training time ${secs(r.trainSeconds)} against keep's ${secs(keep.trainSeconds)} (checks included); `;
    out.push(
      `${tag}, ${name}: ${what}${speed}test error ${pct(r.final.testError, 2)} against keep's ${pct(keep.final!.testError, 2)} (${d <= 0 ? '' : '+'}${(100 * d).toFixed(2)} points; ` +
        `one seed: ±${(100 * Math.sqrt((keep.final!.testError * (1 - keep.final!.testError)) / 10_000)).toFixed(2)} points is the test set's standard error alone).`,
    );
  }
  return out;
}

function e2Section(res: DeadUnitsResults, lines: string[]): string[] {
  const c = res.config;
  lines.push('## E2 — keep, revive or prune the worst cell', '');
  lines.push(
    `The cell of E1's map whose loss stayed finite with the largest fraction of hidden units dead at its end` +
      (res.e2.cell ? ` — **${res.e2.cell}** (${res.e2.why})` : '') +
      ` — trained again from the same seed under each policy: keep; revive (the ReDo rule: incoming weights redrawn, outgoing weights and optimiser state zeroed) the units dead (τ = 0) or ` +
      `also dormant (τ = 0.025) at each check; prune the dead units for good (the plan is rebuilt with the smaller widths). A check runs every ${n0(c.e2.window)} training examples and scans as many ` +
      `(a fixed seeded sample), so it costs about a third more arithmetic; its time is in the training time. "Re-died": how many times a check found a unit it had revived before dead again (with τ > 0: dead or dormant).`,
    '',
  );
  if (!res.e2.runs.length) {
    lines.push('_Not run yet._', '');
    return [];
  }
  policyTable(res, res.e2.runs, 'e2', lines);
  lines.push('![the policies on the worst cell](e2-policies.svg)', '');
  const out = policyFindings(res, res.e2.runs, 'e2');
  const ends = res.e2.runs.filter((r) => r.final).map((r) => r.final!.testError);
  const during = res.e2.runs.flatMap((r) => r.epochs.map((e) => e.testError));
  if (ends.length && during.length) {
    out.push(
      `E2: the best test error any policy reached at an epoch's end is ${pct(Math.min(...during), 2)}, the best at the end of training ${pct(Math.min(...ends), 2)}` +
        (Math.min(...ends) > 0.5
          ? Math.min(...during) < 0.5
            ? ': no policy leaves this cell a working network at the end of training; reviving buys time (revived units die again, or training diverges once the network is alive enough to blow up) — the dead units are a symptom of the learning rate.'
            : ': no policy turns this cell into a working network at any point.'
          : '.'),
    );
  }
  return out;
}

function e3Section(res: DeadUnitsResults, lines: string[]): string[] {
  const e = res.config.e3;
  lines.push(`## E3 — the paper's network (${net(e.hidden)}) with the L1 penalty`, '');
  lines.push(
    `Glorot, Bordes & Bengio (2011)'s MNIST network with its L1 activation penalty λ = ${e.l1}, trained ${e.epochs} epoch${e.epochs === 1 ? '' : 's'} with ${settingName(e.setting)} ` +
      `(batch ${res.config.batch}), under keep, revive and prune. Revive and prune act on the dead and the dormant units (τ = 0.025): ` +
      `with the penalty, units tend to become rare rather than dead (see the keep row). Revived units are spared the penalty for ${e.grace} steps. A check every ${n0(e.window)} examples.`,
    '',
  );
  if (!res.e3.length) {
    lines.push('_Not run yet._', '');
    return [];
  }
  policyTable(res, res.e3, 'e3', lines);
  lines.push('![the paper’s network under each policy](e3-paper-network.svg)', '');
  const out = policyFindings(res, res.e3, 'e3');
  const keep = res.e3.find((r) => r.spec.policy === 'keep' && r.final);
  if (keep) {
    out.unshift(
      `E3, keep: after ${e.epochs} epoch${e.epochs === 1 ? '' : 's'}, ${layers(keep.final!.deadTrain)} units dead on the training sample and ${layers(keep.final!.deadTest)} on the test set, ` +
        `and ${layers(keep.final!.dormantTrain)} dormant (of ${layers(keep.final!.widths)}); exact zeros on the test set ${keep.final!.sparsityTest.map((s) => pct(s)).join(' / ')}` +
        (sum(keep.final!.dormantTrain) > 2 * sum(keep.final!.deadTrain)
          ? `: L1 makes units rare, not dead, so pruning only the dead units would remove ${sum(keep.final!.deadTrain)}.`
          : '.'),
    );
  }
  return out;
}

const e4Mean = (r: ContinualResult, from: number, to: number) => mean(r.tasks.filter((t) => t.task >= from && t.task <= to).map((t) => t.onlineAccuracy));

function e4Section(res: DeadUnitsResults, lines: string[]): string[] {
  const c = res.config;
  const e = c.e4;
  const findings: string[] = [];
  lines.push('## E4 — non-stationary: permuted MNIST', '');
  lines.push(
    `${net(e.hidden)}, relu, Glorot init, trained on ${e.tasks} tasks one after another, each one pass over the same ${n0(e.examplesPerTask)} training images with the pixels shuffled ` +
      `by the task's own permutation (batch ${c.batch}, no reset between tasks; ${e.settings.map(settingName).join(' and ')}). Policies: keep; at each task switch revive the units dead ` +
      `(τ = 0) or dormant (τ = 0.025) on ${n0(e.scanExamples)} of the new task's images; continual revival in the manner of Dohare et al. (2024)'s continual backprop: every ${e.every} steps ` +
      `the ${e.replace} least useful unit${e.replace === 1 ? '' : 's'} of each layer (lowest mean |activation| × Σ|outgoing weights|, over ${n0(e.scanExamples)} of the task's images) among those at ` +
      `least ${e.maturity} steps old is re-initialised (ReDo rule) — about ${(e.replace / (e.every * e.hidden[0])).toExponential(1)} of a layer per step. ` +
      `Online accuracy: the task's training batches as they arrive, before each is learnt from (Dohare et al.'s measure); test accuracy: ${n0(e.testImages)} test images under the task's permutation.`,
    '',
  );
  if (!res.e4.length) {
    lines.push('_Not run yet._', '');
    return findings;
  }
  const planned = e4Specs(c).length;
  if (res.e4.length < planned) lines.push(`_${res.e4.length} of ${planned} runs done so far._`, '');
  const last5 = (r: ContinualResult) => [Math.max(2, r.tasks.length - 4), r.tasks.length] as const;
  lines.push(
    `| optimiser, lr | policy | online accuracy, task 1 | tasks 2–6 | last 5 tasks | change (last 5 − tasks 2–6) | test accuracy, last task | dead at the end, by layer | dormant at the end | revived | re-died at the next switch | training time | examples/s |`,
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of res.e4) {
    const name = continualPolicyName(c, r.spec);
    const t1 = r.tasks[0];
    const last = r.tasks[r.tasks.length - 1];
    if (!last) {
      lines.push(`| ${settingName(r.spec)} | ${name} | diverged | | | | | | | | | | |`);
      continue;
    }
    const early = e4Mean(r, 2, 6);
    const [a, b] = last5(r);
    const late = e4Mean(r, a, b);
    lines.push(
      `| ${settingName(r.spec)} | ${name} | ${pct(t1.onlineAccuracy)} | ${pct(early)} | ${pct(late)} | **${late - early >= 0 ? '+' : ''}${(100 * (late - early)).toFixed(1)} points** | ` +
        `${pct(last.testAccuracy)} | ${layers(last.deadEnd)} | ${layers(last.dormantEnd)} | ${sum(r.tasks.map((t) => sum(t.revived)))} | ${r.spec.policy === 'switch' ? sum(r.tasks.map((t) => sum(t.redied))) : '–'} | ` +
        `${secs(r.trainSeconds)} | ${n0(r.examplesPerSecond)} |` +
        (r.diverged ? ` diverged in task ${r.diverged.task}` : ''),
    );
  }
  lines.push('', '![online accuracy on each task](e4-accuracy.svg)', '', '![dead and dormant units over the tasks](e4-units.svg)', '');
  for (const s of e.settings) {
    const rs = res.e4.filter((r) => r.spec.optimizer === s.optimizer && r.spec.lr === s.lr && r.tasks.length);
    const keep = rs.find((r) => r.spec.policy === 'keep');
    if (!keep || keep.tasks.length < 2) continue;
    const [a, b] = last5(keep);
    const k1 = keep.tasks[0];
    const kl = keep.tasks[keep.tasks.length - 1];
    findings.push(
      `E4 (${settingName(s)}), keep: online accuracy ${pct(e4Mean(keep, 2, 6))} over tasks 2–6 and ${pct(e4Mean(keep, a, b))} over the last 5 tasks; dead units ${sum(k1.deadEnd)} after task 1 ` +
        `and ${sum(kl.deadEnd)} after task ${kl.task}, dormant ${sum(k1.dormantEnd)} → ${sum(kl.dormantEnd)}.`,
    );
    const best = rs.reduce((x, y) => (e4Mean(y, a, b) > e4Mean(x, a, b) ? y : x));
    findings.push(
      `E4 (${settingName(s)}), last 5 tasks: ${rs.map((r) => `${continualPolicyName(c, r.spec)} ${pct(e4Mean(r, a, b))}`).join(', ')}; best: ${continualPolicyName(c, best.spec)}.`,
    );
  }
  return findings;
}

/** Stationary against non-stationary: does the dead count settle (E1, E3) or keep growing (E4)? */
function contrastFindings(res: DeadUnitsResults): string[] {
  const out: string[] = [];
  const keepE1 = res.e1.filter((r) => r.final && r.trace.length > 2 && finalDeadFraction(r) > 0);
  const e4keep = res.e4.filter((r) => r.spec.policy === 'keep' && r.tasks.length > 1);
  if (!keepE1.length || !e4keep.length) return out;
  const half = keepE1.map((r) => {
    const mid = at(r, r.spec.epochs / 2);
    return sum(mid.dead) / Math.max(1, sum(r.trace[r.trace.length - 1].dead));
  });
  const grow = e4keep.map((r) => {
    const mid = r.tasks[Math.floor((r.tasks.length - 1) / 2)];
    const last = r.tasks[r.tasks.length - 1];
    return { r, mid: sum(mid.deadEnd) + sum(mid.dormantEnd), last: sum(last.deadEnd) + sum(last.dormantEnd), midTask: mid.task, lastTask: last.task };
  });
  const settles = mean(half) >= 0.8;
  const grows = grow.every((g) => g.last > 1.1 * g.mid);
  out.push(
    `Stationary against non-stationary: in E1 the runs that lost units had on average ${pct(mean(half), 0)} of their final dead count halfway through training` +
      (settles
        ? ' (the count settles early' + (mean(half) > 1 ? '; above 100%: some dead units come back as the layers below them change)' : ')')
        : ' (the count still grows in the second half)') +
      `; under permuted MNIST with keep the dead + dormant units went ${grow.map((g) => `${g.mid} (task ${g.midTask}) → ${g.last} (task ${g.lastTask}) with ${settingName(g.r.spec)}`).join('; ')}` +
      (grows ? ': they keep accumulating as the tasks change.' : '.'),
  );
  return out;
}

export function deadUnitsReport(res: DeadUnitsResults, ctx: DeadUnitsReportContext): string {
  const c = res.config;
  const lines: string[] = [];
  const body: string[] = [];
  const findings = [...e0Section(res, body), ...e1Section(res, body), ...e2Section(res, body), ...e3Section(res, body), ...e4Section(res, body)];
  findings.push(...contrastFindings(res));
  const planned = {
    e0: c.e0.inits.length * c.e0.widths.length * c.e0.depths.length,
    e1: e1Specs(c).length,
    e2: c.e2.policies.length,
    e3: c.e3.policies.length,
    e4: e4Specs(c).length,
  };
  const missing = [
    res.e0.length < planned.e0 && `E0 (${res.e0.length / c.e0.depths.length} of ${planned.e0 / c.e0.depths.length} groups)`,
    res.e1.length < planned.e1 && `E1 (${res.e1.length} of ${planned.e1} runs)`,
    res.e2.runs.length < planned.e2 && `E2 (${res.e2.runs.length} of ${planned.e2})`,
    res.e3.length < planned.e3 && `E3 (${res.e3.length} of ${planned.e3})`,
    res.e4.length < planned.e4 && `E4 (${res.e4.length} of ${planned.e4})`,
  ].filter(Boolean);

  lines.push('# Dead relu units: how many die, when, what they cost, and what reviving or pruning buys', '');
  if (c.name === 'quick') lines.push('> **`--quick` run**: every part at toy sizes, to check the machinery end to end. Its numbers answer nothing.', '');
  lines.push(
    'Five measurements with rectigrad on real MNIST: networks dead at birth (E0), where units die during training (E1), what the dead-unit policies do to the worst case (E2) and to the ' +
      "paper's network (E3), and how it all looks when the data keep changing (E4). Definitions: a unit is **dead** on a set of images when its pre-activation z ≤ 0 on every one of them " +
      "(for relu its output and the gradient through it are then exactly 0 there); **dormant** when its mean |activation| on the set is at most τ = 2.5% of its layer's mean (Sokar et al. 2023).",
    '',
  );
  lines.push(`- Command: \`${ctx.command}\``);
  lines.push(
    `- Wall time: ${(ctx.wallSeconds / 60).toFixed(1)} min in all` +
      (missing.length ? ` — **not finished**: missing ${missing.join(', ')}; run the command again to continue` : ''),
  );
  lines.push(`- Backend: ${ctx.adapter || 'plain TypeScript (E0 only so far)'}; machine: ${ctx.machine}; date: ${ctx.date}`);
  lines.push(`- Sizes: \`${c.name}\` (see "Sizes" at the end); one seed per training run.`, '');
  lines.push('## Findings', '');
  if (!findings.length) lines.push('- None yet: no part has finished a run.');
  for (const f of findings) lines.push(`- ${f}`);
  lines.push('', ...body);

  lines.push('## Sizes, and where they differ from the plan', '');
  lines.push(
    `- E0: widths {${c.e0.widths.join(', ')}} × depths {${c.e0.depths.join(', ')}} × {${c.e0.inits.join(', ')}}, ${n0(c.e0.images)} images; seeds ${c.e0.widths.map((w) => `${c.e0.seeds[w]} at width ${w}`).join(', ')}` +
      (c.e0.widths.some((w) => c.e0.seeds[w] < 200)
        ? ' (fewer than 200 where a network costs most: the plain-TypeScript forward pass of a wide, deep, never-dead network)'
        : '') +
      '.',
    `- E1: ${net(c.e1.hidden)}, ${c.e1.epochs} epoch${c.e1.epochs === 1 ? '' : 's'} of ${c.trainLimit ? n0(c.trainLimit) : '60,000'} images, ${c.e1.settings.length} settings × ${c.e1.columns.length} columns + ${e1Specs(c).length - c.e1.settings.length * c.e1.columns.length} extra cells; scans of ${n0(c.sample)} training images every ${n0(c.e1.scanEvery)} examples.`,
    `- E2: as its E1 cell, a check every ${n0(c.e2.window)} examples.`,
    `- E3: ${net(c.e3.hidden)}, ${c.e3.epochs} epoch${c.e3.epochs === 1 ? '' : 's'} of ${c.trainLimit ? n0(c.trainLimit) : '60,000'} images (the paper trained to convergence; on two CPU cores an epoch of this network takes about a minute), a check every ${n0(c.e3.window)} examples.`,
    `- E4: ${c.e4.tasks} tasks × ${n0(c.e4.examplesPerTask)} images (Dohare et al. train hundreds of tasks of 60,000 images on layers of 2,000 units: this is the beginning of such a run, at a smaller scale).`,
    `- Test set: ${c.testLimit ? `the first ${n0(c.testLimit)}` : 'all 10,000'} MNIST test images (E4: ${n0(c.e4.testImages)} per task). One seed per run: differences in test error under about ±0.2–0.3 points are within noise.`,
    '',
  );
  lines.push('## References', '');
  lines.push(
    '- X. Glorot, A. Bordes, Y. Bengio. Deep Sparse Rectifier Neural Networks. AISTATS 2011.',
    '- L. Lu, Y. Shin, Y. Su, G. E. Karniadakis. Dying ReLU and Initialization: Theory and Numerical Examples. arXiv:1903.06733 (2019); Communications in Computational Physics 28(5), 1671–1706 (2020).',
    '- G. Sokar, R. Agarwal, P. S. Castro, U. Evci. The Dormant Neuron Phenomenon in Deep Reinforcement Learning. ICML 2023 (ReDo: dormancy score and recycling).',
    '- S. Dohare, J. F. Hernandez-Garcia, Q. Lan, P. Rahman, A. R. Mahmood, R. S. Sutton. Loss of plasticity in deep continual learning. Nature 632, 768–774 (2024) (continual backprop, permuted MNIST).',
    '- A. L. Maas, A. Y. Hannun, A. Y. Ng. Rectifier Nonlinearities Improve Neural Network Acoustic Models. ICML 2013 workshop (leaky relu).',
    '- X. Glorot, Y. Bengio. Understanding the difficulty of training deep feedforward neural networks. AISTATS 2010; K. He, X. Zhang, S. Ren, J. Sun. Delving Deep into Rectifiers. ICCV 2015 (the two initialisers).',
    '- D. P. Kingma, J. Ba. Adam: A Method for Stochastic Optimization. ICLR 2015.',
    '',
  );
  return lines.join('\n');
}
