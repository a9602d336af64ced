// What telemetry every step costs the WebGPU backend (SwiftShader on a machine without a
// GPU): a network on MNIST, SGD, trained with telemetry on (stats read every step) and off
// (the loss read every step, as the bench's `readback` variant it is measured against), interleaved repetitions in one process, medians of
// examples/s by wall clock and by CPU time (SwiftShader's threads are the process's), the
// median of the ratios of back-to-back pairs, and the dispatches per step. BEFORE=<another
// checkout> adds that tree's backend, run the same way beside this one.
//   npx tsx bench/webgpu-telemetry.ts
//   MODEL=tiny BATCH=32 REPS=15 STEPS=5 BEFORE=/tmp/old-checkout npx tsx bench/webgpu-telemetry.ts
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const B = Number(process.env.BATCH ?? 64);
const steps = Number(process.env.STEPS ?? 5);
const reps = Number(process.env.REPS ?? 15);
const hidden: Record<string, number[]> = { paper: [1000, 1000, 1000], tiny: [64, 64] };
const model = process.env.MODEL ?? 'paper';
if (!hidden[model]) throw new Error(`MODEL=${model}: use paper or tiny`);
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const trees: Record<string, string> = { ...(process.env.BEFORE ? { before: resolve(process.env.BEFORE) } : {}), this: here };

const { loadMnist } = await import(`${here}/src/data/idx-files.ts`);
const data = loadMnist('train');
type Run = { run(n: number): AsyncIterable<unknown>; plan: { step: object[] } };
const engines = new Map<string, Run>();
const dispatches = new Map<string, number>();
for (const [tree, root] of Object.entries(trees)) {
  const { acquireGpu, setGpuProvider } = await import(`${root}/src/backend/webgpu/device.ts`);
  const { nodeGpuProvider } = await import(`${root}/src/backend/webgpu/node-gpu.ts`);
  setGpuProvider(nodeGpuProvider);
  const { WebGpuBackend } = await import(`${root}/src/backend/webgpu/webgpu-backend.ts`);
  const { Trainer } = await import(`${root}/src/train/trainer.ts`);
  const { PAPER_MODEL } = await import(`${root}/src/model/spec.ts`);
  const { DEFAULT_OPTIMIZER } = await import(`${root}/src/ops/optimizer.ts`);
  const ctx = await acquireGpu();
  for (const telemetry of [true, false]) {
    const opts = { batch: B, l1: 0, telemetry, optimizer: { ...DEFAULT_OPTIMIZER, kind: 'sgd' }, lr: 0.01, shuffleSeed: 1, readEvery: 1 };
    const t: Run = await Trainer.create(new WebGpuBackend(ctx), { ...PAPER_MODEL, hidden: hidden[model] }, opts, data);
    for await (const s of t.run(3)) void s; // warm up
    const key = `${tree} ${telemetry ? 'on' : 'off'}`;
    engines.set(key, t);
    dispatches.set(key, t.plan.step.filter((s) => !('clear' in s)).length);
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
    wall.set(k, [...(wall.get(k) ?? []), (steps * B * 1000) / ms]);
    cpu.set(k, [...(cpu.get(k) ?? []), (steps * B * 1e6) / (c.user + c.system)]);
  }
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`${model} network, batch ${B}, SGD, WebGPU; ${reps} interleaved repetitions of ${steps} steps`);
for (const tree of Object.keys(trees)) {
  const [on, off] = [`${tree} on`, `${tree} off`];
  const pairs = (m: Map<string, number[]>) => median(m.get(on)!.map((x, i) => x / m.get(off)![i]));
  console.log(
    `${tree}: dispatches/step on ${dispatches.get(on)}, off ${dispatches.get(off)}; telemetry on ${Math.round(median(wall.get(on)!))}, off ${Math.round(median(wall.get(off)!))} examples/s; ` +
      `on/off ${(median(wall.get(on)!) / median(wall.get(off)!)).toFixed(3)} (wall), ${(median(cpu.get(on)!) / median(cpu.get(off)!)).toFixed(3)} (CPU time); ` +
      `paired ${pairs(wall).toFixed(3)} (wall), ${pairs(cpu).toFixed(3)} (CPU time)`,
  );
}
process.exit(0);
