import { describe, expect, it } from 'vitest';
import type { BufRange } from '../src/ops/op.ts';
import { softmaxXent } from '../src/ops/softmax-xent.ts';
import { Rng } from '../src/util/rng.ts';
import { maxRelErr, regions, runBoth } from './support/op-harness.ts';

const rng = new Rng(23);
const SLOTS = { loss: 3, correct: 6 };
const STATS = 9;

type Kind = 'uniform' | 'extreme' | 'ties';

/** Logits: uniform in ±4; `extreme` mixes ±80 in; `ties` uses a few integer levels (argmax ties). */
function logits(n: number, kind: Kind): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 'ties') a[i] = rng.int(3) - 1 || 0.5;
    else if (kind === 'extreme' && rng.next() < 0.3) a[i] = rng.next() < 0.5 ? -80 : 80;
    else a[i] = rng.uniform(-4, 4) || 0.25;
  }
  return a;
}

async function run(rows: number, classes: number, kind: Kind) {
  const x = logits(rows * classes, kind);
  const y = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    // Half the labels at the row's first maximum, so the correct count is far from 0.
    let arg = 0;
    for (let k = 1; k < classes; k++) if (x[r * classes + k] > x[r * classes + arg]) arg = k;
    y[r] = rng.next() < 0.5 ? arg : rng.int(classes);
  }
  const [xr, yr] = regions('in', [rows * classes, rows]);
  const [dr] = regions('d', [rows * classes]);
  const sr: BufRange = { arena: 'stats', offset: 0, length: STATS };
  // Stats words other than the two slots hold values that must survive.
  const stats = new Uint32Array(STATS).map((_, i) => 1000 + i);
  const [d, s] = await runBoth(
    [softmaxXent('xent', rows, classes, SLOTS, { logits: xr, labels: yr, dlogits: dr, stats: sr })],
    [
      { range: xr, data: x },
      { range: yr, data: y },
      { range: sr, data: stats },
    ],
    [dr, sr],
  );
  return { d, s, stats };
}

describe('softmax cross-entropy on the GPU matches its CPU twin', () => {
  const shapes: [number, number, Kind][] = [];
  for (const classes of [1, 2, 10, 37]) {
    for (const rows of [1, 3, 64, 257]) shapes.push([rows, classes, 'uniform']);
    shapes.push([100, classes, 'extreme'], [100, classes, 'ties']);
  }
  shapes.push([1, 1000, 'uniform'], [3000, 10, 'uniform'], [513, 1000, 'extreme'], [2049, 63, 'ties']);
  for (let i = 0; i < 16; i++) {
    shapes.push([1 + rng.int(3000), 1 + rng.int(1000), (['uniform', 'extreme', 'ties'] as const)[i % 3]]);
  }
  it.each(shapes)('%i rows × %i classes, %s logits', async (rows, classes, kind) => {
    const { d, s, stats } = await run(rows, classes, kind);
    expect(maxRelErr(d.cpu.f, d.gpu.f)).toBeLessThan(1e-4);
    const loss = s.cpu.f[SLOTS.loss];
    expect(Number.isFinite(loss)).toBe(true);
    expect(maxRelErr([loss], [s.gpu.f[SLOTS.loss]])).toBeLessThan(1e-4);
    expect(s.gpu.u[SLOTS.correct]).toBe(s.cpu.u[SLOTS.correct]);
    if (classes === 1) {
      expect(s.cpu.u[SLOTS.correct]).toBe(rows);
      expect(loss).toBe(0);
    }
    for (let i = 0; i < STATS; i++) {
      if (i === SLOTS.loss || i === SLOTS.correct) continue;
      expect(s.gpu.u[i]).toBe(stats[i]);
      expect(s.cpu.u[i]).toBe(stats[i]);
    }
  });

  it('each row of dlogits sums to 0, negative at the label and positive elsewhere', async () => {
    const rows = 50;
    const classes = 12;
    const x = logits(rows * classes, 'uniform');
    const y = new Uint32Array(rows).map(() => rng.int(classes));
    const [xr, yr] = regions('in', [x.length, rows]);
    const [dr] = regions('d', [x.length]);
    const sr: BufRange = { arena: 'stats', offset: 0, length: STATS };
    const step = softmaxXent('xent', rows, classes, SLOTS, { logits: xr, labels: yr, dlogits: dr, stats: sr });
    const [d] = await runBoth(
      [step],
      [
        { range: xr, data: x },
        { range: yr, data: y },
      ],
      [dr],
    );
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let k = 0; k < classes; k++) {
        const g = d.gpu.f[r * classes + k];
        sum += g;
        expect(k === y[r] ? g < 0 : g > 0).toBe(true);
      }
      expect(Math.abs(sum)).toBeLessThan(1e-6);
    }
  });

  it('is deterministic: two GPU runs over the same inputs agree bit for bit', async () => {
    const rows = 1500;
    const classes = 37;
    const x = logits(rows * classes, 'uniform');
    const y = new Uint32Array(rows).map(() => rng.int(classes));
    const [xr, yr] = regions('in', [x.length, rows]);
    const [dr] = regions('d', [x.length]);
    const sr: BufRange = { arena: 'stats', offset: 0, length: STATS };
    const step = softmaxXent('xent', rows, classes, SLOTS, { logits: xr, labels: yr, dlogits: dr, stats: sr });
    const init = [
      { range: xr, data: x },
      { range: yr, data: y },
    ];
    const [d1, s1] = await runBoth([step], init, [dr, sr]);
    const [d2, s2] = await runBoth([step], init, [dr, sr]);
    expect(Array.from(s1.gpu.u)).toEqual(Array.from(s2.gpu.u));
    expect(Buffer.from(d1.gpu.u.buffer).equals(Buffer.from(d2.gpu.u.buffer))).toBe(true);
  });
});
