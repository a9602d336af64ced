// `rectigrad tune`: measure every matmul candidate on each product shape of a network on
// this adapter, print each candidate's GFLOP/s and the choice, and keep the choices in the
// tuning cache (what training would otherwise do on first use of the adapter).
import { Command } from 'commander';
import { acquireGpu } from '../backend/webgpu/device.ts';
import { setTuningCache } from '../backend/webgpu/tuning-cache.ts';
import { fileCache } from '../backend/webgpu/tuning-cache-node.ts';
import { WebGpuBackend } from '../backend/webgpu/webgpu-backend.ts';
import { writeFileAtomic } from '../io/checkpoint-file.ts';
import { PAPER_MODEL } from '../model/spec.ts';
import { matmulProducts } from '../plan/plan.ts';
import { checkOutputPath, oneOf, positiveInt, widthList } from './options.ts';

interface TuneFlags {
  backend: 'webgpu' | 'cpu';
  layers?: number[];
  batch: number;
  budget: number;
  force: boolean;
  json?: string;
}

export function tuneCommand(): Command {
  return new Command('tune')
    .description('choose the matmul kernel of each product shape by measurement on this adapter, and keep the choices in the tuning cache')
    .option('--backend <name>', 'webgpu (the CPU backend has nothing to tune)', oneOf('--backend', ['webgpu', 'cpu'] as const), 'webgpu')
    .option('--layers <widths>', 'hidden layer widths, comma-separated (default: the paper network, 1000,1000,1000)', widthList('--layers'))
    .option('--batch <n>', 'batch size (default 64)', positiveInt('--batch'), 64)
    .option('--budget <ms>', 'time budget for measuring, in ms (default 2000 per network)', positiveInt('--budget'), 2000)
    .option('--force', 'measure again even what the cache holds', false)
    .option('--json <file>', 'write { adapter, entries: [{ op, shape, layout, candidates, chosen }] } as JSON (- for stdout: the table then goes to stderr)')
    .action(async (flags: TuneFlags) => {
      if (flags.backend === 'cpu') throw new Error('the CPU backend has no kernel configurations to tune: use --backend webgpu');
      if (flags.json !== undefined && flags.json !== '-') checkOutputPath('--json', flags.json);
      const toStdout = flags.json === '-';
      setTuningCache(fileCache());
      const ctx = await acquireGpu();
      const backend = new WebGpuBackend(ctx);
      const model = flags.layers ? { ...PAPER_MODEL, hidden: flags.layers } : PAPER_MODEL;
      const report = (await backend.tune(matmulProducts(model, flags.batch), { mode: 'on', budgetMs: flags.budget, force: flags.force }))!;
      console.error(`adapter: ${backend.adapter}; cache: ${report.cache}`);
      for (const e of report.entries) {
        const cands = e.candidates.map((c) => ('gflops' in c ? `${c.config} ${c.gflops.toFixed(1)}` : `${c.config} (${c.error})`)).join(', ');
        (toStdout ? console.error : console.log)(
          `${e.op.padEnd(7)} ${e.shape.join('x').padEnd(16)} ${e.layout}  chosen ${e.chosen}${e.cached ? ' (cached)' : ''}  [GFLOP/s: ${cands}]`,
        );
      }
      console.error(`${report.entries.length} shapes in ${report.seconds.toFixed(2)} s`);
      if (flags.json) {
        const { adapter, entries } = report;
        const text = JSON.stringify({ adapter: backend.adapter, adapterKey: adapter, entries }, null, 1) + '\n';
        if (toStdout) process.stdout.write(text);
        else writeFileAtomic(flags.json, text);
      }
      backend.destroy();
      ctx.device.destroy();
    });
}
