// Checkpoints as safetensors with PyTorch's nn.Linear layout: `layers.{i}.weight`
// [out, in] and `layers.{i}.bias` [out], F32, the output layer last. The metadata holds
// the model, the step and the training config; optimiser moments (`optimizer.m.…`,
// `optimizer.v.…`) and the dead-unit window flags make --resume continue exactly.
import { paramLayout } from '../model/layout.ts';
import { validateModel, type ModelSpec } from '../model/spec.ts';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type Tensor } from './safetensors.ts';

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
      tensors[`${prefix}layers.${l.index}.weight`] = { dtype: 'F32', shape: [l.outputs, l.inputs], data: flat.slice(l.weight, l.weight + l.inputs * l.outputs) };
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

export function decodeCheckpoint(bytes: Uint8Array, name = 'checkpoint'): CheckpointState {
  const { tensors, metadata } = decodeSafetensors(bytes, name);
  if (metadata.format !== FORMAT) {
    throw new CheckpointError(`${name}: not a rectigrad checkpoint (metadata format is ${JSON.stringify(metadata.format)}, expected ${FORMAT})`);
  }
  let model: ModelSpec;
  let config: Record<string, unknown>;
  try {
    model = validateModel(JSON.parse(metadata.model));
    config = JSON.parse(metadata.config ?? '{}');
  } catch (e) {
    throw new CheckpointError(`${name}: the model description in its metadata is unusable: ${(e as Error).message}`);
  }
  const step = Number(metadata.step ?? 0);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointError(`${name}: bad step ${metadata.step}`);
  const layout = paramLayout(model);
  const take = (prefix: string, required: boolean): Float32Array | undefined => {
    if (!required && !tensors[`${prefix}layers.0.weight`]) return undefined;
    const flat = new Float32Array(layout.size);
    for (const l of layout.layers) {
      for (const [kind, off, shape] of [
        ['weight', l.weight, [l.outputs, l.inputs]],
        ['bias', l.bias, [l.outputs]],
      ] as const) {
        const key = `${prefix}layers.${l.index}.${kind}`;
        const t = tensors[key];
        if (!t) throw new CheckpointError(`${name}: tensor ${key} is missing`);
        if (t.dtype !== 'F32' || t.shape.join() !== shape.join()) {
          throw new CheckpointError(`${name}: ${key} is ${t.dtype} [${t.shape}] but the model needs F32 [${shape}]`);
        }
        for (let i = 0; i < t.data.length; i++) {
          if (!Number.isFinite(t.data[i])) throw new CheckpointError(`${name}: ${key} holds a non-finite value (${t.data[i]}) at index ${i}`);
        }
        flat.set(t.data, off);
      }
    }
    return flat;
  };
  const flags = tensors['telemetry.active'];
  return {
    model,
    step,
    config,
    params: take('', true)!,
    m: take('optimizer.m.', false),
    v: take('optimizer.v.', false),
    flags: flags && flags.dtype === 'U32' ? (flags.data as Uint32Array) : undefined,
  };
}
