// Checkpoints as safetensors with PyTorch's nn.Linear layout: `layers.{i}.weight`
// [out, in] and `layers.{i}.bias` [out], F32, the output layer last. The metadata holds
// the model, the step and the training config; optimiser moments (`optimizer.m.…`,
// `optimizer.v.…`) and the dead-unit window flags make --resume continue exactly.
import { align, paramLayout } from '../model/layout.ts';
import { describeModel, validateModel, type ModelSpec } from '../model/spec.ts';
import { CheckpointError, decodeSafetensors, describe, encodeSafetensors, type Tensor } from './safetensors.ts';

export interface CheckpointState {
  model: ModelSpec;
  /** Training steps taken. */
  step: number;
  /** The training configuration, as given (for --resume and for the record). */
  config: Record<string, unknown>;
  /** Flat parameter buffer (the engine's layout, padding included). */
  params: Float32Array;
  /** Optimiser moments in the same layout, when the optimiser keeps them. */
  m?: Float32Array;
  v?: Float32Array;
  /** Per-unit "was active" flags of the current dead-unit window. */
  flags?: Uint32Array;
}

const FORMAT = 'rectigrad-1';

export function encodeCheckpoint(s: CheckpointState): Uint8Array {
  const layout = paramLayout(s.model);
  const tensors: Record<string, Tensor> = {};
  const put = (prefix: string, flat: Float32Array) => {
    for (const l of layout.layers) {
      tensors[`${prefix}layers.${l.index}.weight`] = {
        dtype: 'F32',
        shape: [l.outputs, l.inputs],
        data: flat.slice(l.weight, l.weight + l.inputs * l.outputs),
      };
      tensors[`${prefix}layers.${l.index}.bias`] = { dtype: 'F32', shape: [l.outputs], data: flat.slice(l.bias, l.bias + l.outputs) };
    }
  };
  put('', s.params);
  if (s.m) put('optimizer.m.', s.m);
  if (s.v) put('optimizer.v.', s.v);
  if (s.flags) tensors['telemetry.active'] = { dtype: 'U32', shape: [s.flags.length], data: s.flags };
  return encodeSafetensors(tensors, {
    format: FORMAT,
    model: JSON.stringify(s.model),
    step: String(s.step),
    config: JSON.stringify(s.config),
  });
}

/** The fields of a ModelSpec and the JSON type each must have, checked before validateModel. */
const MODEL_FIELDS = {
  inputs: 'number',
  hidden: 'array',
  classes: 'number',
  activation: 'string',
  alpha: 'number',
  init: 'string',
  initScale: 'number',
  seed: 'number',
} as const;

const NOT_OURS = 'the file is damaged or was not written by rectigrad';

export function decodeCheckpoint(bytes: Uint8Array, name = 'checkpoint'): CheckpointState {
  const { tensors, metadata } = decodeSafetensors(bytes, name);
  const fail = (msg: string): never => {
    throw new CheckpointError(`${name}: ${msg}`);
  };
  if (metadata.format === undefined) fail(`not a rectigrad checkpoint: its metadata has no "format" field (expected "${FORMAT}")`);
  if (metadata.format !== FORMAT) fail(`not a rectigrad checkpoint: metadata format is ${describe(metadata.format)}, expected "${FORMAT}"`);
  const model = parseModel(metadata.model, fail);
  let config: Record<string, unknown> = {};
  if (metadata.config !== undefined) {
    const c = parseJson(metadata.config);
    if (typeof c !== 'object' || c === null || Array.isArray(c)) fail(`metadata field "config" is not a JSON object: ${NOT_OURS}`);
    config = c as Record<string, unknown>;
  }
  let step = 0;
  if (metadata.step !== undefined) {
    step = Number(metadata.step);
    if (!/^\d+$/.test(metadata.step) || !Number.isSafeInteger(step))
      fail(`metadata field "step" is ${describe(metadata.step)}, not a whole number ≥ 0: ${NOT_OURS}`);
  }

  // Every tensor's shape is checked against the model before any buffer is allocated, so a
  // metadata model far larger than the file is refused rather than allocated. First the
  // layer count: a model of millions of layers needs that many tensors, so a missing one
  // is found after at most as many steps as the file has tensors.
  const arch = model.hidden.length <= 8 ? describeModel(model) : `${model.hidden.length + 1}-layer`;
  for (let i = 0; i <= model.hidden.length; i++) {
    if (!tensors[`layers.${i}.weight`]) fail(`tensor layers.${i}.weight is missing (the ${arch} model its metadata describes needs it): ${NOT_OURS}`);
  }
  const layout = paramLayout(model);
  const prefixes = ['', 'optimizer.m.', 'optimizer.v.'];
  const present = prefixes.filter((p) => p === '' || Object.keys(tensors).some((k) => k.startsWith(p)));
  const expected = new Map<string, { offset: number; shape: number[] }>();
  for (const p of present) {
    for (const l of layout.layers) {
      expected.set(`${p}layers.${l.index}.weight`, { offset: l.weight, shape: [l.outputs, l.inputs] });
      expected.set(`${p}layers.${l.index}.bias`, { offset: l.bias, shape: [l.outputs] });
    }
  }
  const flagsLen = model.hidden.reduce((at, h) => align(at + h), 0);
  expected.set('telemetry.active', { offset: 0, shape: [flagsLen] });
  for (const key of Object.keys(tensors)) {
    if (!expected.has(key)) fail(`tensor ${describe(key)} is not part of the ${arch} model its metadata describes: ${NOT_OURS}`);
  }
  for (const [key, { shape }] of expected) {
    const t = tensors[key];
    if (!t) {
      if (key === 'telemetry.active') continue;
      fail(`tensor ${key} is missing (the ${arch} model its metadata describes needs it): ${NOT_OURS}`);
    }
    const dtype = key === 'telemetry.active' ? 'U32' : 'F32';
    if (t.dtype !== dtype || t.shape.join() !== shape.join()) {
      fail(
        `tensor ${key} is ${t.dtype} [${t.shape.join(', ')}] but the ${arch} model its metadata describes needs ${dtype} [${shape.join(', ')}]: ${NOT_OURS}`,
      );
    }
  }

  const take = (prefix: string): Float32Array | undefined => {
    if (!present.includes(prefix)) return undefined;
    const flat = new Float32Array(layout.size);
    for (const l of layout.layers) {
      for (const key of [`${prefix}layers.${l.index}.weight`, `${prefix}layers.${l.index}.bias`]) {
        const data = tensors[key].data;
        for (let i = 0; i < data.length; i++) {
          if (!Number.isFinite(data[i])) fail(`${key} holds a non-finite value (${data[i]}) at index ${i}: use an earlier checkpoint`);
        }
        flat.set(data, expected.get(key)!.offset);
      }
    }
    return flat;
  };
  return {
    model,
    step,
    config,
    params: take('')!,
    m: take('optimizer.m.'),
    v: take('optimizer.v.'),
    flags: tensors['telemetry.active']?.data as Uint32Array | undefined,
  };
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The metadata's model: every field present with its JSON type (named when not), then validated. */
function parseModel(text: string | undefined, fail: (msg: string) => never): ModelSpec {
  if (text === undefined) return fail(`its metadata has no "model" field: ${NOT_OURS}`);
  const m = parseJson(text);
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return fail(`metadata field "model" is not a JSON object: ${NOT_OURS}`);
  const rec = m as Record<string, unknown>;
  for (const [field, type] of Object.entries(MODEL_FIELDS)) {
    const v = rec[field];
    if (v === undefined) fail(`the model in its metadata has no "${field}" field: ${NOT_OURS}`);
    const ok = type === 'array' ? Array.isArray(v) : typeof v === type;
    if (!ok) fail(`the model in its metadata has "${field}": ${describe(v)}, not ${type === 'array' ? 'a list' : `a ${type}`}: ${NOT_OURS}`);
  }
  try {
    return validateModel(rec as unknown as ModelSpec);
  } catch (e) {
    // The message may quote a string from the file: keep it on one line and short.
    const msg = (e as Error).message.replace(/[\u0000-\u001f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
    return fail(`the model in its metadata is unusable: ${msg.length > 200 ? `${msg.slice(0, 199)}…` : msg}: ${NOT_OURS}`);
  }
}
