// The library as an app uses it: runs stopped by an AbortSignal, datasets made from
// plain arrays (float or byte inputs) with clear errors, messages in API terms.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { datasetFromArrays, validateDataset } from '../src/data/dataset.ts';
import { trainRun } from '../src/train/run.ts';
import { Trainer } from '../src/train/trainer.ts';
import { gpuBackend } from './support/gpu.ts';
import { collect, smallData, smallModel, trainerOptions } from './support/train.ts';

describe('AbortSignal', () => {
  it('an aborted Trainer.run ends normally after the step in progress, reporting every queued step, and training can go on', async () => {
    const backend = new CpuBackend();
    try {
      const t = await Trainer.create(backend, smallModel(), trainerOptions(), smallData());
      expect(await collect(t.run(10, { signal: AbortSignal.abort() }))).toEqual([]);
      expect(t.step).toBe(0);
      const ac = new AbortController();
      const seen: number[] = [];
      for await (const s of t.run(1000, { signal: ac.signal })) {
        seen.push(s.step);
        if (s.step === 3) ac.abort();
      }
      expect(t.step).toBeGreaterThanOrEqual(3);
      expect(t.step).toBeLessThan(10);
      expect(seen).toEqual(Array.from({ length: t.step }, (_, i) => i + 1));
      const more = await collect(t.run(2));
      expect(more.map((s) => s.step)).toEqual([t.step - 1, t.step]);
    } finally {
      backend.destroy();
    }
  });

  it('with telemetry off, the last step queued before the abort is still reported', async () => {
    const backend = new CpuBackend();
    try {
      const t = await Trainer.create(backend, smallModel(), trainerOptions({ telemetry: false, readEvery: 4 }), smallData());
      const ac = new AbortController();
      const seen: number[] = [];
      for await (const s of t.run(1000, { signal: ac.signal })) {
        seen.push(s.step);
        if (s.step === 8) ac.abort();
      }
      expect(seen.slice(0, 2)).toEqual([4, 8]);
      expect(seen.at(-1)).toBe(t.step);
    } finally {
      backend.destroy();
    }
  });

  for (const kind of ['cpu', 'webgpu'] as const) {
    it(`an aborted trainRun resolves with what it has (${kind})`, async () => {
      const backend = kind === 'cpu' ? new CpuBackend() : await gpuBackend();
      try {
        const ac = new AbortController();
        const data = smallData(128);
        // 8 steps per epoch: abort in the middle of the second epoch.
        const r = await trainRun(
          backend,
          smallModel(),
          trainerOptions(),
          data,
          smallData(64),
          { steps: 80, signal: ac.signal },
          {
            onStep: (s) => {
              if (s.step === 11) ac.abort();
            },
          },
        );
        expect(r.aborted).toBe(true);
        expect(r.epochs.map((e) => e.epoch)).toEqual([1]);
        expect(r.trainer.step).toBeGreaterThanOrEqual(11);
        expect(r.trainer.step).toBeLessThan(16);
        expect(r.steps.at(-1)!.step).toBe(r.trainer.step);
        const created = { ...backend.counters };
        // Nothing left running: the backend is idle and the trainer goes on where it stopped.
        await backend.finish();
        const next = await collect(r.trainer.run(3));
        expect(next.at(-1)!.step).toBe(r.trainer.step);
        expect(Number.isFinite(next.at(-1)!.loss)).toBe(true);
        expect(backend.counters).toEqual(created);
      } finally {
        backend.destroy();
      }
    });
  }

  it('a stop (shouldStop) right after an epoch’s last step closes that epoch; one within an epoch leaves it open', async () => {
    for (const [stopAt, closed] of [
      [16, [1, 2]],
      [11, [1]],
    ] as const) {
      const backend = new CpuBackend();
      try {
        // 8 steps per epoch; the step reporting stopAt says stop (as Ctrl-C does in the CLI).
        let stop = false;
        const r = await trainRun(
          backend,
          smallModel(),
          trainerOptions(),
          smallData(128),
          smallData(64),
          { steps: 80 },
          {
            onStep: (s) => {
              if (s.step === stopAt) stop = true;
            },
            shouldStop: () => stop,
          },
        );
        expect(r.stopped).toBe(true);
        // Steps already in flight finish too, up to the epoch's end at most (16).
        expect(r.trainer.step, `stop at ${stopAt}`).toBeGreaterThanOrEqual(stopAt);
        expect(r.trainer.step, `stop at ${stopAt}`).toBeLessThanOrEqual(stopAt === 16 ? 16 : 15);
        expect(
          r.epochs.map((e) => e.epoch),
          `stop at ${stopAt}`,
        ).toEqual([...closed]);
        expect(r.epochs.at(-1)!.steps).toBe(8 * closed.length);
      } finally {
        backend.destroy();
      }
    }
  });

  it('an unaborted trainRun says so', async () => {
    const backend = new CpuBackend();
    try {
      const r = await trainRun(backend, smallModel(), trainerOptions(), smallData(64), smallData(32), { steps: 4, signal: new AbortController().signal });
      expect(r.aborted).toBe(false);
      expect(r.epochs.length).toBe(1);
    } finally {
      backend.destroy();
    }
  });
});

describe('datasetFromArrays', () => {
  const px = smallData(96);

  it('refuses bad input with one clear line each', () => {
    const ok = { inputs: new Float32Array(40).fill(0.5), labels: [0, 1], features: 20, classes: 5 };
    expect(() => datasetFromArrays({ ...ok, inputs: [1, 2] as unknown as Float32Array })).toThrow(/inputs must be a Float32Array or a Uint8Array/);
    expect(() => datasetFromArrays({ ...ok, inputs: new Float32Array(41) })).toThrow(/41 input values are not a whole number of rows of 20 features/);
    expect(() => datasetFromArrays({ ...ok, labels: [0] })).toThrow(/1 labels for 2 rows/);
    expect(() => datasetFromArrays({ ...ok, labels: [0, 5] })).toThrow(/label 5 of row 1 is not a class index: labels must be whole numbers 0…4/);
    expect(() => datasetFromArrays({ ...ok, labels: [0.5, 1] })).toThrow(/label 0.5 of row 0/);
    expect(() => datasetFromArrays({ ...ok, features: 0 })).toThrow(/features must be a positive whole number/);
    expect(() => datasetFromArrays({ ...ok, scale: 2 })).toThrow(/scale and shift apply to Uint8Array inputs only/);
    const nan = new Float32Array(40).fill(1);
    nan[27] = NaN;
    expect(() => datasetFromArrays({ ...ok, inputs: nan })).toThrow(/input 7 of example 1 is NaN/);
    expect(() => datasetFromArrays({ ...ok, inputs: new Uint8Array(40), classes: 300, labels: new Uint32Array([299, 3]) })).not.toThrow();
  });

  it('float inputs train exactly like the same values given as bytes with a scale and shift', async () => {
    const floats = Float32Array.from(px.images, (b) => b * px.scale + px.shift);
    const fromFloats = datasetFromArrays({ inputs: floats, labels: px.labels, features: px.features, classes: px.classes });
    const fromBytes = datasetFromArrays({
      inputs: px.images,
      labels: Array.from(px.labels),
      features: px.features,
      classes: px.classes,
      scale: px.scale,
      shift: px.shift,
    });
    expect(fromBytes.labels).toBeInstanceOf(Uint8Array);
    const losses = async (d: typeof fromFloats) => {
      const backend = new CpuBackend();
      try {
        const t = await Trainer.create(backend, smallModel(), trainerOptions(), d);
        return (await collect(t.run(12))).map((s) => s.loss);
      } finally {
        backend.destroy();
      }
    };
    const a = await losses(fromFloats);
    expect(a).toEqual(await losses(fromBytes));
    expect(a.at(-1)!).toBeLessThan(a[0]);
  });

  it('float inputs train the same on WebGPU as on the CPU', async () => {
    const floats = Float32Array.from(px.images, (b) => (b - 128) / 64);
    const d = datasetFromArrays({ inputs: floats, labels: px.labels, features: px.features, classes: px.classes, name: 'floats' });
    const run = async (backend: CpuBackend | Awaited<ReturnType<typeof gpuBackend>>) => {
      try {
        const t = await Trainer.create(backend, smallModel(), trainerOptions(), d);
        return (await collect(t.run(6))).map((s) => s.loss);
      } finally {
        backend.destroy();
      }
    };
    const cpu = await run(new CpuBackend());
    const gpu = await run(await gpuBackend());
    for (let i = 0; i < cpu.length; i++) expect(Math.abs(gpu[i] - cpu[i]) / cpu[i]).toBeLessThan(1e-3);
  });

  it('the library names options, not CLI flags', async () => {
    const backend = new CpuBackend();
    try {
      await expect(Trainer.create(backend, smallModel(), trainerOptions({ batch: 1000 }), smallData(64))).rejects.toThrow(/lower the batch option$/);
    } finally {
      backend.destroy();
    }
    expect(() => validateDataset({ ...px, name: 'px', labels: px.labels.subarray(1) })).toThrow(/px: 95 labels for 96 examples/);
  });
});
