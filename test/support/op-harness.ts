// Runs one plan step on the CPU twin and on the GPU over the same inputs and returns what
// each wrote, for the kernel-versus-reference suites.
import { CpuBackend } from '../../src/backend/cpu/cpu-backend.ts';
import type { Backend } from '../../src/backend/backend.ts';
import type { PlanItem } from '../../src/ops/op.ts';
import type { BufRange, StepValues } from '../../src/ops/op.ts';
import { gpuBackend } from './gpu.ts';

export interface Init {
  range: BufRange;
  data: Float32Array | Uint32Array;
}

const defaultValues: StepValues = { lr: 0.01, t: 1, batchStart: 0 };

function arenaSizes(items: PlanItem[], init: Init[]): Record<string, number> {
  const sizes: Record<string, number> = {};
  const see = (r: BufRange) => (sizes[r.arena] = Math.max(sizes[r.arena] ?? 0, r.offset + r.length));
  for (const i of items) {
    if ('clear' in i) see(i.clear);
    else Object.values(i.bindings).forEach(see);
  }
  init.forEach((i) => see(i.range));
  return sizes;
}

async function runOn(b: Backend, items: PlanItem[], init: Init[], outputs: BufRange[], values: StepValues) {
  b.allocate(arenaSizes(items, init));
  for (const { range, data } of init) {
    if (data instanceof Uint32Array) b.writeU(range, data);
    else b.writeF(range, data);
  }
  await b.prepare(items);
  b.run(items, values);
  const out = [];
  for (const r of outputs) out.push({ f: await b.readF(r), u: await b.readU(r) });
  b.destroy();
  return out;
}

/** Run on both backends; returns, per output range, the CPU and GPU contents. */
export async function runBoth(items: PlanItem[], init: Init[], outputs: BufRange[], values = defaultValues) {
  const cpu = await runOn(new CpuBackend(), items, init, outputs, values);
  const gpu = await runOn(await gpuBackend(), items, init, outputs, values);
  return outputs.map((_, i) => ({ cpu: cpu[i], gpu: gpu[i] }));
}

/** Largest |a−b| / max(1, |a|) — relative error, absolute near zero. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

/** Bind regions must start on 256-byte boundaries: 64 floats. */
export function regions(arena: string, lengths: number[]): BufRange[] {
  let off = 0;
  return lengths.map((length) => {
    const r = { arena, offset: off, length };
    off += Math.ceil(Math.max(1, length) / 64) * 64;
    return r;
  });
}
