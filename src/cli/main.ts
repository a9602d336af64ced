// The command line. Errors a user can fix print one line, not a stack trace. Each
// command's module is loaded only when that command runs, so `--help` and `--version`
// answer at once; `bench` lives in the source checkout's bench/ (it drives peer engines
// and Chromium, which are not dependencies of the package).
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { setGpuProvider } from '../backend/webgpu/device.ts';
import { nodeGpuProvider } from '../backend/webgpu/node-gpu.ts';
import { setTuningCache } from '../backend/webgpu/tuning-cache.ts';
import { fileCache } from '../backend/webgpu/tuning-cache-node.ts';

setGpuProvider(nodeGpuProvider);
setTuningCache(fileCache());

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

type CommandModule = () => Promise<Command>;
const COMMANDS: Record<string, { summary: string; load: CommandModule }> = {
  train: {
    summary: "train a network (default: the paper's 784-1000-1000-1000-10 rectifier net on MNIST)",
    load: async () => (await import('./train.ts')).trainCommand(),
  },
  eval: {
    summary: 'evaluate a checkpoint on a test set: error, loss, sparsity and dead units per layer',
    load: async () => (await import('./eval.ts')).evalCommand(),
  },
  experiment: {
    summary: "the paper's comparisons (glorot2011: rectifier vs tanh vs softplus on MNIST)",
    load: async () => (await import('./experiment.ts')).experimentCommand(),
  },
  tune: { summary: 'choose the GPU matmul kernels for a network by measurement on this adapter', load: async () => (await import('./tune.ts')).tuneCommand() },
  bench: { summary: 'throughput of rectigrad and its peers, CPU against GPU, Node against headless Chromium', load: loadBench },
};

async function loadBench(): Promise<Command> {
  const url = new URL('../../bench/command.ts', import.meta.url);
  if (!existsFile(url)) {
    throw new Error(
      'bench runs from a source checkout of rectigrad (it needs the peer engines and Chromium tooling): clone the repository, then npm run bench',
    );
  }
  return (await import(url.href)).benchCommand();
}

function existsFile(url: URL): boolean {
  try {
    readFileSync(url);
    return true;
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('rectigrad')
    .description('WebGPU training engine for rectifier networks')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const name = argv[2];
  for (const [cmd, { summary, load }] of Object.entries(COMMANDS)) {
    // Only the command being run is loaded; the others are listed by their summary.
    const c = cmd === name ? await load() : new Command(cmd).description(summary);
    program.addCommand(c.exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  await program.parseAsync(argv);
}

try {
  await main(process.argv);
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0); // a command may set it (train: 130 when interrupted)
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`rectigrad: ${msg}`);
  if (process.env.RECTIGRAD_DEBUG && e instanceof Error) console.error(e.stack);
  process.exit(1);
}
