// The planner: model + training config → the list of ops of one training step, over
// named arenas. Both backends run this list as it is.
//
// Arenas (one GPU buffer each). A dispatch may not read an arena it also writes, so
// each layer's activations and deltas get arenas of their own:
//   images, labels, order   the training set (u8 packed 4 per u32) and the epoch's permutation
//   x, y                    the gathered batch (floats) and its labels
//   z{l}, a{l}              pre- and post-activation output of dense layer l
//   d{l}                    ∂L/∂(output of layer l): dA, turned into dZ in place
//   params, grads, opt      flat parameter, gradient and optimiser-moment arenas, each cut
//                           into several buffers where one binding cannot hold it (chunks)
//   split.*                 scratch of layers split over several dispatches (src/plan/split.ts)
//   stats, flags, segs      telemetry words, per-unit "was active" flags, sumsq segment tables
//   zero counts, norm parts the telemetry folded into other passes (tuning.fusedTelemetry)
//   l1mask                  per-unit L1 factors (config.l1Mask only; the host writes 1s first)
//   x dropped, a{l} dropped the next layer's input under dropout (config.dropout only)
import { activationId } from '../ops/activations.ts';
import { activationBackward, activationBackwardMasked, activationBackwardStats, backwardStatsScratch } from '../ops/activation-backward.ts';
import { checkDropRate, dropoutBackwardStep, dropoutStep } from '../ops/dropout.ts';
import { gather } from '../ops/gather.ts';
import type { MatmulShape } from '../ops/matmul.ts';
import type { BufRange, PlanItem, PlanStep } from '../ops/op.ts';
import type { OptimizerConfig } from '../ops/optimizer.ts';
import { softmaxXent } from '../ops/softmax-xent.ts';
import { segmentTable, type Segment } from '../ops/sumsq.ts';
import { layerStatsFinishLayers, layerStatsTable, reductionScratch, reductionSteps, sumSegments, type LayerStatsEntry } from '../ops/reductions-tiled.ts';
import { align, biasRange, paramLayout, weightRange, type DenseLayer, type ParamLayout } from '../model/layout.ts';
import type { ModelSpec } from '../model/spec.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../ops/tuning.ts';
import { statsLayout, type StatsLayout } from './stats-layout.ts';
import { checkLimits, planMemory, UNLIMITED, type PlanLimits, type PlanMemory } from './limits.ts';
import { matmulScratch, matmulSteps, sumsqEpilogueScratch } from './matmul-choice.ts';
import { arenaChunks, backwardSplit, forwardSplit, gradNormsSplit, isSplit, maxNormSplit, optimizerSplit, splitScratch, type SplitScratch } from './split.ts';

export interface TrainConfig {
  batch: number;
  optimizer: OptimizerConfig;
  /** L1 activation penalty λ: adds λ·mean over the batch of Σ|a| over hidden units. */
  l1: number;
  /** Compute the per-layer telemetry each step (off for benchmarking). */
  telemetry: boolean;
  /**
   * Scale each hidden unit's L1 penalty by a factor in the `l1Mask` arena (1 at first), so
   * that some units can be spared it for a while (revived units' grace period). Only
   * with l1 > 0; off by default (the plain kernel, no extra binding).
   */
  l1Mask?: boolean;
  /**
   * After each update, rescale every unit's incoming weights (a row of its layer's weight)
   * whose L2 norm exceeds this to this norm; biases untouched. 0 or absent: off.
   */
  maxNorm?: number;
  /** Inverted dropout while training (evaluation never drops); absent: off. */
  dropout?: DropoutConfig;
}

export interface DropoutConfig {
  /** Drop probability of each hidden layer's output, as the next layer reads it; 0 = off. */
  hidden: number;
  /** Drop probability of the network's input; 0 or absent = off. */
  input?: number;
  /** Seed of the masks (default: the model's seed). Each mask also depends on the step and the layer. */
  seed?: number;
}

/** The dropout settings checked, with the defaults filled in; rates of 0 mean off. */
export function dropoutSettings(d: DropoutConfig | undefined, modelSeed: number): { hidden: number; input: number; seed: number } {
  if (d === undefined) return { hidden: 0, input: 0, seed: modelSeed };
  const hidden = checkDropRate(d.hidden, 'dropout.hidden');
  const input = checkDropRate(d.input ?? 0, 'dropout.input');
  const seed = d.seed ?? modelSeed;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`dropout.seed must be a whole number ≥ 0, got ${seed}`);
  return { hidden, input, seed };
}

export interface DataShape {
  examples: number;
  features: number;
  scale: number;
  shift: number;
  /** How the examples are held on the device: u8 pixels (default) or float inputs. */
  format?: 'u8' | 'f32';
}

export interface TrainPlan {
  model: ModelSpec;
  config: TrainConfig;
  layout: ParamLayout;
  stats: StatsLayout;
  arenas: Record<string, number>;
  /** Arenas cut into several buffers: the start offset (elements) of each; the others are one buffer. */
  chunks: Record<string, number[]>;
  /** Buffers, bytes and the largest binding this plan needs on the device. */
  memory: PlanMemory;
  /** One training step. */
  step: PlanItem[];
  /** Zeroes the dead-unit window flags. */
  resetWindow: PlanItem[];
  /** Initial contents of the segment tables (written once). */
  segTables: { range: BufRange; data: Uint32Array }[];
  /** Every region a caller reads or writes: no one else builds ranges into these arenas. */
  regions: TrainRegions;
  /** The activations, deltas and batch of the step, and what each layer multiplies (x or a{l−1}, or its dropped copy), for tests and inspection. */
  tensors: { x: BufRange; y: BufRange; z: BufRange[]; a: BufRange[]; d: BufRange[]; inputs: BufRange[] };
}

/** One dense layer's weight ([outputs × inputs], row-major) and bias in some flat buffer. */
export interface LayerRegions {
  weight: BufRange;
  bias: BufRange;
}

export interface TrainRegions {
  params: BufRange;
  grads: BufRange;
  /** The whole optimiser arena (both moments and, for the optimisers that keep fewer, token regions). */
  opt: BufRange;
  stats: BufRange;
  /** The dead-unit window flags of every hidden layer (one u32 per unit, each layer's run aligned). */
  flags: BufRange;
  images: BufRange;
  labels: BufRange;
  order: BufRange;
  /** Per dense layer, output layer last: its weight and bias among the parameters and among the gradients. */
  layers: { params: LayerRegions; grads: LayerRegions }[];
  /** Optimiser moments in the parameters' layout: m for momentum and Adam, v for Adam only. */
  moments: { m?: BufRange; v?: BufRange };
  /** Per hidden layer: its units' window flags (non-zero = active at least once in the window). */
  layerFlags: BufRange[];
  /** With config.l1Mask: the whole mask arena, and per hidden layer its units' L1 factors (laid out as layerFlags). */
  l1Mask?: { all: BufRange; layers: BufRange[] };
}

const whole = (arena: string, length: number): BufRange => ({ arena, offset: 0, length });

export function planTraining(
  model: ModelSpec,
  config: TrainConfig,
  data: DataShape,
  tuning: KernelTuning = SOFTWARE_TUNING,
  limits: PlanLimits = UNLIMITED,
): TrainPlan {
  const B = config.batch;
  const layout = paramLayout(model, limits.bindingBytes);
  const L = layout.layers.length;
  const H = L - 1;
  const stats = statsLayout(H, L);
  const act = activationId(model.activation);
  const kind = config.optimizer.kind;
  const maxNorm = config.maxNorm ?? 0;
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) throw new Error(`maxNorm must be a finite number ≥ 0 (0 = off), got ${config.maxNorm}`);
  const drop = dropoutSettings(config.dropout, model.seed);

  const arenas: Record<string, number> = {};
  const arena = (name: string, length: number): BufRange => {
    arenas[name] = Math.max(1, length);
    return whole(name, length);
  };

  const { images, labels, order, x, y, z, a, flags, flagRanges } = batchArenas(arena, layout, B, data);
  const d = layout.layers.map((l) => arena(`d${l.index}`, B * l.outputs));
  // Dropout: what dense layer i multiplies is x or a{i−1} times the mask / (1 − p), in an
  // arena of its own rather than fused into the products' reads. Every product path (the
  // tiled, vec4 and split-K kernels, split layers, the CPU's WebAssembly and sparse paths)
  // then runs unchanged on the tensor it multiplies, and the sparse path's lists see the
  // dropped zeros; a stays undropped for the telemetry and the L1 term. The cost is one
  // elementwise pass per layer, small beside the product it feeds.
  const rate = (i: number) => (i === 0 ? drop.input : drop.hidden);
  const inputs = layout.layers.map((l, i) => {
    const plain = i === 0 ? x : a[i - 1];
    return rate(i) > 0 ? arena(i === 0 ? 'x dropped' : `a${i - 1} dropped`, B * l.inputs) : plain;
  });
  // One mask per layer input and step: id i for dense layer i's input (0 = the pixels).
  const maskOf = (i: number) => ({ count: B * layout.layers[i].inputs, p: rate(i), seed: drop.seed, layer: i });
  const dropped = {
    inputs,
    before: (i: number): PlanStep[] => (rate(i) > 0 ? [dropoutStep(`dropout ${i}`, maskOf(i), { src: i === 0 ? x : a[i - 1], dst: inputs[i] })] : []),
  };
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
  // Per-unit L1 factors, laid out as the window flags (one run per hidden layer, aligned).
  const masked = config.l1Mask === true && config.l1 > 0 && H > 0;
  const maskAll = masked ? arena('l1mask', flags.length) : undefined;
  const maskRanges = maskAll ? flagRanges.map((r) => ({ ...r, arena: maskAll.arena })) : undefined;

  // Segment tables for the sums of squares: all gradients in one dispatch, then one per delta.
  const segTables: TrainPlan['segTables'] = [];
  let segsLen = 0;
  const put = (data: Uint32Array): BufRange => {
    const range = { arena: 'segs', offset: segsLen, length: data.length };
    segsLen = align(segsLen + data.length);
    segTables.push({ range, data });
    return range;
  };
  const table = (segments: Segment[]): BufRange => put(segmentTable(segments));
  const split = splitScratch(arena, layout, B, true);
  // Gradient norms: one segmented sum over the gradients, or per chunk when a layer is split.
  const gradSegs = isSplit(layout)
    ? undefined
    : table(
        layout.layers.flatMap((l) => [
          { offset: l.weight, length: l.inputs * l.outputs, slot: stats.grad[l.index].weight },
          { offset: l.bias, length: l.outputs, slot: stats.grad[l.index].bias },
        ]),
      );
  const splitGradNorms = isSplit(layout) ? gradNormsSplit(layout, stats, { grads, stats: statsRange }, arena, table) : undefined;
  // Partials of the two-pass reductions (tuning.twoPassReductions): one region, reused by each in turn.
  const twoPass = tuning.twoPassReductions === true;
  const maxWeights = Math.max(...layout.layers.map((l) => l.inputs * l.outputs));
  // Scratch for split-K matmuls, when tuning.matmulChoice picks any (one region, used in turn).
  const mmScratchLength = matmulScratch(
    tuning,
    layout.layers.flatMap((l) => [forwardShape(l, B), dwShape(l, B), dxShape(l, B)]),
  );
  const fused =
    config.telemetry && tuning.fusedTelemetry === true && !isSplit(layout)
      ? fusedTelemetry(arena, put, layout, stats, B, twoPass, tuning, flagRanges, mmScratchLength)
      : undefined;
  const deltaSegs = fused ? [] : layout.layers.map((l) => table([{ offset: 0, length: B * l.outputs, slot: stats.delta[l.index] }]));
  arena('segs', segsLen);
  const sums: [number, number][] = [[2 * L, maxWeights], ...layout.layers.map((l): [number, number] => [1, B * l.outputs])];
  const reduce = reductionSteps(
    twoPass,
    twoPass
      ? arena(
          'reduce',
          reductionScratch(
            sums,
            layout.layers.map((l) => [B, l.outputs]),
          ),
        )
      : whole('reduce', 1),
  );

  const mmScratch = mmScratchLength > 0 ? arena('matmul scratch', mmScratchLength) : undefined;
  const mm = matmulSteps(tuning, mmScratch);
  const gradNorms = splitGradNorms ?? reduce.sumsq('grad norms', 2 * L, { x: grads, segs: gradSegs!, stats: statsRange }, maxWeights);

  const step: PlanItem[] = [{ clear: statsRange }];
  step.push(gather('gather', B, data.features, data.examples, data.scale, data.shift, { images, labels, order, x, y }, data.format));

  step.push(...forwardPass(model, layout, B, x, z, a, '', tuning, split, mmScratch, dropped));
  step.push(
    softmaxXent(
      'softmax cross-entropy',
      B,
      model.classes,
      { loss: stats.loss, correct: stats.correct, norm: fused ? stats.delta[L - 1] : undefined },
      {
        logits: a[L - 1],
        labels: y,
        dlogits: d[L - 1],
        stats: statsRange,
      },
    ),
  );

  // Backward, last layer first: d[l] holds ∂L/∂z_l on entry.
  for (let i = L - 1; i >= 0; i--) {
    const l = layout.layers[i];
    const input = inputs[i];
    // A layer split by rows (larger than one binding) gets its dW, db and dX from split.ts.
    const inOne = l.chunks.length === 1;
    if (!inOne) step.push(...backwardSplit(l, B, { d: d[i], input, dInput: i > 0 ? d[i - 1] : undefined }, split!, tuning));
    const dwPart = fused?.dw[i];
    if (inOne && dwPart) step.push(...mm.sumsq(`dW ${i}`, dwShape(l, B), { a: d[i], b: input, c: weightRange('grads', l), part: dwPart }));
    else if (inOne) step.push(...mm.plain(`dW ${i}`, dwShape(l, B), { a: d[i], b: input, c: weightRange('grads', l) }));
    if (inOne) step.push(...reduce.biasGrad(`db ${i}`, B, l.outputs, d[i], biasRange('grads', l)));
    if (i > 0) {
      if (inOne) step.push(...mm.plain(`dX ${i}`, dxShape(l, B), { a: d[i], b: weightRange('params', l), c: d[i - 1] }));
      // ∂L/∂(dropped a) → ∂L/∂a: the forward step's mask and scale, before the activation's derivative.
      if (rate(i) > 0) step.push(dropoutBackwardStep(`dropout backward ${i}`, maskOf(i), d[i - 1]));
      const io = { z: z[i - 1], a: a[i - 1], d: d[i - 1] };
      const mask = maskRanges?.[i - 1];
      step.push(
        fused
          ? activationBackwardStats(`act backward ${i - 1}`, B, l.inputs, act, model.alpha, config.l1 / B, { ...io, ...fused.backward[i - 1], mask })
          : mask
            ? activationBackwardMasked(`act backward ${i - 1}`, B * l.inputs, l.inputs, act, model.alpha, config.l1 / B, { ...io, mask })
            : activationBackward(`act backward ${i - 1}`, B * l.inputs, act, model.alpha, config.l1 / B, io),
      );
    }
  }

  // Telemetry reductions. Gradient norms are also what clipping needs.
  const clipping = config.optimizer.clipNorm > 0;
  if (fused) {
    step.push(...fused.finish({ grads, stats: statsRange, flags }));
  } else if (config.telemetry) {
    for (let h = 0; h < H; h++) {
      step.push(...reduce.layerStats(`stats ${h}`, B, layout.layers[h].outputs, stats.hidden[h], { a: a[h], active: flagRanges[h], stats: statsRange }));
    }
  }
  if (!fused && (config.telemetry || clipping)) step.push(...gradNorms);
  if (!fused && config.telemetry) {
    for (const l of layout.layers) {
      step.push(...reduce.sumsq(`delta norm ${l.index}`, 1, { x: d[l.index], segs: deltaSegs[l.index], stats: statsRange }, B * l.outputs));
    }
  }

  step.push(
    ...optimizerSplit(
      layout,
      config.optimizer,
      { slot0: stats.grad[0].weight, count: 2 * L },
      {
        params,
        grads,
        m: mRange,
        v: vRange,
        stats: statsRange,
      },
    ),
  );
  // The constraint acts on the updated weights, so every step ends with the rows within it.
  if (maxNorm > 0) step.push(...maxNormSplit(layout, maxNorm, params));

  // Every binding, buffer and dispatch within the adapter's limits, before anything is allocated.
  const chunks = arenaChunks(layout, kind, mLen);
  checkLimits(step, arenas, chunks, limits, { layout, batch: B, features: data.features, examples: data.examples, mLength: mLen });

  return {
    model,
    config,
    layout,
    stats,
    arenas,
    chunks,
    memory: planMemory(step, arenas, chunks),
    step,
    resetWindow: [{ clear: flags }],
    segTables,
    regions: {
      params,
      grads,
      opt,
      stats: statsRange,
      flags,
      images,
      labels,
      order,
      layers: layout.layers.map((l) => ({
        params: { weight: weightRange('params', l), bias: biasRange('params', l) },
        grads: { weight: weightRange('grads', l), bias: biasRange('grads', l) },
      })),
      moments: { m: kind === 'sgd' ? undefined : mRange, v: kind === 'adam' ? vRange : undefined },
      layerFlags: flagRanges,
      l1Mask: maskAll && { all: maskAll, layers: maskRanges! },
    },
    tensors: { x, y, z, a, d, inputs },
  };
}

/**
 * The telemetry folded into passes a step makes anyway (tuning.fusedTelemetry, the GPU
 * tables; the CPU backend folds it its own way, src/backend/cpu/fusion.ts). Each small
 * reduction dispatch costs a GPU more than its bytes (and on SwiftShader a workgroup with
 * barriers costs more than its work), so:
 *   - hidden layer h's zero counts and Σ dZ² per chunk of rows come from its activation
 *     backward, which reads a_h and writes d_h anyway (chosen over the forward epilogue:
 *     one kernel instead of the four matmul families, the counts layout the tiled layer
 *     stats already read, and the delta norm in the same pass);
 *   - the output layer's Σ dZ² from the softmax that writes its delta;
 *   - ‖dW‖² partials from the pass that writes dW: the register or tiled kernel's
 *     epilogue, or split-K's reduce, so no weight gradient is read a second time (the
 *     short bias gradients are read whole in the last pass);
 *   - one dispatch finishes every hidden layer's stats (all flags lie in one arena), one
 *     every norm (sums of partials, then sums of squares read whole; with one-pass
 *     reductions one thread per norm, no barriers).
 * Two dispatches beside the step's own, where the plain steps
 * take 2H + L + 1 (one-pass) or 4H + 2L + 2 (two-pass). Fixed chunks and orders: the same
 * bits every run. Layers split over several bindings keep the plain steps.
 */
function fusedTelemetry(
  arena: (name: string, length: number) => BufRange,
  put: (data: Uint32Array) => BufRange,
  layout: ParamLayout,
  stats: StatsLayout,
  B: number,
  twoPass: boolean,
  tuning: KernelTuning,
  flagRanges: BufRange[],
  mmScratchLength: number,
) {
  const hidden = layout.layers.slice(0, -1);
  let countsLen = 0;
  let partLen = 0;
  const at = hidden.map((l) => {
    const n = backwardStatsScratch(B, l.outputs);
    const r = { counts: countsLen, part: partLen, n };
    countsLen = align(countsLen + n);
    partLen = align(partLen + n);
    return r;
  });
  // ‖dW‖² partials from the dW epilogue (every kernel; split-K's reduce), per layer; the bias gradients are read.
  const dw = layout.layers.map((l) => {
    const r = { offset: partLen, length: sumsqEpilogueScratch(tuning, dwShape(l, B), mmScratchLength) };
    partLen = align(partLen + r.length);
    return r;
  });
  const counts = arena('zero counts', countsLen);
  const parts = arena('norm parts', partLen);
  // The last pass: sums of each hidden delta's partials and of the dW epilogues'; then the
  // bias gradients' sums of squares, read whole (they are short).
  const sums = [
    ...hidden.map((_, h) => ({ offset: at[h].part, length: at[h].n, slot: stats.delta[h] })),
    ...layout.layers.map((l) => ({ ...dw[l.index], slot: stats.grad[l.index].weight })),
  ];
  const whole = layout.layers.map((l) => ({ offset: l.bias, length: l.outputs, slot: stats.grad[l.index].bias }));
  const finishSegs = put(segmentTable([...sums, ...whole]));
  const layers: LayerStatsEntry[] = hidden.map((l, h) => ({ cols: l.outputs, counts: at[h].counts, flags: flagRanges[h].offset, slots: stats.hidden[h] }));
  const layerTable = layers.length ? put(layerStatsTable(layers)) : undefined;
  return {
    /** Per dense layer: where its dW product writes its ‖dW‖² partials. */
    dw: dw.map((r) => ({ arena: parts.arena, ...r })),
    /** Per hidden layer: where its activation backward writes its zero counts and Σ dZ² partials. */
    backward: at.map((r) => ({ counts: { arena: counts.arena, offset: r.counts, length: r.n }, part: { arena: parts.arena, offset: r.part, length: r.n } })),
    /** After the backward pass: the finishing dispatches (layer stats, gradient sums of squares, every norm). */
    finish(io: { grads: BufRange; stats: BufRange; flags: BufRange }): PlanStep[] {
      const out: PlanStep[] = [];
      if (layerTable) out.push(layerStatsFinishLayers('layer stats', B, layers, { counts, flags: io.flags, stats: io.stats, table: layerTable }));
      out.push(sumSegments('norms', sums.length + whole.length, sums.length, { partials: parts, x: io.grads, segs: finishSegs, stats: io.stats }, !twoPass));
      return out;
    },
  };
}

/**
 * The arenas the training and evaluation plans share: the dataset on the device (u8
 * pixels packed 4 per u32, or floats; labels, permutation), one batch, each layer's z and a, and the
 * dead-unit window flags (one u32 per hidden unit, each layer's run aligned).
 */
export function batchArenas(arena: (name: string, length: number) => BufRange, layout: ParamLayout, B: number, data: DataShape) {
  const values = data.examples * data.features;
  const images = arena('images', data.format === 'f32' ? values : Math.ceil(values / 4));
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

/** The first `rows` rows of a batch region `width` wide. */
export const rowsOf = (r: BufRange, rows: number, width: number): BufRange => ({ ...r, length: rows * width });

/**
 * One batch of `rows` examples through the network with the weights as they are (the
 * evaluation and the unit scan): gathered by the order, then the forward pass, over the
 * first `rows` rows of the batch arenas. Returns the steps and those rows' z and a.
 */
export function gatherForward(
  model: ModelSpec,
  layout: ParamLayout,
  rows: number,
  data: DataShape,
  io: Pick<ReturnType<typeof batchArenas>, 'images' | 'labels' | 'order' | 'x' | 'y' | 'z' | 'a'>,
  prefix: string,
  tuning: KernelTuning,
  split?: SplitScratch,
): { steps: PlanStep[]; z: BufRange[]; a: BufRange[] } {
  const { images, labels, order } = io;
  const x = rowsOf(io.x, rows, data.features);
  const z = io.z.map((r, i) => rowsOf(r, rows, layout.layers[i].outputs));
  const a = io.a.map((r, i) => rowsOf(r, rows, layout.layers[i].outputs));
  const steps = [
    gather(`${prefix}gather`, rows, data.features, data.examples, data.scale, data.shift, { images, labels, order, x, y: rowsOf(io.y, rows, 1) }, data.format),
    ...forwardPass(model, layout, rows, x, z, a, prefix, tuning, split),
  ];
  return { steps, z, a };
}

/**
 * z = input·Wᵀ + b, a = f(z) for every layer; the output layer is linear into the softmax.
 * `scratch` serves split-K kernels chosen by tuning.matmulChoice (without it they run in one pass).
 * `dropped` (training under dropout): what each layer multiplies instead of x or a{l−1},
 * and the steps that fill it, run just before the layer.
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
  split?: SplitScratch,
  scratch?: BufRange,
  dropped?: { inputs: BufRange[]; before: (layer: number) => PlanStep[] },
): PlanStep[] {
  const L = layout.layers.length;
  const mm = matmulSteps(tuning, scratch);
  return layout.layers.flatMap((l) => {
    const input = dropped?.inputs[l.index] ?? (l.index === 0 ? x : a[l.index - 1]);
    const act = activationId(l.index === L - 1 ? 'linear' : model.activation);
    return [
      ...(dropped?.before(l.index) ?? []),
      ...(l.chunks.length > 1
        ? forwardSplit(`${prefix}forward ${l.index}`, l, rows, act, model.alpha, { input, z: z[l.index], a: a[l.index] }, split!, tuning)
        : mm.biasAct(`${prefix}forward ${l.index}`, forwardShape(l, rows), act, model.alpha, {
            a: input,
            b: weightRange('params', l),
            bias: biasRange('params', l),
            z: z[l.index],
            out: a[l.index],
          })),
    ];
  });
}

// The three products of dense layer l over a batch of B rows.
const forwardShape = (l: DenseLayer, B: number): MatmulShape => ({ M: B, N: l.outputs, K: l.inputs, transA: false, transB: true });
const dxShape = (l: DenseLayer, B: number): MatmulShape => ({ M: B, N: l.inputs, K: l.outputs, transA: false, transB: false });
const dwShape = (l: DenseLayer, B: number): MatmulShape => ({ M: l.outputs, N: l.inputs, K: B, transA: true, transB: false });

export interface MatmulProduct {
  /** forward (Z = X·Wᵀ), dX (dZ·W) or dW (dZᵀ·X). */
  op: 'forward' | 'dX' | 'dW';
  /** 0-based dense layer. */
  layer: number;
  shape: MatmulShape;
}

/** Every matmul of a training step at batch B (the shapes an autotuner measures). */
export function matmulProducts(model: ModelSpec, batch: number): MatmulProduct[] {
  const out: MatmulProduct[] = [];
  for (const l of paramLayout(model).layers) {
    out.push({ op: 'forward', layer: l.index, shape: forwardShape(l, batch) });
    if (l.index > 0) out.push({ op: 'dX', layer: l.index, shape: dxShape(l, batch) });
    out.push({ op: 'dW', layer: l.index, shape: dwShape(l, batch) });
  }
  return out;
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
