// The command line. Errors a user can fix print one line, not a stack trace.
import { Command, CommanderError } from 'commander';
import { benchCommand } from './bench.ts';
import { evalCommand } from './eval.ts';
import { experimentCommand } from './experiment.ts';
import { trainCommand } from './train.ts';

const program = new Command('rectigrad')
  .description('WebGPU training engine for rectifier networks')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addCommand(trainCommand())
  .addCommand(evalCommand())
  .addCommand(experimentCommand())
  .addCommand(benchCommand());

program.commands.forEach((c) => c.exitOverride().showHelpAfterError('(run with --help for usage)'));

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`rectigrad: ${msg}`);
  if (process.env.RECTIGRAD_DEBUG && e instanceof Error) console.error(e.stack);
  process.exit(1);
}
