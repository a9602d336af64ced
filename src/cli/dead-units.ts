// `rectigrad experiment dead-units`: runs src/experiment/dead-units.ts with its progress
// kept in --out (progress/<run>.json per finished run or E0 group), and the report,
// results.json and figures rewritten there after each one. Run again, it skips what is done.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createBackend, type BackendChoice } from '../backend/create.ts';
import { loadMnist } from '../data/idx-files.ts';
import { writeFileAtomic } from '../io/checkpoint-file.ts';
import { DEFAULT, QUICK, runDeadUnits, type DeadUnitsResults } from '../experiment/dead-units.ts';
import { deadUnitsReport } from '../experiment/dead-units-report.ts';

export interface DeadUnitsFlags {
  out: string;
  backend: BackendChoice;
  quick: boolean;
  quiet: boolean;
}

export async function deadUnitsExperiment(flags: DeadUnitsFlags): Promise<void> {
  const started = performance.now();
  const log = (s: string) => flags.quiet || console.error(s);
  const config = flags.quick ? QUICK : DEFAULT;
  const out = flags.out;
  const metaFile = join(out, 'experiment.json');
  const meta = existsSync(metaFile) ? JSON.parse(readFileSync(metaFile, 'utf8')) : { experiment: 'dead-units', wallSeconds: 0 };
  if (meta.experiment !== 'dead-units') throw new Error(`${out} holds another experiment's run (${meta.recipe ? 'glorot2011' : 'unknown'}): use another --out`);
  if (meta.config !== undefined && meta.config !== config.name) {
    throw new Error(
      `${out} holds a ${meta.config === 'quick' ? '--quick' : 'full'} run of dead-units, not a ${flags.quick ? '--quick' : 'full'} one: use another --out`,
    );
  }
  meta.config = config.name;
  const progress = join(out, 'progress');
  mkdirSync(progress, { recursive: true });
  const done = readdirSync(progress).filter((f) => f.endsWith('.json')).length;
  if (done) log(`resuming: ${done} finished run${done === 1 ? '' : 's'} in ${out} kept, not redone`);
  const before = meta.wallSeconds as number;
  const wall = () => before + (performance.now() - started) / 1000;
  const saveMeta = () => writeFileAtomic(metaFile, JSON.stringify({ ...meta, wallSeconds: wall() }) + '\n');
  saveMeta();

  const command = `rectigrad experiment dead-units ${process.argv.slice(4).join(' ')}`.trim();
  // The adapter is kept in experiment.json: a resumed run that trains nothing still names it.
  let adapter: string = meta.adapter ?? '';
  const makeBackend = async () => {
    const { backend, note } = await createBackend(flags.backend);
    if (adapter !== backend.adapter) log(note);
    adapter = meta.adapter = backend.adapter;
    return backend;
  };
  const cpu = cpus();
  const charts = await loadCharts();
  const write = async (res: DeadUnitsResults) => {
    saveMeta();
    for (const [name, svg] of Object.entries(await charts.deadUnitsCharts(res))) writeFileAtomic(join(out, name), svg);
    const ctx = {
      command,
      wallSeconds: wall(),
      adapter,
      machine: `${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.versions.node}`,
      date: new Date().toISOString().slice(0, 10),
    };
    writeFileAtomic(join(out, 'report.md'), deadUnitsReport(res, ctx));
    writeFileAtomic(join(out, 'results.json'), JSON.stringify(res, null, 1) + '\n');
  };
  const results = await runDeadUnits({
    config,
    store: {
      load: <T>(key: string) => {
        const f = join(progress, `${key}.json`);
        return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as T) : undefined;
      },
      save: (key, value) => writeFileAtomic(join(progress, `${key}.json`), JSON.stringify(value) + '\n'),
    },
    makeBackend,
    mnist: { train: loadMnist('train'), test: loadMnist('test') },
    log,
    onProgress: write,
  });
  await write(results);
  console.log(`report: ${join(out, 'report.md')} (${(wall() / 60).toFixed(1)} min in all)`);
}

async function loadCharts(): Promise<typeof import('../experiment/dead-units-charts.ts')> {
  try {
    return await import('../experiment/dead-units-charts.ts');
  } catch (e) {
    throw new Error(`the report's figures need the optional packages vega and vega-lite (npm install vega vega-lite): ${(e as Error).message.split('\n')[0]}`);
  }
}
