// Soak: a long run on each backend, watching for leaks. Trains a small network for
// --steps steps (default 20,000) with an evaluation every epoch and a checkpoint-style
// readback of the whole state every --every steps (default 1,000); at each of those
// points it samples the backend's creation counters (buffers, pipelines, bind groups:
// the live GPU objects, since nothing is created after the first step), Node's RSS and
// heap (after a full GC), and checks that no staging buffer is still mapped or pending.
// Passes when the counters do not move after the first sample, the heap grows by less
// than 5% over it, and RSS by less than 5% over the second half of the run. RSS gets the
// longer warm-up because Dawn's and SwiftShader's own pools fill over the first few
// thousand submits and then stop (about +20 MiB in steps somewhere between step 3,000 and
// 8,000, flat after; the memory V8 counts outside its heap stays flat, a bare Dawn loop of
// compute passes without rectigrad climbs the same way, and MALLOC_ARENA_MAX=2 does not
// change it): a leak keeps growing through the second half, a pool does not.
// The growth over the whole run is reported beside it.
//
//   npm run soak [-- --steps 20000 --every 1000 --backend webgpu,cpu --json soak.json]
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { createBackend, type BackendChoice } from '../src/backend/create.ts';
import type { Backend } from '../src/backend/backend.ts';
import { setGpuProvider } from '../src/backend/webgpu/device.ts';
import { nodeGpuProvider } from '../src/backend/webgpu/node-gpu.ts';
import { STAGING_RING } from '../src/backend/webgpu/webgpu-backend.ts';
import { syntheticDataset } from '../src/data/synthetic.ts';
import { PAPER_MODEL, validateModel } from '../src/model/spec.ts';
import { DEFAULT_LR, DEFAULT_OPTIMIZER } from '../src/ops/optimizer.ts';
import { trainRun } from '../src/train/run.ts';

setGpuProvider(nodeGpuProvider);

export interface Sample {
  step: number;
  buffers: number;
  pipelines: number;
  bindGroups: number;
  rssMiB: number;
  heapMiB: number;
  /** Memory held outside the JS heap by JS objects (ArrayBuffers, native wrappers), as V8 counts it. */
  externalMiB: number;
  /** Staging buffers still busy once the pipeline is drained (must be 0). */
  stagingPending: number;
}

export interface SoakResult {
  backend: string;
  adapter: string;
  steps: number;
  seconds: number;
  samples: Sample[];
  /** Growth of the last sample over the first (warm-up) one, as a fraction. */
  rssGrowth: number;
  heapGrowth: number;
  /** RSS growth over the second half of the run alone: near 0 once allocator pools have settled. */
  rssGrowthSecondHalf: number;
  countersFlat: boolean;
  pass: boolean;
  problems: string[];
}

const MiB = 1 / (1024 * 1024);
const LIMIT = 0.05;

async function memory(): Promise<{ rssMiB: number; heapMiB: number; externalMiB: number }> {
  // Collect, let the finalisers of native wrappers (Dawn's objects) run on the event
  // loop, and collect again, so that what is measured is what is still referenced.
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return { rssMiB: m.rss * MiB, heapMiB: m.heapUsed * MiB, externalMiB: m.external * MiB };
}

/**
 * How many staging slots are still busy: take a ring's worth of snapshots at once;
 * a slot left mapped or pending makes one of them refuse.
 */
async function stagingPending(backend: Backend, range: Parameters<Backend['snapshot']>[0]): Promise<number> {
  const taken: Promise<unknown>[] = [];
  let refused = 0;
  for (let i = 0; i < STAGING_RING; i++) {
    try {
      taken.push(backend.snapshot(range));
    } catch {
      refused++;
    }
  }
  await Promise.all(taken);
  return refused;
}

export async function soak(choice: BackendChoice, steps: number, every: number): Promise<SoakResult> {
  const { backend } = await createBackend(choice);
  const train = syntheticDataset({ examples: 4096, features: 64, classes: 10, seed: 3, split: 'train' });
  const test = syntheticDataset({ examples: 512, features: 64, classes: 10, seed: 3, split: 'test' });
  const model = validateModel({ ...PAPER_MODEL, inputs: 64, hidden: [32, 32], classes: 10 });
  const options = {
    batch: 32,
    l1: 1e-4,
    telemetry: true,
    optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum' as const },
    lr: DEFAULT_LR.momentum,
    shuffleSeed: 1,
  };
  const samples: Sample[] = [];
  const t0 = performance.now();
  await trainRun(
    backend,
    model,
    options,
    train,
    test,
    { steps, every, sampleEvery: every },
    {
      onEvery: async (trainer) => {
        await trainer.state({}); // what a checkpoint reads back
        const pending = await stagingPending(backend, trainer.plan.regions.stats);
        samples.push({ step: trainer.step, ...backend.counters, ...(await memory()), stagingPending: pending });
      },
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  const adapter = backend.adapter;
  backend.destroy();

  const first = samples[0];
  const last = samples[samples.length - 1];
  const problems: string[] = [];
  const countersFlat = samples.every((s) => s.buffers === first.buffers && s.pipelines === first.pipelines && s.bindGroups === first.bindGroups);
  if (!countersFlat) problems.push(`GPU objects were created after step ${first.step}: ${JSON.stringify(first)} → ${JSON.stringify(last)}`);
  const pending = samples.filter((s) => s.stagingPending > 0);
  if (pending.length) problems.push(`staging buffers still pending at steps ${pending.map((s) => s.step).join(', ')}`);
  const rssGrowth = last.rssMiB / first.rssMiB - 1;
  const heapGrowth = last.heapMiB / first.heapMiB - 1;
  const rssGrowthSecondHalf = last.rssMiB / samples[Math.floor((samples.length - 1) / 2)].rssMiB - 1;
  if (rssGrowthSecondHalf >= LIMIT) problems.push(`RSS grew ${(100 * rssGrowthSecondHalf).toFixed(1)}% over the second half of the run`);
  if (heapGrowth >= LIMIT) problems.push(`the JS heap grew ${(100 * heapGrowth).toFixed(1)}% after warm-up`);
  return { backend: choice, adapter, steps, seconds, samples, rssGrowth, heapGrowth, rssGrowthSecondHalf, countersFlat, pass: problems.length === 0, problems };
}

export function formatSoak(r: SoakResult): string {
  const rows = r.samples.map(
    (s) =>
      `${String(s.step).padStart(7)}  ${String(s.buffers).padStart(7)} ${String(s.pipelines).padStart(9)} ${String(s.bindGroups).padStart(10)}` +
      `  ${s.rssMiB.toFixed(1).padStart(8)} ${s.heapMiB.toFixed(2).padStart(8)} ${s.externalMiB.toFixed(2).padStart(8)}  ${String(s.stagingPending).padStart(7)}`,
  );
  return [
    `${r.backend} (${r.adapter}): ${r.steps} steps in ${r.seconds.toFixed(1)} s`,
    `   step  buffers pipelines bindGroups   RSS MiB heap MiB  ext MiB  pending`,
    ...rows,
    `after warm-up (step ${r.samples[0].step}): RSS ${(100 * r.rssGrowth).toFixed(2)}% ` +
      `(second half, the RSS criterion: ${(100 * r.rssGrowthSecondHalf).toFixed(2)}%), heap ${(100 * r.heapGrowth).toFixed(2)}%, ` +
      `GPU objects ${r.countersFlat ? 'flat' : 'GROWING'} → ${r.pass ? 'PASS' : `FAIL: ${r.problems.join('; ')}`}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '20000' },
      every: { type: 'string', default: '1000' },
      backend: { type: 'string', default: 'webgpu,cpu' },
      json: { type: 'string' },
    },
  });
  const steps = Number(values.steps);
  const every = Number(values.every);
  if (!Number.isInteger(steps) || !Number.isInteger(every) || every < 1 || steps < 2 * every) {
    throw new Error(`--steps and --every take whole numbers with steps ≥ 2 × every; got ${values.steps} and ${values.every}`);
  }
  if (!(globalThis as { gc?: unknown }).gc) console.error('warning: run node with --expose-gc (npm run soak does) or the heap figures are noisy');
  const results: SoakResult[] = [];
  for (const b of values.backend!.split(',')) {
    const r = await soak(b as BackendChoice, steps, every);
    results.push(r);
    console.log(formatSoak(r) + '\n');
  }
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 1) + '\n');
  process.exit(results.every((r) => r.pass) ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(`soak: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
