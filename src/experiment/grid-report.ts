// The markdown report of recipe `best`: the chosen settings' runs (every seed) beside the
// paper, how each was chosen, the whole grid, and the claims.
import { bestEpoch, recipeLabel, VARIANTS, type GridRecipe, type Progress } from './glorot2011.ts';
import { searchesL1, standardError, summarize, sweepSpecs, type GridState } from './grid.ts';
import { claims, extrasDifferences, extrasNotes, type ReportContext } from './report.ts';

const pct = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(d)}%`);
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);

export interface GridReportContext extends ReportContext {
  recipe: GridRecipe;
  variants: string[];
  seed: number;
  /** Where a run's best-validation checkpoint is written (as the reader should type it). */
  bestCheckpoint?: (key: string) => string;
}

export function gridReport(state: GridState, ctx: GridReportContext): string {
  const { recipe } = ctx;
  const label = recipeLabel(recipe.name, recipe);
  const lines: string[] = [];
  const variants = VARIANTS.filter((v) => ctx.variants.includes(v.name));
  const planned = variants.reduce((n, v) => n + sweepSpecs(recipe, v, ctx.seed).length, 0);
  const finished = (p: Progress) => p.diverged !== undefined || p.epochs.length >= (p.plannedEpochs ?? recipe.epochs);
  const sweepDone = state.sweep.filter(finished).length;
  const finalsDone = state.finals.filter(finished).length;
  const done = state.selections.length === variants.length && finalsDone === variants.length * recipe.seeds;
  const [lo, hi] = recipe.sparsityBand;

  lines.push(`# Glorot, Bordes & Bengio (2011), Table 1, MNIST column — recipe \`${label}\``, '');
  lines.push(
    `Network ${[784, ...ctx.hidden, 10].join('-')}, no pre-training, ${ctx.trainExamples.toLocaleString('en')} training images ` +
      `(the last ${ctx.validExamples.toLocaleString('en')} of MNIST's training set are the validation split), tested on ${ctx.testExamples.toLocaleString('en')} MNIST test images. ` +
      `Recipe \`${label}\`: ${recipe.describe}. Each setting of the grid is a complete run of ${recipe.sweepEpochs} epochs with ${recipe.warmupEpochs} epoch${recipe.warmupEpochs === 1 ? '' : 's'} of warm-up; ` +
      `learning rates {${recipe.lrGrid.join(', ')}}; the rectifier's L1 activation penalty λ ∈ {${recipe.l1Grid.join(', ')}}. ` +
      `The rectifier's setting is the lowest validation error among those whose mean fraction of exact zeros (validation set, best-validation epoch) lies in ${pct(lo, 0)}–${pct(hi, 0)}; ` +
      `tanh's and softplus's is the lowest validation error. The chosen settings train with ${recipe.seeds} seeds for ${recipe.epochs} epochs each.` +
      extrasNotes(recipe),
    '',
  );
  lines.push(`- Command: \`${ctx.command}\``);
  lines.push(
    `- Wall time: ${(ctx.wallSeconds / 60).toFixed(1)} min (all of this run)` +
      (done
        ? ''
        : ` — **not finished yet** (${sweepDone} of ${planned} grid runs, ${finalsDone} of ${variants.length * recipe.seeds} chosen-setting runs): run the command again to continue`),
  );
  lines.push(`- Backend: ${ctx.adapter}; machine: ${ctx.machine}; date: ${ctx.date}`, '');

  lines.push('## Chosen settings', '');
  lines.push(
    'Test error at each run’s best-validation epoch, ± its standard error on the test set (√(e(1−e)/n), n test images). The seeds share the test set, so the mean of the seeds has the same standard error from test sampling; the seeds’ spread is shown beside it.',
    '',
  );
  lines.push(
    '| model | recipe | L1 | lr | seed | test error ± s.e. (epoch) | paper | mean sparsity (test) | paper sparsity | sparsity by layer | dead units by layer | training time |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const v of variants) {
    const runs = state.finals.filter((p) => p.variant.name === v.name);
    for (const p of runs) {
      const b = bestEpoch(p);
      const secs = p.epochs.reduce((s, e) => s + e.seconds, 0);
      const se = b ? standardError(b.test.error, b.test.examples) : undefined;
      lines.push(
        `| ${v.name} | ${recipeLabel(p.recipe, p)} | ${p.variant.l1 || '–'} | ${p.lr} | ${p.seed} | ${b ? `${pct(b.test.error)} ± ${pct(se)} (${b.epoch}${finished(p) ? '' : `, ${p.epochs.length} of ${p.plannedEpochs} done`})` : '–'} | ` +
          `${pct(v.paperError)} | ${b ? pct(mean(b.test.sparsity), 1) : '–'} | ${pct(v.paperSparsity, 1)} | ${b ? b.test.sparsity.map((x) => pct(x, 1)).join(' / ') : '–'} | ` +
          `${b ? b.test.deadUnits.join(' / ') : '–'} | ${(secs / 60).toFixed(1)} min |`,
      );
    }
    const bests = runs.flatMap((p) => bestEpoch(p) ?? []);
    if (bests.length > 1) {
      const errs = bests.map((b) => b.test.error);
      const m = mean(errs);
      const spread = (Math.max(...errs) - Math.min(...errs)) / 2;
      lines.push(
        `| **${v.name}, mean** | ${label} | | | ${bests.length} seeds | **${pct(m)}** ± ${pct(standardError(m, bests[0].test.examples))} (seeds ± ${pct(spread)}) | ${pct(v.paperError)} | ` +
          `${pct(mean(bests.map((b) => mean(b.test.sparsity))), 1)} | ${pct(v.paperSparsity, 1)} | | | |`,
      );
    }
  }
  lines.push(
    '',
    'Sparsity is the fraction of exact zeros in each hidden layer over the whole test set at the best-validation epoch; dead units output exactly zero for every test image.',
    '',
  );
  const kept = bestWeightsLine(state, ctx);
  if (kept) lines.push(kept, '');

  lines.push('## How each setting was chosen', '');
  for (const { variant, selection } of state.selections) {
    const c = selection.chosen;
    const why = selection.band
      ? selection.inBand
        ? `the lowest validation error among the ${selection.eligible} setting${selection.eligible === 1 ? '' : 's'} with ${pct(lo, 0)}–${pct(hi, 0)} exact zeros`
        : `**no setting reached ${pct(lo, 0)}–${pct(hi, 0)} exact zeros**: the one closest to that band`
      : 'the lowest validation error';
    lines.push(
      `- ${variant}: lr ${c.lr}${selection.band ? `, λ ${c.l1}` : ''} — ${why} (validation error ${pct(c.validError)}, ${pct(c.validSparsity, 1)} exact zeros, epoch ${c.bestEpoch})`,
    );
  }
  if (!state.selections.length) lines.push('- none yet: no model has finished its grid');
  lines.push('');

  if (state.finals.length) {
    lines.push('## What the runs say about the paper’s claims', '');
    for (const c of claims(state.finals)) lines.push(`- **${c.verdict}** — ${c.claim} ${c.evidence}.`);
    lines.push('');
  }

  lines.push('## The grid', '');
  lines.push('Every run of the grid at its best-validation epoch (seed ' + `${ctx.seed}). Sparsity: mean fraction of exact zeros over the hidden layers.`, '');
  lines.push('| model | λ | lr | epochs done | best epoch | validation error | validation sparsity | test error | test sparsity | in band |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const p of state.sweep) {
    const t = summarize(p);
    const v = VARIANTS.find((x) => x.name === t.variant);
    const band = v && searchesL1(v) ? (t.validSparsity >= lo && t.validSparsity <= hi ? 'yes' : 'no') : '';
    lines.push(
      `| ${t.variant} | ${t.l1 || '–'} | ${t.lr} | ${t.epochsDone}${t.diverged ? ` (diverged at step ${p.diverged!.step})` : ''} | ${t.bestEpoch || '–'} | ` +
        `${t.bestEpoch ? pct(t.validError) : '–'} | ${t.bestEpoch ? pct(t.validSparsity, 1) : '–'} | ${t.bestEpoch ? pct(t.testError) : '–'} | ${t.bestEpoch ? pct(t.testSparsity, 1) : '–'} | ${band} |`,
    );
  }
  lines.push(
    '',
    '## Figures',
    '',
    '![test error against sparsity over the λ sweep](sparsity-error.svg)',
    '',
    '![sparsity during training](sparsity.svg)',
    '',
    '![gradient norm by layer](gradnorm.svg)',
    '',
    '![sparsity at initialisation](init-sparsity.svg)',
    '',
    'The figures of training show the first seed of each chosen setting.',
    '',
  );
  lines.push('## Where this recipe differs from the paper', '');
  lines.push(...extrasDifferences(recipe));
  lines.push(
    `- Optimiser: momentum 0.9, mini-batches of ${recipe.batch}, warm-up then cosine decay to 0 over ${recipe.epochs} epochs; the paper used ${ctx.paperRecipe.describe.replace(/, \d+ epochs$/, '')} (available as \`--recipe paper\`).`,
    `- λ: the paper reports 0.001; here λ is chosen on the validation split for a sparsity near the paper's 83.4%.`,
    '- Early stopping: test error is read at the epoch of lowest validation error, as the paper did; the run itself always trains its planned epochs (the schedule depends on its length).',
    '- Initialisation: Glorot uniform with zero biases, as in the paper; no pre-training for any model, as in the paper’s Table 1 column compared here.',
    '',
  );
  return lines.join('\n');
}

/**
 * Which file holds the best-validation weights of the rectifier's chosen setting (first
 * seed), and the command that reproduces its row's test error and sparsity from them.
 */
function bestWeightsLine(state: GridState, ctx: GridReportContext): string | undefined {
  const p = state.finals.find((f) => searchesL1(f.variant) && f.seed === ctx.seed);
  const b = p && bestEpoch(p);
  if (!p || !b || !ctx.bestCheckpoint) return undefined;
  const who = `The ${p.variant.name}'s chosen setting (seed ${p.seed}, best-validation epoch ${b.epoch})`;
  if (p.bestCheckpointEpoch !== b.epoch) {
    return `${who}: its best-validation weights were not kept (that epoch was trained before the experiment kept them); \`checkpoints/${p.key}.safetensors\` holds its last epoch.`;
  }
  const file = ctx.bestCheckpoint(p.key ?? p.variant.name);
  const limit = ctx.testExamples < 10_000 ? ` --test-limit ${ctx.testExamples}` : '';
  return (
    `${who}: its weights are in \`${file}\`. On the same backend, \`rectigrad eval --checkpoint ${file}${limit}\` gives this row's ` +
    `test error ${pct(b.test.error)} and sparsity ${pct(mean(b.test.sparsity), 1)} (by layer ${b.test.sparsity.map((x) => pct(x, 1)).join(' / ')}).`
  );
}
