// Checkpoints: exact round trip, exact resume, eval agreeing with the trainer, and
// clear errors for damaged files.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { limitDataset } from '../src/data/dataset.ts';
import { loadIdxSplit, mnistDir } from '../src/data/idx-files.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../src/io/checkpoint.ts';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.ts';
import { paramLayout } from '../src/model/layout.ts';
import { Evaluator } from '../src/train/evaluate.ts';
import { trainRun } from '../src/train/run.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallModel, trainer, trainerOptions } from './support/train.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'rectigrad-ck-'));

describe('checkpoints', () => {
  it('save → load is bit-exact, in torch.nn.Linear layout', async () => {
    const t = await trainer(new CpuBackend(), smallModel(), trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'adam' }, lr: 0.01 }));
    await collect(t.run(5));
    const state = await t.state({ note: 'x' });
    const file = join(tmp(), 'm.safetensors');
    saveCheckpoint(file, state);
    const back = loadCheckpoint(file);
    expect(back.step).toBe(5);
    expect(back.model).toEqual(state.model);
    expect(back.config).toEqual({ note: 'x' });
    for (const k of ['params', 'm', 'v'] as const) expect(Buffer.compare(Buffer.from(back[k]!.buffer), Buffer.from(state[k]!.buffer))).toBe(0);
    // The header names every layer as PyTorch would: layers.{i}.weight [out, in].
    const bytes = readFileSync(file);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
    expect(header['layers.0.weight'].shape).toEqual([24, 20]);
    expect(header['layers.2.bias'].shape).toEqual([5]);
    expect(header['layers.0.weight'].dtype).toBe('F32');
  });

  it('a resumed run follows the uninterrupted one exactly (GPU, momentum)', async () => {
    const opts = trainerOptions({ optimizer: { ...trainerOptions().optimizer, kind: 'momentum' }, lr: 0.02 });
    const whole = await collect((await trainer(await gpuBackend(), smallModel(), opts)).run(50));
    const first = await trainer(await gpuBackend(), smallModel(), opts);
    await collect(first.run(20)); // mid-epoch: 32 steps per epoch
    const state = decodeCheckpoint(encodeCheckpoint(await first.state()));
    const second = await trainer(await gpuBackend(), smallModel(), opts);
    second.restore(state);
    const rest = await collect(second.run(30));
    expect(rest.map((s) => s.loss)).toEqual(whole.slice(20).map((s) => s.loss));
    expect(rest.map((s) => s.deadUnits)).toEqual(whole.slice(20).map((s) => s.deadUnits));
  });

  it('eval of a saved checkpoint equals the trainer’s own test evaluation', async () => {
    const train = limitDataset(loadIdxSplit(mnistDir(), 'train', 'MNIST'), 640);
    const test = limitDataset(loadIdxSplit(mnistDir(), 'test', 'MNIST'), 730); // not a multiple of the eval batch
    const model = smallModel({ inputs: 784, classes: 10, hidden: [32] });
    const opts = trainerOptions({ batch: 32 });
    const backend = await gpuBackend();
    const run = await trainRun(backend, model, opts, train, test, { steps: 20 });
    const state = await run.trainer.state();
    const fresh = await gpuBackend();
    const layout = paramLayout(model);
    fresh.allocate({ params: layout.size });
    fresh.writeF({ arena: 'params', offset: 0, length: layout.size }, decodeCheckpoint(encodeCheckpoint(state)).params);
    const r = await (await Evaluator.create(fresh, model, test)).evaluate();
    expect(r.examples).toBe(730);
    expect(r.loss).toBe(run.final!.testLoss);
    expect(r.error).toBe(run.final!.testError);
    // And the CPU backend agrees to rounding.
    const cpu = new CpuBackend();
    cpu.allocate({ params: layout.size });
    cpu.writeF({ arena: 'params', offset: 0, length: layout.size }, state.params);
    const rc = await (await Evaluator.create(cpu, model, test)).evaluate();
    expect(Math.abs(rc.loss - r.loss)).toBeLessThan(1e-4);
    expect(Math.abs(rc.error - r.error)).toBeLessThanOrEqual(2 / 730);
  });

  it('damaged or mismatched files are clear errors', async () => {
    const t = await trainer(new CpuBackend(), smallModel(), trainerOptions());
    const bytes = encodeCheckpoint(await t.state());
    expect(() => decodeCheckpoint(bytes.subarray(0, 6), 'f')).toThrow(/too short/);
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 10), 'f')).toThrow(/outside the file.*truncated/);
    const huge = Uint8Array.from(bytes);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => decodeCheckpoint(huge, 'f')).toThrow(/header claims/);
    const junk = Uint8Array.from(bytes);
    junk[8] = 0x78; // 'x' where the header's opening brace was
    expect(() => decodeCheckpoint(junk, 'f')).toThrow(/not valid JSON/);
    const other = await trainer(new CpuBackend(), smallModel({ hidden: [30, 17] }), trainerOptions());
    expect(() => other.restore(decodeCheckpoint(bytes))).toThrow(/20-24-17-5 relu network, not the 20-30-17-5/);
    const nan = await t.state();
    nan.params[3] = NaN;
    expect(() => decodeCheckpoint(encodeCheckpoint(nan), 'f')).toThrow(/non-finite value/);
  });

  it('writes atomically: no temporary file is left and a previous file survives a failed write', async () => {
    const dir = tmp();
    const file = join(dir, 'ck.safetensors');
    writeFileSync(file, 'previous');
    const t = await trainer(new CpuBackend(), smallModel(), trainerOptions());
    saveCheckpoint(file, await t.state());
    expect(readdirSync(dir)).toEqual(['ck.safetensors']);
    expect(() => saveCheckpoint(join(dir, 'missing-dir', 'x.safetensors'), { ...loadCheckpoint(file) })).toThrow();
    expect(existsSync(file)).toBe(true);
    expect(loadCheckpoint(file).step).toBe(0);
  });
});
