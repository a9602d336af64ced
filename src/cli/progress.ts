// Progress on a terminal (a bar with examples/s, loss, mean sparsity, dead units) or
// plain lines when the output is not a terminal.
import cliProgress from 'cli-progress';
import type { StepStats } from '../train/telemetry.ts';

const mean = (a: number[]) => (a.length ? a.reduce((s, x) => s + x, 0) / a.length : NaN);
const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);

export interface Progress {
  update(s: StepStats): void;
  log(line: string): void;
  stop(): void;
}

export function progress(totalSteps: number, opts: { quiet: boolean; plainEvery: number; startAt?: number }): Progress {
  if (opts.quiet) return { update() {}, log() {}, stop() {} };
  if (!process.stderr.isTTY) {
    return {
      update(s) {
        if (s.step % opts.plainEvery === 0 || s.step === totalSteps) console.error(stepLine(s, totalSteps));
      },
      log: (line) => console.error(line),
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'step {value}/{total} |{bar}| {eps} ex/s  loss {loss}  acc {acc}  sparsity {sparsity}  dead {dead}',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = opts.startAt ?? 0;
  bar.start(totalSteps, start, { eps: '-', loss: '-', acc: '-', sparsity: '-', dead: '-' });
  return {
    update(s) {
      bar.update(s.step, {
        eps: s.examplesPerSecond.toFixed(0),
        loss: s.loss.toFixed(4),
        acc: s.accuracy.toFixed(3),
        sparsity: s.sparsity.length ? `${(100 * mean(s.sparsity)).toFixed(1)}%` : '-',
        dead: s.deadUnits.length ? String(sum(s.deadUnits)) : '-',
      });
    },
    log(line) {
      // Print above the bar, which redraws itself on the next update.
      process.stderr.write('\r\x1b[2K' + line + '\n');
    },
    stop: () => bar.stop(),
  };
}

export function stepLine(s: StepStats, total: number): string {
  const pct = (a: number[]) => a.map((x) => `${(100 * x).toFixed(1)}%`).join(' ');
  const parts = [
    `step ${s.step}/${total}`,
    `epoch ${s.epoch + 1}`,
    `loss ${s.loss.toFixed(4)}`,
    `acc ${s.accuracy.toFixed(3)}`,
  ];
  if (s.sparsity.length) {
    parts.push(`sparsity ${pct(s.sparsity)}`, `dead ${s.deadUnits.join(' ')}`, `‖dW‖ ${s.gradNorm.map((g) => g.toExponential(2)).join(' ')}`);
  }
  parts.push(`${s.examplesPerSecond.toFixed(0)} ex/s`);
  return parts.join('  ');
}
