// The planner: model + training config → the list of ops of one training step, over
// named arenas. Both backends run this list as it is.
//
// Arenas (one GPU buffer each). A dispatch may not read an arena it also writes, so
// each layer's activations and deltas get arenas of their own:
//   images, labels, order   the training set (u8 packed 4 per u32) and the epoch's permutation
//   x, y                    the gathered batch (floats) and its labels
//   z{l}, a{l}              pre- and post-activation output of dense layer l
//   d{l}                    ∂L/∂(output of layer l): dA, turned into dZ in place
//   params, grads, opt      flat parameter, gradient and optimiser-moment buffers
//   stats, flags, segs      telemetry words, per-unit "was active" flags, sumsq segment tables
import type { PlanItem } from '../backend/backend.ts';
import { activationId } from '../ops/activations.ts';
import { activationBackward } from '../ops/activation-backward.ts';
import { gather } from '../ops/gather.ts';
import type { BufRange, PlanStep } from '../ops/op.ts';
import { optimizerStep, type OptimizerConfig } from '../ops/optimizer.ts';
import { softmaxXent } from '../ops/softmax-xent.ts';
import { segmentTable, type Segment } from '../ops/sumsq.ts';
import { reductionScratch, reductionSteps } from '../ops/reductions-tiled.ts';
import { align, biasRange, paramLayout, weightRange, type ParamLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../backend/tuning.ts';
import { statsLayout, type StatsLayout } from './stats-layout.ts';
import { matmulScratch, matmulSteps } from './matmul-choice.ts';

export interface TrainConfig {
  batch: number;
  optimizer: OptimizerConfig;
  /** L1 activation penalty λ: adds λ·mean over the batch of Σ|a| over hidden units. */
  l1: number;
  /** Compute the per-layer telemetry each step (off for benchmarking). */
  telemetry: boolean;
}

export interface DataShape {
  examples: number;
  features: number;
  scale: number;
  shift: number;
}

export interface TrainPlan {
  model: ModelSpec;
  config: TrainConfig;
  layout: ParamLayout;
  stats: StatsLayout;
  arenas: Record<string, number>;
  /** One training step. */
  step: PlanItem[];
  /** Zeroes the dead-unit window flags. */
  resetWindow: PlanItem[];
  /** Initial contents of the segment tables (written once). */
  segTables: { range: BufRange; data: Uint32Array }[];
  regions: {
    params: BufRange;
    grads: BufRange;
    opt: BufRange;
    stats: BufRange;
    flags: BufRange;
    images: BufRange;
    labels: BufRange;
    order: BufRange;
  };
  /** The activations, deltas and batch of the step, for tests and inspection. */
  tensors: { x: BufRange; y: BufRange; z: BufRange[]; a: BufRange[]; d: BufRange[] };
}

const whole = (arena: string, length: number): BufRange => ({ arena, offset: 0, length });

export function planTraining(model: ModelSpec, config: TrainConfig, data: DataShape, tuning: KernelTuning = SOFTWARE_TUNING): TrainPlan {
  const B = config.batch;
  const layout = paramLayout(model);
  const L = layout.layers.length;
  const H = L - 1;
  const stats = statsLayout(H, L);
  const act = activationId(model.activation);
  const kind = config.optimizer.kind;

  const arenas: Record<string, number> = {};
  const arena = (name: string, length: number): BufRange => {
    arenas[name] = Math.max(1, length);
    return whole(name, length);
  };

  const { images, labels, order, x, y, z, a, flags, flagRanges } = batchArenas(arena, layout, B, data);
  const d = layout.layers.map((l) => arena(`d${l.index}`, B * l.outputs));
  const params = arena('params', layout.size);
  const grads = arena('grads', layout.size);
  // Moments share the parameters' layout. SGD keeps none and momentum no second moment:
  // a token region is still bound for each (writable bindings must not overlap).
  const mLen = kind === 'sgd' ? 64 : layout.size;
  const vLen = kind === 'adam' ? layout.size : 64;
  const opt = arena('opt', mLen + vLen);
  const mRange: BufRange = { arena: 'opt', offset: 0, length: mLen };
  const vRange: BufRange = { arena: 'opt', offset: mLen, length: vLen };
  const statsRange = arena('stats', stats.size);

  // Segment tables for the sums of squares: all gradients in one dispatch, then one per delta.
  const segTables: TrainPlan['segTables'] = [];
  let segsLen = 0;
  const table = (segments: Segment[]): BufRange => {
    const data = segmentTable(segments);
    const range = { arena: 'segs', offset: segsLen, length: data.length };
    segsLen = align(segsLen + data.length);
    segTables.push({ range, data });
    return range;
  };
  const gradSegs = table(
    layout.layers.flatMap((l) => [
      { offset: l.weight, length: l.inputs * l.outputs, slot: stats.grad[l.index].weight },
      { offset: l.bias, length: l.outputs, slot: stats.grad[l.index].bias },
    ]),
  );
  const deltaSegs = layout.layers.map((l) => table([{ offset: 0, length: B * l.outputs, slot: stats.delta[l.index] }]));
  arena('segs', segsLen);
  // Partials of the two-pass reductions (tuning.twoPassReductions): one region, reused by each in turn.
  const twoPass = tuning.twoPassReductions === true;
  const maxWeights = Math.max(...layout.layers.map((l) => l.inputs * l.outputs));
  const sums: [number, number][] = [[2 * L, maxWeights], ...layout.layers.map((l): [number, number] => [1, B * l.outputs])];
  const reduce = reductionSteps(
    twoPass,
    twoPass ? arena('reduce', reductionScratch(sums, layout.layers.map((l) => [B, l.outputs]))) : whole('reduce', 1),
  );

  // Scratch for split-K matmuls, when tuning.matmulChoice picks any (one region, used in turn).
  const mmScratchLength = matmulScratch(
    tuning,
    layout.layers.flatMap((l) => [
      { M: B, N: l.outputs, K: l.inputs, transA: false, transB: true },
      { M: l.outputs, N: l.inputs, K: B, transA: true, transB: false },
      { M: B, N: l.inputs, K: l.outputs, transA: false, transB: false },
    ]),
  );
  const mmScratch = mmScratchLength > 0 ? arena('matmul scratch', mmScratchLength) : undefined;
  const mm = matmulSteps(tuning, mmScratch);

  const step: PlanItem[] = [{ clear: statsRange }];
  step.push(
    gather('gather', B, data.features, data.examples, data.scale, data.shift, { images, labels, order, x, y }),
  );

  step.push(...forwardPass(model, layout, B, x, z, a, '', tuning, mmScratch));
  step.push(
    softmaxXent('softmax cross-entropy', B, model.classes, { loss: stats.loss, correct: stats.correct }, {
      logits: a[L - 1],
      labels: y,
      dlogits: d[L - 1],
      stats: statsRange,
    }),
  );

  // Backward, last layer first: d[l] holds ∂L/∂z_l on entry.
  for (let i = L - 1; i >= 0; i--) {
    const l = layout.layers[i];
    const input = i === 0 ? x : a[i - 1];
    step.push(
      ...mm.plain(`dW ${i}`, { M: l.outputs, N: l.inputs, K: B, transA: true, transB: false }, {
        a: d[i],
        b: input,
        c: weightRange('grads', l),
      }),
    );
    step.push(...reduce.biasGrad(`db ${i}`, B, l.outputs, d[i], biasRange('grads', l)));
    if (i > 0) {
      step.push(
        ...mm.plain(`dX ${i}`, { M: B, N: l.inputs, K: l.outputs, transA: false, transB: false }, {
          a: d[i],
          b: weightRange('params', l),
          c: d[i - 1],
        }),
      );
      step.push(
        activationBackward(`act backward ${i - 1}`, B * l.inputs, act, model.alpha, config.l1 / B, {
          z: z[i - 1],
          a: a[i - 1],
          d: d[i - 1],
        }),
      );
    }
  }

  // Telemetry reductions. Gradient norms are also what clipping needs.
  const clipping = config.optimizer.clipNorm > 0;
  if (config.telemetry) {
    for (let h = 0; h < H; h++) {
      step.push(...reduce.layerStats(`stats ${h}`, B, layout.layers[h].outputs, stats.hidden[h], { a: a[h], active: flagRanges[h], stats: statsRange }));
    }
  }
  if (config.telemetry || clipping) {
    step.push(...reduce.sumsq('grad norms', 2 * L, { x: grads, segs: gradSegs, stats: statsRange }, maxWeights));
  }
  if (config.telemetry) {
    for (const l of layout.layers) {
      step.push(...reduce.sumsq(`delta norm ${l.index}`, 1, { x: d[l.index], segs: deltaSegs[l.index], stats: statsRange }, B * l.outputs));
    }
  }

  step.push(
    optimizerStep('update', layout.size, config.optimizer, { slot0: stats.grad[0].weight, count: 2 * L }, {
      params,
      grads,
      m: mRange,
      v: vRange,
      stats: statsRange,
    }),
  );

  return {
    model,
    config,
    layout,
    stats,
    arenas,
    step,
    resetWindow: [{ clear: flags }],
    segTables,
    regions: { params, grads, opt, stats: statsRange, flags, images, labels, order },
    tensors: { x, y, z, a, d },
  };
}

/**
 * The arenas the training and evaluation plans share: the dataset on the device (u8
 * pixels packed 4 per u32, labels, permutation), one batch, each layer's z and a, and the
 * dead-unit window flags (one u32 per hidden unit, each layer's run aligned).
 */
export function batchArenas(arena: (name: string, length: number) => BufRange, layout: ParamLayout, B: number, data: DataShape) {
  const images = arena('images', Math.ceil((data.examples * data.features) / 4));
  const labels = arena('labels', data.examples);
  const order = arena('order', data.examples);
  const x = arena('x', B * data.features);
  const y = arena('y', B);
  const z = layout.layers.map((l) => arena(`z${l.index}`, B * l.outputs));
  const a = layout.layers.map((l) => arena(`a${l.index}`, B * l.outputs));
  const hidden = layout.layers.slice(0, -1);
  let flagsLen = 0;
  const offsets = hidden.map((l) => {
    const at = flagsLen;
    flagsLen = align(flagsLen + l.outputs);
    return at;
  });
  const flags = arena('flags', flagsLen);
  const flagRanges: BufRange[] = hidden.map((l, h) => ({ arena: flags.arena, offset: offsets[h], length: l.outputs }));
  return { images, labels, order, x, y, z, a, flags, flagRanges };
}

/**
 * z = input·Wᵀ + b, a = f(z) for every layer; the output layer is linear into the softmax.
 * `scratch` serves split-K kernels chosen by tuning.matmulChoice (without it they run in one pass).
 */
export function forwardPass(
  model: ModelSpec,
  layout: ParamLayout,
  rows: number,
  x: BufRange,
  z: BufRange[],
  a: BufRange[],
  prefix = '',
  tuning: KernelTuning = SOFTWARE_TUNING,
  scratch?: BufRange,
): PlanStep[] {
  const L = layout.layers.length;
  const mm = matmulSteps(tuning, scratch);
  return layout.layers.flatMap((l) =>
    mm.biasAct(
      `${prefix}forward ${l.index}`,
      { M: rows, N: l.outputs, K: l.inputs, transA: false, transB: true },
      activationId(l.index === L - 1 ? 'linear' : model.activation),
      model.alpha,
      { a: l.index === 0 ? x : a[l.index - 1], b: weightRange('params', l), bias: biasRange('params', l), z: z[l.index], out: a[l.index] },
    ),
  );
}

/** FLOPs of one training example (multiply-add = 2): forward, dX (not for layer 0), dW. */
export function flopsPerExample(layout: ParamLayout): { forward: number; backward: number } {
  let forward = 0;
  let backward = 0;
  for (const l of layout.layers) {
    const mac = l.inputs * l.outputs;
    forward += 2 * mac;
    backward += 2 * mac * (l.index === 0 ? 1 : 2);
  }
  return { forward, backward };
}

export type { PlanStep };
