// What telemetry every step costs the CPU backend. Three trainers of one network run side
// by side, repetitions interleaved in one process: telemetry on (stats read every step),
// the loss read every step, and the loss read at the end (telemetry off). Medians of
// examples/s by wall clock and by CPU time (the process's, helpers included), and the
// median of the ratios of back-to-back pairs, on ÷ each of the others. Then the step's
// items timed one by one (CpuBackend.setTiming) with telemetry on and with the loss read
// every step: the extra work telemetry does, item by item, which on a shared machine is
// steadier than the ratios of whole steps.
//   WORKLOAD=paper: the paper network from its seeded initialisation, SGD (the default);
//   WORKLOAD=sparse: the sparse workload's step from an L1-trained checkpoint (CHECKPOINT,
//     by default docs/glorot2011/rectifier.safetensors), momentum 0.9, L1 1e-3.
// Two trainers of each (INSTANCES): one instance of a backend can run the same items a few
// percent faster or slower than another (where its arenas fall), which would read as a
// cost or a gain. BEFORE=<another checkout> adds that tree's trainers, run the same way.
//   npx tsx bench/cpu-telemetry.ts
//   WORKLOAD=sparse BATCH=64 REPS=40 STEPS=10 BEFORE=/tmp/old-checkout npx tsx bench/cpu-telemetry.ts
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const workload = process.env.WORKLOAD ?? 'paper';
if (workload !== 'paper' && workload !== 'sparse') throw new Error(`WORKLOAD=${workload}: use paper or sparse`);
const B = Number(process.env.BATCH ?? 64);
const steps = Number(process.env.STEPS ?? (workload === 'sparse' ? 10 : 5));
const reps = Number(process.env.REPS ?? 25);
const profileReps = Number(process.env.PROFILE_REPS ?? 20);
const instances = Number(process.env.INSTANCES ?? 2);
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const checkpoint = resolve(here, process.env.CHECKPOINT ?? 'docs/glorot2011/rectifier.safetensors');
const trees: Record<string, string> = { ...(process.env.BEFORE ? { before: resolve(process.env.BEFORE) } : {}), this: here };
const VARIANTS = ['on', 'every', 'end'] as const;
type Variant = (typeof VARIANTS)[number];
const described: Record<Variant, string> = { on: 'telemetry on', every: 'loss every step', end: 'loss at the end' };

const { loadMnist } = await import(`${here}/src/data/idx-files.ts`);
const data = loadMnist('train');
type Run = {
  run(n: number): AsyncIterable<unknown>;
  setParams(p: Float32Array): void;
  backend: { setTiming(on: boolean): void; timings: Map<string, number> | undefined };
};
const engines = new Map<string, Run>();
for (const [tree, root] of Object.entries(trees)) {
  const { CpuBackend } = await import(`${root}/src/backend/cpu/cpu-backend.ts`);
  const { Trainer } = await import(`${root}/src/train/trainer.ts`);
  const { PAPER_MODEL } = await import(`${root}/src/model/spec.ts`);
  const { DEFAULT_OPTIMIZER } = await import(`${root}/src/ops/optimizer.ts`);
  const { loadCheckpoint } = await import(`${root}/src/io/checkpoint-file.ts`);
  const ck = workload === 'sparse' ? loadCheckpoint(checkpoint) : undefined;
  for (let k = 0; k < instances; k++)
    for (const v of VARIANTS) {
      const readEvery = v === 'end' ? 1_000_000 : 1;
      const opts = ck
        ? {
            batch: B,
            l1: 1e-3,
            telemetry: v === 'on',
            optimizer: { ...DEFAULT_OPTIMIZER, kind: 'momentum', momentum: 0.9 },
            lr: 0.03,
            shuffleSeed: 1,
            readEvery,
          }
        : { batch: B, l1: 0, telemetry: v === 'on', optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' }, lr: 0.01, shuffleSeed: 1, readEvery };
      const t: Run = await Trainer.create(new CpuBackend(), ck ? ck.model : PAPER_MODEL, opts, data);
      if (ck) t.setParams(ck.params);
      // Past the sparse path's first probes (its chooser's exploring steps).
      for await (const s of t.run(12)) void s;
      engines.set(`${tree} ${v} ${k}`, t);
    }
}

const wall = new Map<string, number[]>();
const cpu = new Map<string, number[]>();
const names = [...engines.keys()];
for (let r = 0; r < reps; r++) {
  for (const k of r % 2 ? [...names].reverse() : names) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for await (const s of engines.get(k)!.run(steps)) void s;
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    // By tree and variant, the instances' repetitions in turn.
    const key = k.replace(/ \d+$/, '');
    wall.set(key, [...(wall.get(key) ?? []), (steps * B * 1000) / ms]);
    cpu.set(key, [...(cpu.get(key) ?? []), (steps * B * 1e6) / (c.user + c.system)]);
  }
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const what = workload === 'sparse' ? `sparse workload (${checkpoint}, momentum, L1 1e-3)` : 'paper network (seeded initialisation, SGD)';
console.log(`${what}, batch ${B}; ${reps} interleaved repetitions of ${steps} steps, ${instances} trainer${instances > 1 ? 's' : ''} of each`);
for (const tree of Object.keys(trees)) {
  const m = (v: Variant, map: Map<string, number[]>) => map.get(`${tree} ${v}`)!;
  console.log(`${tree}: examples/s (wall) ${VARIANTS.map((v) => `${described[v]} ${Math.round(median(m(v, wall)))}`).join(', ')}`);
  for (const other of ['every', 'end'] as const) {
    const pairs = (map: Map<string, number[]>) => median(m('on', map).map((x, i) => x / m(other, map)[i]));
    const ratio = (map: Map<string, number[]>) => median(m('on', map)) / median(m(other, map));
    console.log(
      `  telemetry on ÷ ${described[other]}: medians ${ratio(wall).toFixed(3)} (wall), ${ratio(cpu).toFixed(3)} (CPU time); ` +
        `pairs ${pairs(wall).toFixed(3)} (wall), ${pairs(cpu).toFixed(3)} (CPU time)`,
    );
  }
}

// Item by item, this tree: telemetry on against the loss read every step, interleaved.
const of = (v: Variant) => [...engines].filter(([k]) => k.startsWith(`this ${v} `)).map(([, t]) => t);
const [on, every] = [of('on'), of('every')];
for (const t of [...on, ...every]) t.backend.setTiming(true);
const order = on.flatMap((t, k) => [t, every[k]]);
for (let r = 0; r < profileReps; r++) for (const t of r % 2 ? [...order].reverse() : order) for await (const s of t.run(steps)) void s;
const summed = (ts: Run[]) => {
  const m = new Map<string, number>();
  for (const t of ts) for (const [l, ms] of t.backend.timings!) m.set(l, (m.get(l) ?? 0) + ms);
  return m;
};
const [tOn, tEvery] = [summed(on), summed(every)];
const n = profileReps * steps * instances;
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0) / n;
console.log(
  `this tree, items timed one by one over ${n} steps of each variant: ${total(tOn).toFixed(3)} ms a step with telemetry on, ${total(tEvery).toFixed(3)} with the loss every step`,
);
const rows = [...new Set([...tOn.keys(), ...tEvery.keys()])].map((l) => ({ l, on: (tOn.get(l) ?? 0) / n, every: (tEvery.get(l) ?? 0) / n }));
const telemetryOnly = rows.filter((r) => r.every === 0 && r.on > 0);
console.log(`  items only telemetry runs: ${telemetryOnly.map((r) => `${r.l} ${r.on.toFixed(3)}`).join(', ')} ms`);
const moved = rows.filter((r) => r.every > 0 && Math.abs(r.on - r.every) >= 0.005).sort((a, b) => b.on - b.every - (a.on - a.every));
console.log(`  items that differ by 5 µs or more (on − every, ms): ${moved.map((r) => `${r.l} ${(r.on - r.every).toFixed(3)}`).join(', ')}`);

const { stopHelpers } = await import(`${here}/src/backend/cpu/wasm/runtime.ts`);
stopHelpers();
