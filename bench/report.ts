// The benchmark's table (Markdown, readable in a terminal too) and the check of its JSON.
import { ENGINE_GAP_MS, PYTORCH, rowLabel, type AdapterInfo, type BenchReport, type Row } from './spec.ts';

const num = (x: number | null, digits: number) => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const ms = (x: number | null) => (x === null ? '–' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : x >= 100 ? x.toFixed(0) : x.toFixed(x >= 10 ? 1 : 2));
const eps = (x: number | null) => (x === null ? '–' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

export function adapterLabel(a: AdapterInfo | null): string {
  if (!a) return '–';
  if (a.kind === 'cpu') return a.description;
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') || 'unknown adapter';
  return `${name}${a.isFallback ? ' (software)' : ''}`;
}

function variantLabel(r: Row): string {
  if (r.variant === 'telemetry') return 'telemetry on, read every step';
  if (r.variant === 'readback') return 'loss read every step';
  if (r.variant === 'no-readback') return 'loss read at the end';
  return 'each product waited for';
}

/** The results as a Markdown table, then the adapters, the GPU time by op group and the skipped rows. */
export function formatTable(rep: BenchReport): string {
  const head = ['engine', 'workload', 'batch', 'variant', 'steps × reps', 'examples/s', 'ms/step', 'GFLOP/s', 'first step ms', 'loss before → after'];
  const lines: string[][] = [];
  const notes: string[] = [];
  for (const r of rep.rows) {
    if (r.status !== 'ok') {
      lines.push([rowLabel(r), r.workload, String(r.batch), variantLabel(r), '–', '–', '–', '–', ms(r.firstStepMs), r.status]);
      continue;
    }
    const loss = r.workload === 'matmul' ? `check ${r.check === null ? '–' : r.check.toPrecision(6)}` : `${num(r.lossBefore, 4)} → ${num(r.lossAfter, 4)}`;
    lines.push([
      rowLabel(r),
      r.workload,
      String(r.batch),
      variantLabel(r),
      `${r.steps} × ${r.reps}${r.reduced ? ' (reduced)' : ''}`,
      eps(r.examplesPerSecond),
      ms(r.msPerStep),
      num(r.gflops, 2),
      ms(r.firstStepMs),
      loss,
    ]);
  }
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i >= 4 && i <= 8 ? c.padStart(width[i]) : c.padEnd(width[i]))).join(' | ')} |`;
  const out = [fmt(head), `|${width.map((w, i) => (i >= 4 && i <= 8 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...lines.map(fmt)];

  const m = rep.machine;
  out.push('', 'A skipped row did not fit its engine\'s time budget (--budget raises it); "reduced" rows ran fewer than 10 steps per repetition.');
  out.unshift(
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}${m.browser ? `; ${m.browser}` : ''}; load average ${m.loadAverage.start[0]} at the start, ${m.loadAverage.end[0]} at the end.`,
    `Method: ${rep.settings.reps} interleaved repetitions of up to ${rep.settings.steps} timed steps each from the same initial weights, medians; warm-up excluded (first step shown apart), and the cores left idle for ${ENGINE_GAP_MS} ms between two engines; time budget ${rep.settings.budgetSeconds} s per engine; ${rep.settings.wallSeconds} s in all.`,
    '',
  );

  const adapters = new Map<string, string[]>();
  for (const r of rep.rows) {
    if (!r.adapter) continue;
    const k = adapterLabel(r.adapter);
    const v = Object.entries(r.versions)
      .map(([n, x]) => `${n} ${x}`)
      .join(', ');
    const list = adapters.get(k) ?? [];
    const entry = `${r.engine} (${v})`;
    if (!list.includes(entry)) list.push(entry);
    adapters.set(k, list);
  }
  notes.push('', 'Adapters and versions:');
  for (const [a, list] of adapters) notes.push(`- ${a}: ${list.join('; ')}`);

  // The sparse workload's start: the same for every engine on a cell.
  const starts = new Map<string, string>();
  for (const r of rep.rows) {
    const z = r.startZeros;
    if (!z) continue;
    const pc = (x: number) => `${(100 * x).toFixed(0)} %`;
    starts.set(
      `${r.workload} b${r.batch}`,
      `${z.hidden.map(pc).join(' / ')} of the hidden layers' outputs zero (mean ${pc(z.hiddenMean)}), ${pc(z.pixels)} of the pixels${z.from ? `; weights from ${z.from}` : ''}`,
    );
  }
  if (starts.size) {
    notes.push('', "Zeros at the start (the start weights, on the cell's batches):");
    for (const [cell, what] of starts) notes.push(`- ${cell}: ${what}`);
  }
  if (rep.ratios?.length) {
    notes.push(
      '',
      'Side by side (same cell and variant, same repetitions): ratio of the medians; in brackets, the median of the per-repetition ratios, then each:',
    );
    for (const q of rep.ratios)
      notes.push(
        `- ${q.what}, ${q.workload} b${q.batch} ${variantLabel({ variant: q.variant } as Row)}: ${q.numerator} ÷ ${q.denominator} = ${q.ratio.toFixed(2)}×${q.pairedRatio === null ? '' : ` (${q.pairedRatio.toFixed(2)}×: ${q.repRatios.map((x) => x.toFixed(2)).join(', ')})`}`,
      );
  }
  // Which kernels PyTorch's BLAS ran: OpenBLAS falls back to generic ones on a CPU it does not recognise.
  const torch = rep.rows.find((r) => r.engine === PYTORCH && r.status === 'ok');
  if (torch) notes.push('', `PyTorch: ${adapterLabel(torch.adapter)}; ${(torch.notes ?? []).filter((n) => /OPENBLAS|OpenBLAS|OMP_/.test(n)).join(', ')}.`);

  // Whether rectigrad-cpu's helper threads did their share: products split, pauses (helpers judged a loss).
  const cpu = rep.rows.filter((r) => r.cpuProducts && r.cpuProducts.gemms > 0);
  if (cpu.length) {
    notes.push('', "rectigrad-cpu's WebAssembly products over the timed steps (split across helper threads / all; splitting paused; sparse path):");
    for (const r of cpu) {
      const p = r.cpuProducts!;
      notes.push(
        `- ${rowLabel(r)} ${r.workload} b${r.batch} ${variantLabel(r)}: ${p.split} / ${p.gemms} split (by repetition ${p.repSplit.join(', ')}), ${p.pauses} paused, ${p.spmms} sparse`,
      );
    }
  }

  const host = rep.rows.filter((r) => r.hostUsPerStep !== undefined);
  if (host.length) {
    notes.push('', 'Host time per step spent encoding and submitting it (rectigrad), µs:');
    for (const r of host) notes.push(`- ${rowLabel(r)} ${r.workload} b${r.batch} ${variantLabel(r)}: ${r.hostUsPerStep!.toFixed(0)}`);
  }

  const prof = rep.rows.filter((r) => r.gpuMs);
  if (prof.length) {
    notes.push(
      '',
      'GPU time per step by op group (timestamp queries; profiled steps run one pass per group, so their sum can exceed the unprofiled wall time), ms:',
    );
    for (const r of prof) {
      const g = r.gpuMs!;
      const total = Object.values(g).reduce((a, b) => a + (b ?? 0), 0);
      const parts = Object.entries(g)
        .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
        .map(([k, v]) => `${k} ${ms(v ?? 0)}`);
      notes.push(`- ${r.engine} ${r.workload} b${r.batch} ${variantLabel(r)}: ${parts.join(', ')} (sum ${ms(total)}; unprofiled wall ${ms(r.msPerStep)})`);
    }
  }
  // Readback's cost, host side: the same engine and cell with and without the per-step read.
  const readback: string[] = [];
  for (const r of rep.rows) {
    if (r.variant !== 'readback' || r.msPerStep === null || r.steps < 5) continue;
    const nr = rep.rows.find(
      (x) => x.engine === r.engine && x.cpuPath === r.cpuPath && x.workload === r.workload && x.batch === r.batch && x.variant === 'no-readback',
    );
    if (nr?.msPerStep != null && nr.steps >= 5) readback.push(`${rowLabel(r)} ${r.workload} b${r.batch} ${ms(r.msPerStep - nr.msPerStep)}`);
  }
  if (readback.length)
    notes.push(
      '',
      `Per-step loss readback, ms per step (every-step minus last-step rows of at least 5 steps; noise can make it negative): ${readback.join('; ')}`,
    );
  return [...out, ...notes].join('\n');
}

// ---------------------------------------------------------------------------------------
// The JSON contract

const ROW_FIELDS: Record<string, string[]> = {
  engine: ['string'],
  workload: ['string'],
  batch: ['number'],
  variant: ['string'],
  status: ['string'],
  examplesPerSecond: ['number', 'null'],
  msPerStep: ['number', 'null'],
  gflops: ['number', 'null'],
  firstStepMs: ['number', 'null'],
  lossBefore: ['number', 'null'],
  lossAfter: ['number', 'null'],
  check: ['number', 'null'],
  telemetry: ['boolean'],
  readback: ['string', 'null'],
  steps: ['number'],
  reps: ['number'],
  repMsPerStep: ['array'],
  reduced: ['boolean'],
  adapter: ['object', 'null'],
  versions: ['object'],
};

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** What is wrong with a report read back from JSON (empty when it follows the contract). */
export function checkReport(rep: unknown): string[] {
  const errs: string[] = [];
  const r = rep as BenchReport;
  if (typeOf(r) !== 'object') return ['the report is not an object'];
  if (typeOf(r.machine) !== 'object') errs.push('machine is missing');
  else {
    for (const k of ['cpuModel', 'os', 'node'])
      if (typeof (r.machine as unknown as Record<string, unknown>)[k] !== 'string') errs.push(`machine.${k} is not a string`);
    if (typeof r.machine.cores !== 'number') errs.push('machine.cores is not a number');
  }
  if (!Array.isArray(r.rows)) return [...errs, 'rows is not an array'];
  r.rows.forEach((row, i) => {
    for (const [k, types] of Object.entries(ROW_FIELDS)) {
      const t = typeOf((row as unknown as Record<string, unknown>)[k]);
      if (!types.includes(t)) errs.push(`rows[${i}].${k} is ${t}, expected ${types.join(' or ')}`);
    }
    if (row.status === 'ok') {
      for (const k of ['examplesPerSecond', 'msPerStep', 'gflops', 'firstStepMs'] as const) {
        if (!(typeof row[k] === 'number' && Number.isFinite(row[k]) && (row[k] as number) > 0))
          errs.push(`rows[${i}] (${row.engine}) ${k} is not a positive number`);
      }
      if (row.adapter) {
        for (const k of ['kind', 'vendor', 'architecture', 'description'])
          if (typeof (row.adapter as unknown as Record<string, unknown>)[k] !== 'string') errs.push(`rows[${i}].adapter.${k} is not a string`);
        if (typeof row.adapter.isFallback !== 'boolean') errs.push(`rows[${i}].adapter.isFallback is not a boolean`);
      }
    }
  });
  return errs;
}
