// `rectigrad bench`: named workloads on named engines — rectigrad (CPU and WebGPU) and
// its peers (TensorFlow.js, jax-js), in Node and in headless Chromium — side by side in
// one run, from the same initial weights and batch; prints a table, writes --json.
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeFileAtomic } from '../src/io/checkpoint-file.ts';
import { checkReport, formatTable } from './report.ts';
import { runBench } from './run.ts';
import { BENCH_CHROMIUM_FLAGS, HARDWARE_GPU_FLAGS } from './hosts.ts';
import { ALL_ENGINES, CPU_PATHS, LIBRARIES, parseEngineList, PYTORCH, type CpuPath, WORKLOADS, type EngineId, type WorkloadName } from './spec.ts';
import { positiveInt } from '../src/cli/options.ts';

interface BenchFlags {
  engines: EngineId[];
  workload?: WorkloadName[];
  batch?: number[];
  sizes?: number[];
  steps?: number;
  reps?: number;
  budget?: number;
  quick: boolean;
  json?: string;
  browser?: string;
  browserFlags: string[];
  hardwareGpu: boolean;
  profile: boolean;
  verbose: boolean;
  cpuPaths?: CpuPath[];
  from?: string;
}

const list =
  (flag: string) =>
  (v: string): number[] =>
    v.split(',').map((p) => {
      const n = Number(p.trim());
      if (!/^\d+$/.test(p.trim()) || n < 1)
        throw new InvalidArgumentError(`${flag} takes comma-separated positive whole numbers, e.g. 64,256; "${p}" is not one`);
      return n;
    });

const workloads = (v: string): WorkloadName[] =>
  v.split(',').map((w) => {
    if (!(WORKLOADS as readonly string[]).includes(w.trim()))
      throw new InvalidArgumentError(`--workload takes ${WORKLOADS.join('|')} (comma-separated); got "${w}"`);
    return w.trim() as WorkloadName;
  });

const engines = (v: string): EngineId[] => {
  try {
    return parseEngineList(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'throughput of rectigrad (cpu, webgpu) and its peers (TensorFlow.js cpu/wasm/webgpu, jax-js wasm/webgpu), in Node and in headless Chromium, on the same weights and batch: examples/s, ms/step, GFLOP/s, first-step time, loss before and after',
    )
    .addOption(
      new Option(
        '--engines <ids>',
        `comma-separated: ${LIBRARIES.join(', ')}, each @node or @chromium; a bare name means both; also all, node, chromium; and ${PYTORCH} (PyTorch, training workloads)`,
      )
        .argParser(engines)
        .default(ALL_ENGINES, 'all'),
    )
    .option(
      '--workload <names>',
      'paper (784-1000-1000-1000-10), sparse (the paper network trained with the L1 penalty, ≥ 85 % of hidden outputs zero, training on with L1 and momentum), wide (4096-wide hidden layers, for real GPUs), tiny (smoke runs), matmul (square products); comma-separated (default paper,matmul)',
      workloads,
    )
    .option('--batch <sizes>', 'batch sizes of the training workloads, comma-separated (default: paper 64,256; wide 256,1024; tiny 32)', list('--batch'))
    .option('--sizes <n>', 'matmul sizes n (C[n×n] = A·B), comma-separated (default 256,512,1024)', list('--sizes'))
    .option('--steps <n>', 'timed steps per repetition (default 10)', positiveInt('--steps'))
    .option('--reps <n>', 'interleaved repetitions (default 2)', positiveInt('--reps'))
    .option('--budget <seconds>', 'time each engine may take in all; slower engines get fewer steps, marked reduced (default 30)', positiveInt('--budget'))
    .option('--quick', 'a smoke run of about a minute: tiny workload and a small matmul, few steps', false)
    .option('--json <file>', 'write the report as JSON')
    .option('--browser <path>', 'Chromium or Chrome executable for the @chromium engines (default: $CHROMIUM_PATH or /usr/bin/chromium)')
    .addOption(
      new Option('--browser-flags <flags>', 'more Chromium flags, space-separated (e.g. "--enable-features=Vulkan --use-angle=vulkan")')
        .argParser((v: string, prev: string[]) => [...prev, ...v.split(/\s+/).filter(Boolean)])
        .default([] as string[], 'none'),
    )
    .option('--hardware-gpu', `ask headless Chromium for the hardware adapter (adds ${HARDWARE_GPU_FLAGS.join(' ')})`, false)
    .option(
      '--cpu-paths <paths>',
      "rectigrad-cpu's matmul paths to run side by side on every training workload: auto (sparse where measured faster), off (dense), comma-separated (default: auto,off on the sparse workload, the backend's default elsewhere)",
      (v: string) =>
        v.split(',').map((p) => {
          if (!(CPU_PATHS as readonly string[]).includes(p.trim())) throw new InvalidArgumentError(`--cpu-paths takes ${CPU_PATHS.join(',')}; got "${p}"`);
          return p.trim() as CpuPath;
        }),
    )
    .option(
      '--from <file>',
      "the sparse workload's start weights: a rectigrad checkpoint of the paper network trained with the L1 penalty (default: one the bench trains on MNIST once and caches)",
    )
    .option('--no-profile', 'skip the per-op-group GPU timing (timestamp queries)')
    .option('--verbose', "show the engines' own output", false)
    .addHelpText(
      'after',
      `
The sparse workload starts from the paper network trained with the L1 activation penalty
(--from FILE, else a checkpoint the bench trains on MNIST in a few minutes the first time
and keeps in $RECTIGRAD_CACHE_DIR, else $XDG_CACHE_HOME/rectigrad or ~/.cache/rectigrad),
and trains on 8 MNIST batches in turn with the L1 term and momentum. It runs rectigrad-cpu
on its sparse path (auto) and its dense path (off) side by side, and adds ${PYTORCH}
beside rectigrad-cpu@node (TensorFlow.js and jax-js stay off it): PyTorch on as many threads,
run by $PYTHON or /usr/bin/python3 (its rows say why where that has no torch; OpenBLAS
settings such as OPENBLAS_CORETYPE pass through, and the row names the kernels it used).

Every Chromium launch is headless with --enable-unsafe-webgpu and ${BENCH_CHROMIUM_FLAGS.join(' ')}.
Each row names the adapter its engine got; on a machine without a GPU that is SwiftShader,
a software adapter: its numbers rank kernels, not GPUs.

Examples:
  rectigrad bench                                          paper b64/b256 and matmul, every engine
  rectigrad bench --quick
  rectigrad bench --engines rectigrad-webgpu,tfjs-webgpu@node --workload paper --batch 256
  rectigrad bench --workload wide --engines rectigrad-webgpu@chromium --hardware-gpu
  rectigrad bench --engines rectigrad-cpu@node --workload sparse --batch 10,64,256 --reps 5`,
    )
    .action(async (flags: BenchFlags) => {
      await bench(flags);
    });
}

async function bench(flags: BenchFlags): Promise<void> {
  const quick = flags.quick;
  const workloads = flags.workload ?? (quick ? ['tiny', 'matmul'] : ['paper', 'matmul']);
  if (flags.from !== undefined && !workloads.includes('sparse'))
    throw new Error(`--from ${flags.from} gives the sparse workload its start weights, and this run has no sparse workload: add --workload sparse`);
  const report = await runBench({
    engines: flags.engines,
    workloads,
    from: flags.from,
    batches: flags.batch,
    sizes: flags.sizes ?? (quick ? [128] : undefined),
    steps: flags.steps ?? (quick ? 3 : 10),
    reps: flags.reps ?? 2,
    budgetSeconds: flags.budget ?? (quick ? 4 : 30),
    profile: flags.profile,
    cpuPaths: flags.cpuPaths,
    chromium: { executablePath: flags.browser, extraArgs: [...(flags.hardwareGpu ? HARDWARE_GPU_FLAGS : []), ...flags.browserFlags] },
    log: (s) => console.error(s),
    verbose: flags.verbose,
    command: ['rectigrad', ...process.argv.slice(2)].join(' '),
  });
  const problems = checkReport(report);
  if (problems.length) throw new Error(`the report does not follow its schema: ${problems.slice(0, 3).join('; ')}`);
  console.log(formatTable(report));
  if (flags.json) writeFileAtomic(flags.json, JSON.stringify(report, null, 2) + '\n');
}
