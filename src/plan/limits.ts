// What one adapter allows, checked against a plan when the plan is built: every binding of
// every step, every buffer, storage buffers per dispatch and workgroups per dimension. A
// network that cannot fit is refused here, before anything is allocated, in model terms:
// which layer, how many bytes, the limit, and what to change.
import { isClear, type BufRange, type PlanItem } from '../ops/op.ts';
import type { ParamLayout } from '../model/layout.ts';

export interface PlanLimits {
  /** Largest storage-buffer binding, bytes (the adapter's, or lower: RECTIGRAD_MAX_BINDING_BYTES). */
  bindingBytes: number;
  /** Largest buffer, bytes. */
  bufferBytes: number;
  storageBuffersPerStage: number;
  workgroupsPerDimension: number;
  /** Where bindingBytes and bufferBytes come from, for messages. */
  source: string;
  bufferSource?: string;
}

/** No limits (the CPU backend): every layer stays in one piece. */
export const UNLIMITED: PlanLimits = {
  bindingBytes: Infinity,
  bufferBytes: Infinity,
  storageBuffersPerStage: Infinity,
  workgroupsPerDimension: Infinity,
  source: 'no limit',
};

/** What a plan costs in device memory (what `train --json` reports as `memory`). */
export interface PlanMemory {
  /** Buffers for the plan's arenas (a chunked arena counts one per chunk). */
  buffers: number;
  totalBytes: number;
  largestBindingBytes: number;
}

export class PlanLimitError extends Error {}

export const mib = (bytes: number) =>
  bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * The limits of a device, lowered by `override` (RECTIGRAD_MAX_BINDING_BYTES: bytes, or
 * with a K/M/G suffix) where given: bindings and buffers then get at most that.
 */
export function limitsOf(
  device: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxStorageBuffersPerShaderStage' | 'maxComputeWorkgroupsPerDimension'>,
  override?: string,
): PlanLimits {
  const adapter = device.maxStorageBufferBindingSize;
  let bindingBytes = adapter;
  let bufferBytes = device.maxBufferSize;
  let source = `the adapter's maxStorageBufferBindingSize`;
  let bufferSource = `the adapter's maxBufferSize`;
  if (override !== undefined && override !== '') {
    const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(override.trim());
    if (!m) throw new Error(`RECTIGRAD_MAX_BINDING_BYTES="${override}" is not a size: give bytes, e.g. 1048576 or 1M`);
    const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2] ?? '').charAt(0).toLowerCase() as '' | 'k' | 'm' | 'g'];
    const v = Number(m[1]) * unit;
    if (v < 4096) throw new Error(`RECTIGRAD_MAX_BINDING_BYTES=${override} is below 4 KiB: nothing useful fits`);
    if (v < adapter) {
      bindingBytes = v;
      source = `RECTIGRAD_MAX_BINDING_BYTES; the adapter allows ${mib(adapter)}`;
      if (v < bufferBytes) {
        bufferBytes = v;
        bufferSource = source;
      }
    }
  }
  return {
    bindingBytes,
    bufferBytes,
    storageBuffersPerStage: device.maxStorageBuffersPerShaderStage,
    workgroupsPerDimension: device.maxComputeWorkgroupsPerDimension,
    source,
    bufferSource,
  };
}

/** What a region holds, in model terms, and what would make it smaller. */
export interface RegionMeaning {
  what: string;
  /** How to make it fit, given the byte budget. */
  fix(budget: number): string;
}

/** Context to name a training or evaluation plan's regions in model terms. */
export interface PlanContext {
  layout: ParamLayout;
  batch: number;
  features: number;
  examples: number;
  /** Arena name prefix of the plan (the evaluation plan's 'eval.'). */
  prefix?: string;
  /** Length of the first-moment region at the start of 'opt' (v follows it). */
  mLength?: number;
}

const layerName = (l: { index: number; inputs: number; outputs: number }) => `dense layer ${l.index} (${l.inputs} → ${l.outputs})`;

export function regionMeaning(ctx: PlanContext, r: BufRange): RegionMeaning {
  const name = ctx.prefix && r.arena.startsWith(ctx.prefix) ? r.arena.slice(ctx.prefix.length) : r.arena;
  const B = ctx.batch;
  const layers = ctx.layout.layers;
  const batchFix = (perRow: number) => (budget: number) => `lower the batch to at most ${Math.max(1, Math.floor(budget / (4 * perRow)))} (it is ${B})`;
  const act = /^(z|a|d)(\d+)$/.exec(name);
  if (act) {
    const l = layers[Number(act[2])];
    const kind = { z: 'pre-activations', a: 'outputs', d: 'error signal' }[act[1] as 'z' | 'a' | 'd'];
    return { what: `the ${kind} of ${layerName(l)} for a batch of ${B}`, fix: batchFix(l.outputs) };
  }
  if (name === 'x') return { what: `the batch of ${B} inputs of ${ctx.features} values`, fix: batchFix(ctx.features) };
  if (name.startsWith('split.')) {
    const widest = Math.max(...layers.map((l) => l.inputs));
    return { what: `the scratch of the layers split over several dispatches (batch ${B})`, fix: batchFix(widest) };
  }
  if (name === 'images') {
    return {
      what: `the training set on the device (${ctx.examples} examples × ${ctx.features} bytes)`,
      fix: (budget) => `use at most ${Math.floor(budget / ctx.features)} examples (--train-limit), or the CPU backend`,
    };
  }
  if (name === 'labels' || name === 'order') {
    return {
      what: `the ${name} of the training set (${ctx.examples} examples)`,
      fix: (budget) => `use at most ${Math.floor(budget / 4)} examples (--train-limit)`,
    };
  }
  if (name === 'params' || name === 'grads' || name === 'opt') {
    let offset = r.offset;
    let kind = name === 'params' ? '' : name === 'grads' ? ' gradient' : ' first moment';
    if (name === 'opt' && ctx.mLength !== undefined && offset >= ctx.mLength) {
      offset -= ctx.mLength;
      kind = ' second moment';
    }
    const l = layers.find((l, i) => offset >= l.weight && (i + 1 === layers.length || offset < layers[i + 1].weight));
    if (l) {
      const bias = offset >= l.bias;
      if (bias) {
        return {
          what: `the bias${kind} of ${layerName(l)}`,
          fix: (budget) => `give that layer at most ${Math.floor(budget / 4)} units`,
        };
      }
      return {
        what: `the weight${kind}s of ${layerName(l)} (${l.outputs} × ${l.inputs})`,
        // Weights are split by output rows, 64 rows at the least: those must fit one binding.
        fix: (budget) =>
          `its ${l.inputs} inputs are too many for even 64 rows of weights in one binding: ` +
          (l.index === 0
            ? `use inputs of at most ${Math.floor(budget / (4 * 64))} values`
            : `give dense layer ${l.index - 1} at most ${Math.floor(budget / (4 * 64))} units`),
      };
    }
  }
  return { what: `the ${r.arena} buffer`, fix: () => 'use smaller layers or batch, or the CPU backend' };
}

/**
 * Refuses a plan that an adapter with these limits cannot run: a binding larger than
 * bindingBytes, a buffer (an arena, or each chunk of a chunked arena) larger than
 * bufferBytes, too many storage buffers in one dispatch, or too many workgroups.
 */
export function checkLimits(items: PlanItem[], arenas: Record<string, number>, chunks: Record<string, number[]>, limits: PlanLimits, ctx: PlanContext): void {
  const fail = (r: BufRange, bytes: number, where: string, budget: number, kind: string) => {
    const m = regionMeaning(ctx, r);
    throw new PlanLimitError(
      `this network does not fit the adapter: ${m.what} would need ${mib(bytes)} in one ${kind}${where}, but a ${kind} may hold at most ` +
        `${mib(budget)} (${kind === 'binding' ? limits.source : (limits.bufferSource ?? limits.source)}): ${m.fix(budget)}`,
    );
  };
  for (const item of items) {
    if (isClear(item)) continue;
    const n = Object.keys(item.bindings).length;
    if (n > limits.storageBuffersPerStage) {
      throw new PlanLimitError(
        `'${item.label}' binds ${n} storage buffers but this adapter allows ${limits.storageBuffersPerStage} per shader stage: use the CPU backend`,
      );
    }
    for (const r of Object.values(item.bindings)) {
      const bytes = r.length * 4;
      if (bytes > limits.bindingBytes) fail(r, bytes, ` (step '${item.label}')`, limits.bindingBytes, 'binding');
    }
    item.dispatch.forEach((w, d) => {
      if (w > limits.workgroupsPerDimension) {
        throw new PlanLimitError(
          `'${item.label}' needs ${w} workgroups along ${'xyz'[d]} but this adapter allows ${limits.workgroupsPerDimension}: use fewer units in that layer or a smaller batch`,
        );
      }
    });
  }
  // Then the buffers (arenas bound only in parts, such as a split layer's parameters).
  for (const [arena, length] of Object.entries(arenas)) {
    const starts = chunks[arena] ?? [0];
    for (let i = 0; i < starts.length; i++) {
      const end = i + 1 < starts.length ? starts[i + 1] : length;
      const bytes = (end - starts[i]) * 4;
      if (bytes > limits.bufferBytes) fail({ arena, offset: starts[i], length: end - starts[i] }, bytes, '', limits.bufferBytes, 'buffer');
    }
  }
}

/** Buffers, bytes and the largest binding of a plan's arenas and steps. */
export function planMemory(items: PlanItem[], arenas: Record<string, number>, chunks: Record<string, number[]>): PlanMemory {
  let buffers = 0;
  let totalBytes = 0;
  for (const [arena, length] of Object.entries(arenas)) {
    const starts = chunks[arena] ?? [0];
    starts.forEach((s, i) => {
      const end = i + 1 < starts.length ? starts[i + 1] : length;
      buffers++;
      totalBytes += Math.max(16, Math.ceil(((end - s) * 4) / 16) * 16);
    });
  }
  let largestBindingBytes = 0;
  for (const item of items) {
    if (isClear(item)) continue;
    for (const r of Object.values(item.bindings)) largestBindingBytes = Math.max(largestBindingBytes, r.length * 4);
  }
  return { buffers, totalBytes, largestBindingBytes };
}
