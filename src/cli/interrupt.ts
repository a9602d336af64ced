// Ctrl-C and SIGTERM during a long run: the first asks the run to stop after the step in
// flight (the caller then saves what it has); a second quits at once, writing nothing, so
// the last checkpoint on disk stays the last good one.
export interface Interrupt {
  /** The signal that asked the run to stop, if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** Exit status for a run stopped by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
  readonly exitCode: number;
  dispose(): void;
}

const NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * `beforeQuit` runs just before a second signal's exit: the CLI destroys its GPU device
 * there, because exiting with GPU work in flight can crash inside Dawn's teardown (seen
 * as a SIGSEGV instead of exit 130 about one time in three on SwiftShader).
 */
export function catchInterrupts(say: (line: string) => void, beforeQuit: () => void = () => {}): Interrupt {
  let signal: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    const code = 128 + (NUMBERS[sig] ?? 2);
    if (signal) {
      // Nothing is being written at this moment (checkpoint writes are synchronous), so
      // exiting here leaves the last complete checkpoint as it is.
      process.stderr.write(`\n${sig} again: quitting now; nothing more is written\n`);
      try {
        beforeQuit();
      } catch {
        // Quitting regardless.
      }
      process.exit(code);
    }
    signal = sig;
    say(`${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping after the step in flight to save the run (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again quits at once)`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get signal() {
      return signal;
    },
    get exitCode() {
      return signal ? 128 + (NUMBERS[signal] ?? 2) : 0;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
