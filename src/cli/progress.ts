// Progress on a terminal (one status line with a bar, examples/s, loss, mean sparsity,
// dead units, redrawn in place and always fitted to the terminal's width) or plain lines
// when the output is not a terminal. Results printed while the bar is up go above it.
import type { StepStats } from '../train/telemetry.ts';

const mean = (a: number[]) => (a.length ? a.reduce((s, x) => s + x, 0) / a.length : NaN);
const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);

export interface Progress {
  update(s: StepStats): void;
  /** A line above the bar, on `to` (default stderr). */
  log(line: string, to?: NodeJS.WritableStream): void;
  stop(): void;
}

/** The width to fit: the terminal's, or 80 columns. */
export const columns = (): number => process.stderr.columns || 80;

/** Shortest honest duration: "85 ms", "2.41 s", "93.2 s", "12 min 4 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.max(0, seconds * 1000).toFixed(0)} ms`;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 600) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/**
 * Join `parts` with ", " into lines of at most `width` characters, continuation lines
 * indented by two spaces. A part moves to the next line whole; only a part longer than
 * a line is broken, at its spaces.
 */
export function wrapParts(parts: string[], width = 80): string[] {
  const lines: string[] = [];
  let cur = '';
  const newline = () => {
    if (cur) lines.push(cur);
    cur = '  ';
  };
  parts.forEach((part, i) => {
    const sep = i === 0 ? '' : ', ';
    if (i > 0 && cur.length + sep.length + part.length > width) {
      cur += ',';
      newline();
    } else cur += sep;
    for (const [j, w] of part.split(' ').entries()) {
      const gap = j === 0 ? '' : ' ';
      if (cur.trim() && cur.length + gap.length + w.length > width) newline();
      else cur += gap;
      cur += w;
    }
  });
  if (cur.trim()) lines.push(cur);
  return lines;
}

export function progress(totalSteps: number, opts: { quiet: boolean; plainEvery: number; startAt?: number }): Progress {
  if (opts.quiet) return { update() {}, log() {}, stop() {} };
  if (!process.stderr.isTTY) {
    return {
      update(s) {
        if (s.step % opts.plainEvery === 0 || s.step === totalSteps) console.error(stepLine(s, totalSteps));
      },
      log: (line, to = process.stderr) => void to.write(line + '\n'),
      stop() {},
    };
  }
  const err = process.stderr;
  let status = barLine(opts.startAt ?? 0, totalSteps, undefined, columns());
  let lastDraw = 0;
  let shown = false;
  const draw = () => {
    err.write('\r\x1b[2K' + status);
    shown = true;
    lastDraw = performance.now();
  };
  draw();
  return {
    update(s) {
      status = barLine(s.step, totalSteps, s, columns());
      // Redrawing costs a write per step; ten times a second is enough to watch.
      if (performance.now() - lastDraw > 100 || s.step === totalSteps) draw();
    },
    log(line, to = err) {
      if (shown) err.write('\r\x1b[2K');
      to.write(line + '\n');
      draw();
    },
    stop() {
      if (shown) err.write('\r\x1b[2K' + status + '\n');
      shown = false;
    },
  };
}

/** The terminal status line, at most `width - 1` characters (the last column never wraps). */
export function barLine(step: number, total: number, s: StepStats | undefined, width: number): string {
  const head = `step ${step}/${total} `;
  const fields = [s ? `${s.examplesPerSecond.toFixed(0)} ex/s` : '- ex/s', `loss ${s ? s.loss.toFixed(4) : '-'}`, `acc ${s ? s.accuracy.toFixed(3) : '-'}`];
  if (s?.sparsity.length) fields.push(`sparsity ${(100 * mean(s.sparsity)).toFixed(1)}%`, `dead ${sum(s.deadUnits)}`);
  const tail = ' ' + fields.join('  ');
  const room = width - 1 - head.length - tail.length - 2;
  const size = Math.min(30, room);
  let line = head;
  if (size >= 5) {
    const done = Math.round((Math.min(step, total) / Math.max(1, total)) * size);
    line += '[' + '#'.repeat(done) + '-'.repeat(size - done) + ']';
  }
  line += tail;
  return line.length > width - 1 ? line.slice(0, width - 1) : line;
}

export function stepLine(s: StepStats, total: number): string {
  const pct = (a: number[]) => a.map((x) => `${(100 * x).toFixed(1)}%`).join(' ');
  const parts = [`step ${s.step}/${total}`, `epoch ${s.epoch + 1}`, `loss ${s.loss.toFixed(4)}`, `acc ${s.accuracy.toFixed(3)}`];
  if (s.sparsity.length) {
    parts.push(`sparsity ${pct(s.sparsity)}`, `dead ${s.deadUnits.join(' ')}`, `‖dW‖ ${s.gradNorm.map((g) => g.toExponential(2)).join(' ')}`);
  }
  parts.push(`${s.examplesPerSecond.toFixed(0)} ex/s`);
  return parts.join('  ');
}
