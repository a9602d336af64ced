// The telemetry folded into the activation backward and the softmax (tuning.fusedTelemetry):
// each new kernel on the GPU against its CPU twin and against the plain steps it stands in
// for, then whole training runs with it against the plain telemetry steps.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend/backend.ts';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.ts';
import { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.ts';
import { activationBackward, activationBackwardMasked, activationBackwardStats, backwardStatsScratch } from '../src/ops/activation-backward.ts';
import { ACTIVATIONS, activate } from '../src/ops/activations.ts';
import { isClear, type BufRange, type PlanItem, type PlanStep, type StepValues } from '../src/ops/op.ts';
import { layerStatsFinishLayers, layerStatsTable, layerStatsTiled, sumSegments, type LayerStatsEntry } from '../src/ops/reductions-tiled.ts';
import { MATMUL_CANDIDATES, candidateScratch, matmulSumsqWith, matmulWith, sumsqScratchWith, vec4Loads } from '../src/ops/matmul-candidates.ts';
import type { MatmulShape } from '../src/ops/matmul.ts';
import { DEFAULT_TILES, matmul, matmulSumsq, matmulSumsqScratch, type MatmulTiles } from '../src/ops/matmul.ts';
import { softmaxXent } from '../src/ops/softmax-xent.ts';
import { segmentTable } from '../src/ops/sumsq.ts';
import { SOFTWARE_TUNING, type KernelTuning } from '../src/ops/tuning.ts';
import { UNLIMITED } from '../src/plan/limits.ts';
import { planTraining } from '../src/plan/plan.ts';
import type { StepStats } from '../src/train/telemetry.ts';
import { Rng } from '../src/util/rng.ts';
import { gpu, gpuBackend } from './support/gpu.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';
import { collect, smallData, smallModel, trainer, trainerOptions } from './support/train.ts';

const rng = new Rng(2718);
const values: StepValues = { lr: 0.01, t: 1, batchStart: 0 };
const ops = (items: PlanItem[]) => items.filter((s): s is PlanStep => !isClear(s));

/** Pre-activations around a per-unit shift: a = f(z) has real zeros (relu) and non-zeros in every case. */
function layer(rows: number, units: number, act: number, alpha: number) {
  const shift = Array.from({ length: units }, () => rng.uniform(-2, 1));
  const z = new Float32Array(rows * units);
  for (let i = 0; i < rows; i++) for (let j = 0; j < units; j++) z[i * units + j] = rng.normal() + shift[j];
  z[0] = 0.75; // at least one positive
  if (z.length > 1) z[1] = -0.75; // and one negative
  const a = Float32Array.from(z, (v) => activate(act, alpha, v));
  for (let k = 0; k < a.length; k++) if (a[k] === 0 && rng.next() < 0.2) a[k] = -0; // −0 counts as zero
  return { z, a, d: rng.fill(rows * units, -1, 1) };
}

describe('activation backward with the telemetry folded in', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 16],
    [1, 70, 16],
    [7, 3, 16],
    [16, 64, 16],
    [17, 65, 16],
    [64, 100, 16],
    [33, 129, 5],
    [100, 17, 1],
  ];
  for (let k = 0; k < 6; k++) shapes.push([1 + rng.int(150), 1 + rng.int(200), [1, 4, 16, 32][rng.int(4)]]);
  const cases = shapes.flatMap(([rows, units, chunkRows], k) => {
    const act = [1, 2, 3, 6][k % 4]; // relu, leaky relu, softplus, abs
    return [false, true].map((masked) => [rows, units, chunkRows, ACTIVATIONS[act], act, masked] as const);
  });

  it.each(cases)('%i rows × %i units, chunks of %i, %s (%i), masked %s: GPU = CPU twin = the plain steps', async (rows, units, chunkRows, _, act, masked) => {
    const alpha = act === 2 ? 0.1 : 0;
    const l1 = rng.next() < 0.5 ? 0 : 0.05;
    const { z, a, d } = layer(rows, units, act, alpha);
    const mask = Float32Array.from({ length: units }, () => (rng.next() < 0.3 ? 0 : 1));
    const n = rows * units;
    const [zr, ar, mr] = regions('in', [n, n, units]);
    const [dr] = regions('d', [n]);
    const scratch = backwardStatsScratch(rows, units, chunkRows);
    const [counts] = regions('counts', [scratch]);
    const [part] = regions('part', [scratch]);
    const io = { z: zr, a: ar, d: dr, counts, part, mask: masked ? mr : undefined };
    const step = activationBackwardStats('bwd', rows, units, act, alpha, masked ? Math.max(l1, 0.05) : l1, io, chunkRows);
    expect(step.dispatch).toEqual([Math.ceil(units / 64), Math.ceil(rows / chunkRows), 1]);
    const init = [
      { range: zr, data: z },
      { range: ar, data: a },
      { range: dr, data: d },
      { range: mr, data: mask },
    ];
    const [dOut, cOut, pOut] = await runBoth([step], init, [dr, counts, part]);
    expect(maxRelErr(dOut.cpu.f, dOut.gpu.f)).toBeLessThan(1e-5);
    expect(Array.from(cOut.gpu.u)).toEqual(Array.from(cOut.cpu.u));
    expect(maxRelErr(pOut.cpu.f, pOut.gpu.f)).toBeLessThan(1e-5);

    // The plain kernel gives the same dZ (bit for bit on the GPU); the counts and partials are its definitions.
    const plain = masked
      ? activationBackwardMasked('bwd', n, units, act, alpha, step.constants.L1, { z: zr, a: ar, d: dr, mask: mr })
      : activationBackward('bwd', n, act, alpha, step.constants.L1, { z: zr, a: ar, d: dr });
    const [ref] = await runBoth([plain], init, [dr]);
    expect(Array.from(dOut.gpu.u)).toEqual(Array.from(ref.gpu.u));
    const chunks = Math.ceil(rows / chunkRows);
    let zeros = 0;
    for (let c = 0; c < chunks; c++)
      for (let j = 0; j < units; j++) {
        let zc = 0;
        let sq = 0;
        for (let i = c * chunkRows; i < Math.min(rows, (c + 1) * chunkRows); i++) {
          if (a[i * units + j] === 0) zc++;
          sq += ref.cpu.f[i * units + j] ** 2;
        }
        zeros += zc;
        expect(cOut.gpu.u[c * units + j]).toBe(zc);
        expect(Math.abs(pOut.gpu.f[c * units + j] - sq)).toBeLessThanOrEqual(1e-5 * Math.max(1e-6, sq));
      }
    if (act === 1 && n > 1) expect(zeros).toBeGreaterThan(0); // relu data has real zeros…
    expect(zeros).toBeLessThan(n); // …and never only zeros
  });

  it('rejects short counts or partials with a message naming them', () => {
    const r = (arena: string, length: number): BufRange => ({ arena, offset: 0, length });
    const io = { z: r('z', 40), a: r('a', 40), d: r('d', 40), counts: r('c', 2), part: r('p', 8) };
    expect(() => activationBackwardStats('bwd', 20, 2, 1, 0, 0, io)).toThrow(/counts holds 2 words but needs 4/);
    expect(() => activationBackwardStats('bwd', 0, 2, 1, 0, 0, io)).toThrow(/at least one row/);
  });
});

describe('matmul with the sum of squares of its product', () => {
  const shapes: [number, number, number, boolean, boolean, MatmulTiles][] = [
    [1, 1, 1, true, false, DEFAULT_TILES],
    [1, 70, 3, true, false, DEFAULT_TILES],
    [70, 20, 37, true, false, DEFAULT_TILES], // dW at batch 37
    [64, 64, 64, true, false, DEFAULT_TILES],
    [65, 129, 1, true, false, DEFAULT_TILES], // batch 1
    [33, 17, 9, false, false, { TM: 4, TN: 4, WG_X: 16, WG_Y: 16 }],
    [100, 31, 12, false, true, { TM: 3, TN: 5, WG_X: 4, WG_Y: 8 }],
    [5, 300, 2, true, false, { TM: 8, TN: 1, WG_X: 8, WG_Y: 2 }],
  ];
  for (let k = 0; k < 4; k++) shapes.push([1 + rng.int(200), 1 + rng.int(200), 1 + rng.int(70), rng.next() < 0.5, rng.next() < 0.5, DEFAULT_TILES]);
  it.each(shapes)(
    '%i × %i × %i (transA %s, transB %s), tiles %j: GPU = CPU twin; C = the plain kernel; Σ partials = ‖C‖²',
    async (M, N, K, transA, transB, tiles) => {
      const shape = { M, N, K, transA, transB };
      const [a, b] = regions('in', [M * K, K * N]);
      const [c] = regions('c', [M * N]);
      const [part] = regions('part', [matmulSumsqScratch(shape, tiles)]);
      const init = [
        { range: a, data: rng.fill(M * K, -1, 1) },
        { range: b, data: rng.fill(K * N, -1, 1) },
      ];
      const [cOut, pOut] = await runBoth([matmulSumsq('dW', shape, { a, b, c, part }, tiles)], init, [c, part]);
      const [plain] = await runBoth([matmul('dW', shape, { a, b, c }, tiles)], init, [c]);
      expect(Array.from(cOut.gpu.u)).toEqual(Array.from(plain.gpu.u));
      expect(maxRelErr(pOut.cpu.f, pOut.gpu.f)).toBeLessThan(1e-5);
      const total = Array.from(cOut.gpu.f).reduce((t, v) => t + v * v, 0);
      const parts = Array.from(pOut.gpu.f).reduce((t, v) => t + v, 0);
      expect(total).toBeGreaterThan(0);
      expect(Math.abs(parts - total)).toBeLessThanOrEqual(1e-5 * total);
    },
  );
});

describe('tiled matmul with the sum of squares of its product', () => {
  const names = ['tiled 64x64 k16 t4x4', 'tiled 128x64 k16 t8x4', 'tiled 64x128 k16 t4x8', 'tiled 128x128 k8 t8x8'];
  const shapes: [number, number, number, boolean, boolean][] = [
    [1, 1, 1, true, false],
    [70, 20, 37, true, false], // dW at batch 37 (scalar loads)
    [64, 128, 64, true, false], // vec4 loads
    [65, 129, 1, true, false], // batch 1
    [130, 68, 12, false, false],
    [33, 17, 9, false, true],
  ];
  // The double-buffered kernels on K over several k steps (both copies of the tiles in use).
  const doubleBuffered: [number, number, number, boolean, boolean, string][] = [
    [70, 20, 37, true, false, 'tiled-db 128x64 k16 t8x4'],
    [64, 128, 64, true, false, 'tiled-db 128x128 k8 t8x8'],
    [131, 66, 45, false, true, 'tiled-db 128x128 k8 t8x8'],
    [129, 65, 50, true, false, 'tiled-db 128x64 k16 t8x4'],
  ];
  const cases = [...shapes.map((s, k) => [...s, names[k % names.length]] as const), ...doubleBuffered];
  it.each(cases)('%i × %i × %i (transA %s, transB %s), %s: GPU = CPU twin; C = the plain kernel; Σ partials = ‖C‖²', async (M, N, K, transA, transB, name) => {
    const cand = MATMUL_CANDIDATES.find((c) => c.name === name)!;
    const shape = { M, N, K, transA, transB };
    const [a, b] = regions('in', [M * K, K * N]);
    const [c] = regions('c', [M * N]);
    const [part] = regions('part', [sumsqScratchWith(cand, shape)!]);
    const init = [
      { range: a, data: rng.fill(M * K, -1, 1) },
      { range: b, data: rng.fill(K * N, -1, 1) },
    ];
    const steps = matmulSumsqWith(cand, 'dW', shape, { a, b, c, part });
    expect(steps.map((s) => s.op.entry)).toEqual(['main_sumsq']);
    const [cOut, pOut] = await runBoth(steps, init, [c, part]);
    const [plain] = await runBoth(matmulWith(cand, 'dW', shape, { a, b, c }), init, [c]);
    expect(Array.from(cOut.gpu.u)).toEqual(Array.from(plain.gpu.u));
    expect(maxRelErr(pOut.cpu.f, pOut.gpu.f)).toBeLessThan(1e-5);
    const total = Array.from(cOut.gpu.f).reduce((t, v) => t + v * v, 0);
    const parts = Array.from(pOut.gpu.f).reduce((t, v) => t + v, 0);
    expect(total).toBeGreaterThan(0);
    expect(Math.abs(parts - total)).toBeLessThanOrEqual(1e-5 * total);
  });
});

describe('split-K matmul with the sum of squares of its product (from the reduce)', () => {
  const names = ['splitk2 64x64 k16 t4x4', 'splitk4 64x64 k16 t4x4', 'splitk8 64x64 k32 t4x4'];
  const shapes: [number, number, number, boolean, boolean][] = [
    [1, 1, 300, true, false], // one element of C
    [70, 20, 37, true, false], // dW at batch 37: K over 2–3 slices of 16
    [64, 128, 257, true, false], // vec4 loads, K past a whole number of slices
    [33, 300, 190, true, false], // 9 900 elements: 39 reduce workgroups, the last partly full
    [17, 5, 100, false, false],
    [9, 31, 129, false, true],
  ];
  const cases = shapes.map((s, k) => [...s, names[k % names.length]] as const);
  it.each(cases)('%i × %i × %i (transA %s, transB %s), %s: GPU = CPU twin; C = the plain split-K; Σ partials = ‖C‖²', async (M, N, K, transA, transB, name) => {
    const cand = MATMUL_CANDIDATES.find((c) => c.name === name)!;
    const shape = { M, N, K, transA, transB };
    const [a, b] = regions('in', [M * K, K * N]);
    const [c] = regions('c', [M * N]);
    const [scratch] = regions('scratch', [candidateScratch(cand, shape)]);
    const n = sumsqScratchWith(cand, shape);
    expect(n).toBe(Math.ceil((M * N) / 256));
    const [part] = regions('part', [n]);
    const init = [
      { range: a, data: rng.fill(M * K, -1, 1) },
      { range: b, data: rng.fill(K * N, -1, 1) },
    ];
    const steps = matmulSumsqWith(cand, 'dW', shape, { a, b, c, part, scratch });
    const tiled = vec4Loads(shape) ? 'matmul_tiled_vec4' : 'matmul_tiled';
    expect(steps.map((s) => `${s.op.shader}:${s.op.entry}`)).toEqual([`${tiled}:main_partial`, 'matmul_splitk_reduce:main_sumsq']);
    const [cOut, pOut] = await runBoth(steps, init, [c, part]);
    const [plain] = await runBoth(matmulWith(cand, 'dW', shape, { a, b, c, scratch }), init, [c]);
    expect(Array.from(cOut.gpu.u)).toEqual(Array.from(plain.gpu.u));
    expect(maxRelErr(pOut.cpu.f, pOut.gpu.f)).toBeLessThan(1e-5);
    const total = Array.from(cOut.gpu.f).reduce((t, v) => t + v * v, 0);
    const parts = Array.from(pOut.gpu.f).reduce((t, v) => t + v, 0);
    expect(total).toBeGreaterThan(0);
    expect(Math.abs(parts - total)).toBeLessThanOrEqual(1e-5 * total);
  });

  it('needs its scratch: a clear error naming it', () => {
    const splitk = MATMUL_CANDIDATES.find((c) => c.kind === 'splitk')!;
    const r = (n: number): BufRange => ({ arena: 'x', offset: 0, length: n });
    const shape = { M: 8, N: 8, K: 64, transA: true, transB: false };
    expect(() => matmulSumsqWith(splitk, 'dW', shape, { a: r(512), b: r(512), c: r(64), part: r(1) })).toThrow(/needs a region for scratch/);
    expect(() => matmulSumsqWith(splitk, 'dW', shape, { a: r(512), b: r(512), c: r(64), part: r(0), scratch: r(128) })).toThrow(
      /binding part holds 0 floats but needs 1/,
    );
  });
});

describe('one finish for every hidden layer', () => {
  const STATS = 32;
  const cases: [number, number[], number][] = [
    [1, [1], 16],
    [7, [3, 70], 16],
    [40, [70, 33, 1], 16],
    [65, [129, 64, 65], 16],
    [13, [200, 5], 4],
  ];
  for (let k = 0; k < 4; k++) cases.push([1 + rng.int(100), Array.from({ length: 1 + rng.int(4) }, () => 1 + rng.int(150)), [1, 8, 16][rng.int(3)]]);

  it.each(cases)('batch %i, layers %j, chunks of %i: GPU = CPU twin = each layer finished alone', async (rows, units, chunkRows) => {
    const chunks = Math.ceil(rows / chunkRows);
    // Counts from real relu outputs with zeros, one layer after another (aligned), flags some set.
    let countsLen = 0;
    let flagsLen = 0;
    const perm = rng.shuffle(Uint32Array.from({ length: STATS }, (_, k) => k));
    const layers: LayerStatsEntry[] = units.map((cols, h) => {
      const e = { cols, counts: countsLen, flags: flagsLen, slots: { zeros: perm[3 * h], batchDead: perm[3 * h + 1], dead: perm[3 * h + 2] } };
      countsLen += 64 * Math.ceil((chunks * cols) / 64);
      flagsLen += 64 * Math.ceil(cols / 64);
      return e;
    });
    const outs = units.map((cols) => layer(rows, cols, 1, 0).a);
    const countData = new Uint32Array(countsLen);
    layers.forEach((l, h) => {
      for (let c = 0; c < chunks; c++)
        for (let j = 0; j < l.cols; j++) {
          let zc = 0;
          for (let i = c * chunkRows; i < Math.min(rows, (c + 1) * chunkRows); i++) if (outs[h][i * l.cols + j] === 0) zc++;
          countData[l.counts + c * l.cols + j] = zc;
        }
    });
    const flagData = Uint32Array.from({ length: flagsLen }, () => (rng.next() < 0.3 ? 1 : 0));
    const statsData = Uint32Array.from({ length: STATS }, () => rng.int(1000));
    const table = layerStatsTable(layers);
    const [counts] = regions('counts', [countsLen]);
    const [flags] = regions('flags', [flagsLen]);
    const [stats] = regions('stats', [STATS]);
    const [tab] = regions('table', [table.length]);
    const step = layerStatsFinishLayers('finish', rows, layers, { counts, flags, stats, table: tab }, chunkRows);
    const init = [
      { range: counts, data: countData },
      { range: flags, data: flagData },
      { range: stats, data: statsData },
      { range: tab, data: table },
    ];
    const [f, s] = await runBoth([step], init, [flags, stats]);
    expect(Array.from(f.gpu.u)).toEqual(Array.from(f.cpu.u));
    expect(Array.from(s.gpu.u)).toEqual(Array.from(s.cpu.u));

    // Each layer through the tiled layer stats (its own counts pass and finish), on the GPU.
    const b = await gpuBackend();
    const [a] = regions('a', [Math.max(...units) * rows]);
    const [active, st] = regions('st', [Math.max(...units), STATS]);
    const [scratch] = regions('scratch', [chunks * Math.max(...units)]);
    b.allocate({ a: a.length, st: st.offset + STATS, scratch: scratch.length });
    b.writeU(st, statsData);
    const expected = { flags: Uint32Array.from(flagData), stats: [] as number[] };
    for (const [h, l] of layers.entries()) {
      const items = layerStatsTiled(
        'stats',
        rows,
        l.cols,
        l.slots,
        { a: { ...a, length: rows * l.cols }, active: { ...active, length: l.cols }, stats: st, counts: scratch },
        chunkRows,
      );
      b.writeF({ ...a, length: rows * l.cols }, outs[h]);
      b.writeU({ ...active, length: l.cols }, flagData.subarray(l.flags, l.flags + l.cols));
      await b.prepare(items);
      b.run(items, values);
      expected.flags.set(await b.readU({ ...active, length: l.cols }), l.flags);
    }
    expected.stats = Array.from(await b.readU(st));
    b.destroy();
    expect(Array.from(f.gpu.u)).toEqual(Array.from(expected.flags));
    expect(Array.from(s.gpu.u)).toEqual(expected.stats);
  });
});

describe('one finish for every norm', () => {
  it.each(
    [
      [[1], 1],
      [[7], 0],
      [[0, 5, 300], 2],
      [[4000, 1, 256, 257], 3],
      [[70_000, 13, 1000], 1],
    ].flatMap(([lengths, sums]) => [false, true].map((serial) => [lengths, sums, serial])) as [number[], number, boolean][],
  )(
    'runs of %j, the first %i sums of partials, the rest sums of squares (one thread per run %s): GPU = CPU twin, the same bits twice',
    async (lengths, sums, serial) => {
      let end = 0;
      const slots = rng.shuffle(Uint32Array.from({ length: 16 }, (_, k) => k));
      const segments = lengths.map((length, k) => {
        const offset = end + rng.int(40);
        end = offset + length;
        return { offset, length, slot: slots[k] };
      });
      const data = rng.fill(end + 3, 0, 2);
      const xData = rng.fill(end + 3, -2, 2);
      const t = segmentTable(segments);
      const [partials] = regions('p', [data.length]);
      const [x] = regions('x', [xData.length]);
      const [segs] = regions('segs', [t.length]);
      const [stats] = regions('stats', [16]);
      const step = sumSegments('norms', segments.length, sums, { partials, x, segs, stats }, serial);
      expect(step.op.entry).toBe(serial ? 'finish_serial' : 'finish_segments');
      const init = [
        { range: partials, data },
        { range: x, data: xData },
        { range: segs, data: t },
      ];
      const [first] = await runBoth([step], init, [stats]);
      const [again] = await runBoth([step], init, [stats]);
      segments.forEach((s, i) => {
        let sum = 0;
        for (let k = s.offset; k < s.offset + s.length; k++) sum += i < sums ? data[k] : xData[k] ** 2;
        expect(Math.abs(first.gpu.f[s.slot] - sum)).toBeLessThanOrEqual(1e-5 * Math.max(1e-6, sum));
        expect(Math.abs(first.cpu.f[s.slot] - sum)).toBeLessThanOrEqual(1e-6 * Math.max(1e-6, sum));
      });
      expect(Array.from(again.gpu.u)).toEqual(Array.from(first.gpu.u));
    },
  );

  it('rejects more sums than segments', () => {
    const r = (n: number): BufRange => ({ arena: 'p', offset: 0, length: n });
    expect(() => sumSegments('norms', 2, 3, { partials: r(4), x: r(4), segs: r(6), stats: r(4) })).toThrow(/3 sums of partials among 2 segments/);
  });
});

describe('softmax cross-entropy with the output delta norm', () => {
  it.each([
    [1, 1],
    [1, 10],
    [7, 3],
    [64, 10],
    [300, 17],
    [513, 5],
  ])('%i rows × %i classes: GPU = CPU twin = Σ dlogits², other words as without it', async (rows, classes) => {
    const logits = rng.fill(rows * classes, -4, 4);
    const labels = Uint32Array.from({ length: rows }, () => rng.int(classes));
    const [lr] = regions('logits', [rows * classes]);
    const [lab] = regions('labels', [rows]);
    const [dl] = regions('dl', [rows * classes]);
    const [stats] = regions('stats', [8]);
    const io = { logits: lr, labels: lab, dlogits: dl, stats };
    const init = [
      { range: lr, data: logits },
      { range: lab, data: labels },
      { range: stats, data: Uint32Array.from({ length: 8 }, (_, k) => 7000 + k) },
    ];
    const [d, s] = await runBoth([softmaxXent('xent', rows, classes, { loss: 1, correct: 4, norm: 6 }, io)], init, [dl, stats]);
    const [, plain] = await runBoth([softmaxXent('xent', rows, classes, { loss: 1, correct: 4 }, io)], init, [dl, stats]);
    const sq = Array.from(d.gpu.f).reduce((t, v) => t + v * v, 0);
    expect(Math.abs(s.gpu.f[6] - sq)).toBeLessThanOrEqual(1e-5 * sq);
    expect(Math.abs(s.cpu.f[6] - s.gpu.f[6])).toBeLessThanOrEqual(1e-5 * sq);
    for (let k = 0; k < 8; k++) if (k !== 6) expect(s.gpu.u[k]).toBe(plain.gpu.u[k]);
    expect(plain.gpu.u[6]).toBe(7006);
  });
});

describe('training with the telemetry folded in', () => {
  const plainOf = (t: KernelTuning): KernelTuning => ({ ...t, fusedTelemetry: false });
  const model = smallModel({ hidden: [70, 33, 5] });

  async function both(tuning: KernelTuning, over: Parameters<typeof trainerOptions>[0] = {}) {
    const opts = trainerOptions({ batch: 37, ...over });
    const fused = await trainer(new WebGpuBackend(await gpu(), tuning), model, opts);
    const plain = await trainer(new WebGpuBackend(await gpu(), plainOf(tuning)), model, opts);
    return { fused, plain, a: await collect(fused.run(12)), b: await collect(plain.run(12)) };
  }

  for (const twoPass of [false, true]) {
    it(`reports the plain steps' telemetry in 2 extra dispatches (${twoPass ? 'two' : 'one'}-pass reductions)`, async () => {
      const tuning = { ...SOFTWARE_TUNING, twoPassReductions: twoPass };
      const { fused, plain, a, b } = await both(tuning);
      const shaders = (items: PlanItem[]) => ops(items).map((s) => `${s.op.shader}:${s.op.entry}`);
      expect(shaders(fused.plan.step)).toEqual(
        expect.arrayContaining([
          'activation_backward:main_stats',
          'layer_stats_tiled:finish_layers',
          twoPass ? 'sumsq_chunks:finish_segments' : 'sumsq_chunks:finish_serial',
          'matmul:main_sumsq',
        ]),
      );
      // Every dW product folds in its ‖dW‖²: the last pass sums 3 deltas' and 4 dW's partials, and reads the 4 biases.
      expect(ops(fused.plan.step).filter((s) => s.op.entry === 'main_sumsq').length).toBe(4);
      const norms = ops(fused.plan.step).find((s) => s.label === 'norms')!;
      expect([norms.constants.SEGMENTS, norms.constants.SUMS]).toEqual([11, 7]);
      expect(norms.op.entry).toBe(twoPass ? 'finish_segments' : 'finish_serial');
      expect(shaders(fused.plan.step).some((s) => s.startsWith('layer_stats:') || s === 'layer_stats_tiled:count_zeros')).toBe(false);
      // L = 4 dense layers, H = 3 hidden: plain 3 + 1 + 4 (one-pass) or 6 + 2 + 8 telemetry dispatches.
      const off = ops(planTraining(model, { ...fused.plan.config, telemetry: false }, dataShape(), tuning).step).length;
      expect(ops(fused.plan.step).length - off).toBe(2);
      expect(ops(plain.plan.step).length - off).toBe(twoPass ? 16 : 8);
      for (let i = 0; i < a.length; i++) {
        // Same parameters throughout (dZ and the update are the plain kernels' bits): counts equal, norms up to the order of summation.
        expect(a[i].loss).toBe(b[i].loss);
        expect(a[i].sparsity).toEqual(b[i].sparsity);
        expect(a[i].deadUnits).toEqual(b[i].deadUnits);
        expect(a[i].batchDead).toEqual(b[i].batchDead);
        for (const k of ['gradNorm', 'biasGradNorm', 'deltaNorm'] as const) {
          expect(a[i][k].length).toBe(4);
          a[i][k].forEach((v, l) => expect(Math.abs(v - b[i][k][l])).toBeLessThanOrEqual(1e-5 * b[i][k][l]));
        }
      }
      expect(a.some((s) => s.sparsity.some((x) => x > 0 && x < 1))).toBe(true);
    });
  }

  for (const twoPass of [false, true]) {
    it(`with split-K chosen for one dW: its reduce folds in ‖dW‖², no gradient is read twice (${twoPass ? 'two' : 'one'}-pass)`, async () => {
      const tiled = MATMUL_CANDIDATES.find((c) => c.name === 'tiled 64x64 k16 t4x4')!;
      const splitk = MATMUL_CANDIDATES.find((c) => c.name === 'splitk2 64x64 k16 t4x4')!;
      // Layer 1 (70 → 33): its dW (33 × 70, K = batch 37) in split-K; layer 2's (5 × 33) in the tiled kernel.
      const choice = (s: MatmulShape) => (s.transA && s.N === 70 ? splitk : s.transA && s.N === 33 ? tiled : undefined);
      const tuning: KernelTuning = { ...SOFTWARE_TUNING, twoPassReductions: twoPass, matmulChoice: choice };
      const { fused, a, b } = await both(tuning);
      const steps = ops(fused.plan.step);
      expect(steps.filter((s) => s.label.startsWith('dW 1')).map((s) => `${s.op.shader}:${s.op.entry}`)).toEqual([
        'matmul_tiled:main_partial',
        'matmul_splitk_reduce:main_sumsq',
      ]);
      expect(steps.find((s) => s.label === 'dW 2')!.op.shader).toBe('matmul_tiled');
      expect(steps.filter((s) => s.op.entry === 'main_sumsq').length).toBe(4);
      const norms = steps.find((s) => s.label === 'norms')!;
      // 3 deltas' and 4 dW's partials summed, the 4 bias gradients read whole.
      expect([norms.constants.SEGMENTS, norms.constants.SUMS]).toEqual([11, 7]);
      expect(steps.some((s) => s.label === 'grad norms (partials)')).toBe(false);
      for (let i = 0; i < a.length; i++) {
        expect(a[i].loss).toBe(b[i].loss);
        a[i].gradNorm.forEach((v, l) => expect(Math.abs(v - b[i].gradNorm[l])).toBeLessThanOrEqual(1e-5 * b[i].gradNorm[l]));
      }
    });
  }

  it('gives the same bits on every run', async () => {
    const opts = trainerOptions({ batch: 37 });
    const run = async () => collect((await trainer(new WebGpuBackend(await gpu(), { ...SOFTWARE_TUNING, twoPassReductions: true }), model, opts)).run(6));
    const bits = (s: StepStats[]) => s.map(({ examplesPerSecond, ...rest }) => (void examplesPerSecond, rest));
    const [x, y] = [bits(await run()), bits(await run())];
    expect(x[5].deltaNorm[0]).toBeGreaterThan(0);
    expect(y).toEqual(x);
  });

  it('with clipping, L1 and the per-unit L1 mask: the plain steps’ telemetry and loss', async () => {
    const over = { l1: 1e-3, deadUnits: 'revive' as const, reviveGrace: 5, optimizer: { ...trainerOptions().optimizer, clipNorm: 0.05 } };
    const { fused, a, b } = await both(SOFTWARE_TUNING, over);
    expect(ops(fused.plan.step).map((s) => s.op.entry)).toContain('main_masked_stats');
    for (let i = 0; i < a.length; i++) {
      expect(Math.abs(a[i].loss - b[i].loss)).toBeLessThanOrEqual(1e-5 * b[i].loss);
      expect(a[i].sparsity).toEqual(b[i].sparsity);
      a[i].gradNorm.forEach((v, l) => expect(Math.abs(v - b[i].gradNorm[l])).toBeLessThanOrEqual(1e-4 * b[i].gradNorm[l]));
    }
  });

  it('is left out with telemetry off (clipping keeps its gradient norms) and on the CPU backend', async () => {
    const cfg = { batch: 16, l1: 0, telemetry: false, optimizer: { ...trainerOptions().optimizer, clipNorm: 1 } };
    const entries = ops(planTraining(model, cfg, dataShape(), SOFTWARE_TUNING).step).map((s) => s.op.entry);
    expect(entries).toContain('main'); // sumsq over the gradients for clipping
    expect(entries.filter((e) => e.endsWith('_stats') || e.startsWith('finish_'))).toEqual([]);
    const cpu: Backend = new CpuBackend();
    const t = await trainer(cpu, model, trainerOptions({ batch: 16 }));
    expect(ops(t.plan.step).some((s) => s.op.shader === 'layer_stats')).toBe(true);
  });

  it.each([
    ['no hidden layer', [] as number[], 9],
    ['batch 1', [70, 33, 5], 1],
  ])('%s: the plain steps’ telemetry', async (_, hidden, batch) => {
    const m = smallModel({ hidden });
    const opts = trainerOptions({ batch });
    const fused = await trainer(new WebGpuBackend(await gpu(), SOFTWARE_TUNING), m, opts);
    const plain = await trainer(new WebGpuBackend(await gpu(), plainOf(SOFTWARE_TUNING)), m, opts);
    expect(ops(fused.plan.step).some((s) => s.op.entry === 'main_sumsq')).toBe(true);
    const [a, b] = [await collect(fused.run(5)), await collect(plain.run(5))];
    for (let i = 0; i < a.length; i++) {
      expect(a[i].loss).toBe(b[i].loss);
      expect(a[i].sparsity).toEqual(b[i].sparsity);
      expect(a[i].deadUnits).toEqual(b[i].deadUnits);
      for (const k of ['gradNorm', 'biasGradNorm', 'deltaNorm'] as const) {
        expect(a[i][k].length).toBe(hidden.length + 1);
        a[i][k].forEach((v, l) => expect(Math.abs(v - b[i][k][l])).toBeLessThanOrEqual(1e-5 * b[i][k][l]));
      }
    }
  });

  it('is left out where a layer is split over several bindings', () => {
    const cfg = { batch: 8, l1: 0, telemetry: true, optimizer: trainerOptions().optimizer };
    const wide = smallModel({ hidden: [300] });
    const split = planTraining(wide, cfg, dataShape(), SOFTWARE_TUNING, { ...UNLIMITED, bindingBytes: 16384, source: 'a test budget' });
    expect(split.layout.layers[0].chunks.length).toBeGreaterThan(1);
    expect(ops(split.step).some((s) => s.op.shader === 'layer_stats')).toBe(true);
    expect(ops(split.step).some((s) => s.op.entry === 'main_stats')).toBe(false);
  });
});

function dataShape() {
  const d = smallData();
  return { features: d.features, examples: d.examples, scale: 1, shift: 0 };
}
