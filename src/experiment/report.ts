// The experiment's markdown report: the table beside the paper's numbers, and which of
// the paper's claims this run confirms.
import type { RunDropout } from '../io/checkpoint-config.ts';
import { bestEpoch, dropoutLabel, recipeLabel, type Progress, type Recipe, type RecipeExtras } from './glorot2011.ts';

const pct = (x: number | undefined, d = 2) => (x === undefined ? '–' : `${(100 * x).toFixed(d)}%`);
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);

export interface ReportContext {
  command: string;
  recipe: Recipe;
  paperRecipe: Recipe;
  adapter: string;
  wallSeconds: number;
  machine: string;
  date: string;
  hidden: number[];
  trainExamples: number;
  validExamples: number;
  testExamples: number;
}

/** What a max-norm bound does, said where the recipe is described: it is not the paper's. */
export const maxNormNote = (maxNorm: number): string =>
  `**Not the paper's recipe: max-norm ${maxNorm}** — after every update, each unit's incoming weights (a row of its layer's weight matrix, every layer of every model) are rescaled to L2 norm ${maxNorm} when their norm exceeds it; biases are left alone.`;

/** What dropout does, said where the recipe is described: it is not the paper's. */
export const dropoutNote = (d: RunDropout): string =>
  `**Not the paper's recipe: ${dropoutLabel(d)}** — while training, ` +
  [
    d.hidden ? `each hidden unit's output is dropped with probability ${d.hidden} as the next layer reads it` : '',
    d.input ? `each input pixel with probability ${d.input}` : '',
  ]
    .filter(Boolean)
    .join(', and ') +
  ` (inverted dropout, Srivastava et al. 2014: kept values are scaled by 1/(1 − p), so evaluation, which never drops, needs no rescaling), in every model. ` +
  `Sparsity, dead units and the L1 penalty are measured on the undropped activations.`;

/** The notes on every setting beyond the paper's that the recipe carries. */
export const extrasNotes = (r: RecipeExtras): string =>
  [...(r.dropout ? [dropoutNote(r.dropout)] : []), ...(r.maxNorm ? [maxNormNote(r.maxNorm)] : [])].map((n) => ` ${n}`).join('');

/** Bullet lines for "Where this recipe differs from the paper". */
export const extrasDifferences = (r: RecipeExtras): string[] => [
  ...(r.dropout
    ? [
        `- ${dropoutLabel(r.dropout)[0].toUpperCase()}${dropoutLabel(r.dropout).slice(1)} while training, in every model: not in the paper, which does not drop units.`,
      ]
    : []),
  ...(r.maxNorm ? [`- Max-norm ${r.maxNorm} on every unit's incoming weights, in every model: not in the paper, which constrains no weights.`] : []),
];

/** The paper's claims checked against the runs; several runs of a model (seeds) count by their mean test error. */
export function claims(runs: Progress[]): { claim: string; verdict: string; evidence: string }[] {
  const by = (n: string) => runs.find((r) => r.variant.name === n);
  const out: { claim: string; verdict: string; evidence: string }[] = [];
  const rect = by('rectifier');
  const tanh = by('tanh');
  const soft = by('softplus');
  const err = (p?: Progress) => {
    const errs = runs.filter((r) => p && r.variant.name === p.variant.name).flatMap((r) => bestEpoch(r)?.test.error ?? []);
    return errs.length ? mean(errs) : undefined;
  };
  if (rect?.init) {
    const s = rect.init.sparsity;
    const ok = s.every((x) => x > 0.4 && x < 0.6);
    out.push({
      claim: 'After uniform initialisation about 50% of the rectifier units output exact zeros.',
      verdict: ok ? 'confirmed' : 'not confirmed',
      evidence: `sparsity at initialisation by layer: ${s.map((x) => pct(x, 1)).join(', ')}`,
    });
  }
  const last = rect?.epochs[rect.epochs.length - 1];
  if (rect && last) {
    const s = mean(last.test.sparsity);
    out.push({
      claim: 'With the L1 activation penalty, training makes the rectifier network much sparser (83.4% of zeros in the paper).',
      verdict: s > 0.8 ? 'confirmed' : s > mean(rect.init?.sparsity ?? [0.5]) + 0.1 ? 'partly confirmed (sparser, not as sparse)' : 'not confirmed',
      evidence: `mean sparsity on the test set: ${pct(mean(rect.init?.sparsity ?? []), 1)} at initialisation → ${pct(s, 1)} after ${last.epoch} epochs`,
    });
  }
  const re = err(rect);
  const te = err(tanh);
  const se = err(soft);
  if (re !== undefined && te !== undefined && se !== undefined) {
    const best = Math.min(te, se);
    const seeds = runs.filter((r) => r.variant.name === 'rectifier').length;
    out.push({
      claim: 'Rectifier networks trained without pre-training do at least as well as tanh and softplus networks (1.43% vs 1.57% and 1.77%).',
      verdict: re <= best + 0.001 ? 'confirmed' : 'not confirmed',
      evidence: `test error at the best validation epoch${seeds > 1 ? ` (mean of ${seeds} seeds)` : ''}: rectifier ${pct(re)}, tanh ${pct(te)}, softplus ${pct(se)}`,
    });
    out.push({
      claim: 'The hard zeros do not hurt optimisation: the rectifier trains as well as softplus, its smooth version.',
      verdict: re <= se + 0.001 ? 'confirmed' : 'not confirmed',
      evidence:
        `rectifier ${pct(re)} vs softplus ${pct(se)} test error; units dead on the whole test set by layer: ` +
        `${rect!.epochs[rect!.epochs.length - 1].test.deadUnits.join(', ')} of ${rect!.model.hidden.join(', ')}`,
    });
  }
  return out;
}

export function report(runs: Progress[], ctx: ReportContext): string {
  const lines: string[] = [];
  const done = runs.every((r) => r.epochs.length >= ctx.recipe.epochs);
  lines.push(`# Glorot, Bordes & Bengio (2011), Table 1, MNIST column — reproduced with rectigrad`, '');
  lines.push(
    `Network ${[784, ...ctx.hidden, 10].join('-')}, no pre-training, ${ctx.trainExamples.toLocaleString('en')} training images ` +
      `(the last ${ctx.validExamples.toLocaleString('en')} of MNIST's training set are the validation split), tested on ${ctx.testExamples.toLocaleString('en')} MNIST test images. ` +
      `Recipe \`${recipeLabel(ctx.recipe.name, ctx.recipe)}\`: ${ctx.recipe.describe}. The rectifier network carries the paper's L1 activation penalty of 0.001.` +
      extrasNotes(ctx.recipe),
    '',
  );
  lines.push(`- Command: \`${ctx.command}\``);
  lines.push(
    `- Wall time: ${(ctx.wallSeconds / 60).toFixed(1)} min (all of this run, sweeps and evaluations included)${done ? '' : ' — **not finished yet**: run the command again to continue'}`,
  );
  lines.push(`- Backend: ${ctx.adapter}; machine: ${ctx.machine}; date: ${ctx.date}`, '');
  lines.push(
    '| model | recipe | L1 | lr | test error (best valid. epoch) | final test error | paper | sparsity by layer | mean sparsity | paper sparsity | dead units by layer | training time | examples/s |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const best = bestEpoch(r);
    const last = r.epochs[r.epochs.length - 1];
    const secs = r.epochs.reduce((s, e) => s + e.seconds, 0);
    lines.push(
      `| ${r.variant.name} | ${recipeLabel(r.recipe, r)} | ${r.variant.l1 || '–'} | ${r.lr ?? '–'} | ${pct(best?.test.error)}${best ? ` (epoch ${best.epoch})` : ''} | ${pct(last?.test.error)} | ${pct(r.variant.paperError)} | ` +
        `${last ? last.test.sparsity.map((x) => pct(x, 1)).join(' / ') : '–'} | ${last ? pct(mean(last.test.sparsity), 1) : '–'} | ${pct(r.variant.paperSparsity, 1)} | ` +
        `${last ? last.test.deadUnits.join(' / ') : '–'} | ${(secs / 60).toFixed(1)} min | ${last ? mean(r.epochs.map((e) => e.examplesPerSecond)).toFixed(0) : '–'} |`,
    );
  }
  lines.push(
    '',
    'Sparsity is the fraction of exact zeros in each hidden layer over the whole test set; dead units output exactly zero for every test image.',
    '',
  );
  lines.push('## What the run says about the paper’s claims', '');
  for (const c of claims(runs)) lines.push(`- **${c.verdict}** — ${c.claim} ${c.evidence}.`);
  lines.push('', '## Learning-rate choice (validation error after the sweep)', '');
  for (const r of runs) lines.push(`- ${r.variant.name}: ${r.sweep.map((s) => `${s.lr} → ${pct(s.validError)}`).join(', ')}`);
  lines.push(
    '',
    '## Figures',
    '',
    '![sparsity during training](sparsity.svg)',
    '',
    '![gradient norm by layer](gradnorm.svg)',
    '',
    '![sparsity at initialisation](init-sparsity.svg)',
    '',
  );
  lines.push('## Where this recipe differs from the paper', '');
  const extras = extrasDifferences(ctx.recipe);
  lines.push(...extras);
  if (ctx.recipe.name === 'paper') {
    lines.push(`${extras.length ? '- Otherwise this' : 'This'} is the paper's recipe as rectigrad runs it (${ctx.paperRecipe.describe}).`);
  } else {
    lines.push(
      `- Optimiser: ${ctx.recipe.describe}; the paper used ${ctx.paperRecipe.describe.replace(/, \d+ epochs$/, '')} (available as \`--recipe paper\`).`,
      `- Length: ${ctx.recipe.epochs} epochs here, so the numbers are those of a shorter run; the paper trained to convergence with early stopping on validation error.`,
      '- Initialisation: Glorot uniform with zero biases, as in the paper; no pre-training for any model, as in the paper’s Table 1 column compared here.',
    );
  }
  lines.push('');
  return lines.join('\n');
}
