// `rectigrad eval`: a saved checkpoint on a test set: loss, error, and per hidden layer
// the sparsity and the dead units over the whole evaluated set.
import { Command } from 'commander';
import { BACKENDS, createBackend, type BackendChoice } from '../backend/create.ts';
import { limitDataset } from '../data/dataset.ts';
import { DATASETS, loadDataset, type DatasetName } from '../data/load.ts';
import { parseRunConfig, type RunConfig } from '../io/checkpoint-config.ts';
import { loadCheckpoint, writeFileAtomic } from '../io/checkpoint-file.ts';
import { paramsArena } from '../plan/eval-plan.ts';
import { describeModel } from '../model/spec.ts';
import { Evaluator } from '../train/evaluate.ts';
import { checkOutputPath, oneOf, positiveInt } from './options.ts';

interface EvalFlags {
  checkpoint: string;
  data?: DatasetName;
  dataDir?: string;
  testLimit?: number;
  backend: BackendChoice;
  json?: string;
  quiet: boolean;
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a checkpoint on the test set: loss, error, sparsity and dead units by layer')
    .requiredOption('--checkpoint <file>', 'a safetensors checkpoint written by train --save')
    .option('--data <name>', 'mnist|synthetic (default: the data the checkpoint was trained on)', oneOf('--data', DATASETS))
    .option('--data-dir <dir>', 'a directory of IDX files with the standard names (plain or .gz)')
    .option('--test-limit <n>', 'evaluate on only the first n test examples', positiveInt('--test-limit'))
    .option('--backend <name>', 'auto|webgpu|cpu', oneOf('--backend', BACKENDS), 'auto')
    .option('--json <file>', 'write the result as JSON (- for stdout: the result line then goes to stderr)')
    .option('--quiet', 'print only the result line', false)
    .action(async (flags: EvalFlags) => {
      // Checked before anything is loaded; with --json - stdout carries the JSON alone.
      if (flags.json !== undefined && flags.json !== '-') checkOutputPath('--json', flags.json);
      const toStdout = flags.json === '-';
      const ck = loadCheckpoint(flags.checkpoint);
      // The data it was trained on, from its run config (none: a program that recorded none).
      const trained: Partial<RunConfig> = Object.keys(ck.config).length ? parseRunConfig(ck.config, flags.checkpoint) : {};
      const data = flags.data ?? trained.data ?? 'mnist';
      const dataDir = flags.dataDir ?? (flags.data ? undefined : trained.dataDir);
      const test = limitDataset(loadDataset({ data, dataDir, seed: trained.seed ?? 1 }, 'test'), flags.testLimit);
      const { backend, note } = await createBackend(flags.backend);
      if (!flags.quiet) console.error(`${note}\nmodel ${describeModel(ck.model)} at step ${ck.step}; ${test.name}: ${test.examples} examples`);
      const own = paramsArena(ck.model, backend.limits);
      backend.allocate(own.arenas, own.chunks);
      backend.writeF(own.params, ck.params);
      const ev = await Evaluator.create(backend, ck.model, test);
      const r = await ev.evaluate();
      (toStdout ? console.error : console.log)(
        `${r.examples} examples: loss ${r.loss.toFixed(4)}, error ${(100 * r.error).toFixed(2)}%, ` +
          `sparsity ${r.sparsity.map((x) => `${(100 * x).toFixed(1)}%`).join(' ')}, dead ${r.deadUnits.join(' ')}`,
      );
      const text = JSON.stringify(r, null, 1) + '\n';
      if (toStdout) process.stdout.write(text);
      else if (flags.json) writeFileAtomic(flags.json, text);
      backend.destroy();
    });
}
