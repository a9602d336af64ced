// The bench's interleaving: over the repetitions every engine runs first and last equally
// often, after engines on both sides of it, so a shared machine's drift and one engine's after-effects
// (caches, a busy core) do not always land on the same engine.
import { describe, expect, it } from 'vitest';
import { engineOrder, quietWaitMs } from '../bench/run.ts';
import { ENGINE_GAP_MS } from '../bench/spec.ts';

describe('the order engines run in, repetition by repetition', () => {
  it('two engines alternate which runs first', () => {
    const orders = [0, 1, 2, 3].map((rep) => engineOrder(['a', 'b'], rep).join(''));
    expect(orders).toEqual(['ab', 'ba', 'ba', 'ab']);
  });

  for (const n of [1, 2, 3, 4, 5]) {
    it(`${n} engines over ${2 * n} repetitions: each runs first, and last, equally often, after engines on both sides`, () => {
      const engines = Array.from({ length: n }, (_, i) => i);
      const first = new Array(n).fill(0);
      const last = new Array(n).fill(0);
      const after = engines.map(() => new Set<number>());
      for (let rep = 0; rep < 2 * n; rep++) {
        const order = engineOrder(engines, rep);
        expect([...order].sort()).toEqual(engines);
        first[order[0]]++;
        last[order[n - 1]]++;
        for (let i = 1; i < n; i++) after[order[i]].add(order[i - 1]);
      }
      expect(first).toEqual(new Array(n).fill(2));
      expect(last).toEqual(new Array(n).fill(2));
      // Turned around every n repetitions: no engine always follows the same one.
      for (const a of after) expect(a.size).toBe(Math.min(2, n - 1));
    });
  }
});

describe('the quiet gap between engines', () => {
  it('an engine measuring right after another waits out the gap; after itself, or after the gap, it does not wait', () => {
    const last = { engine: 'pytorch-cpu@python', at: 1000 };
    expect(quietWaitMs(undefined, 'rectigrad-cpu@node', 1000)).toBe(0);
    expect(quietWaitMs(last, 'rectigrad-cpu@node', 1000)).toBe(ENGINE_GAP_MS);
    expect(quietWaitMs(last, 'rectigrad-cpu@node', 1000 + ENGINE_GAP_MS / 3)).toBeCloseTo((2 * ENGINE_GAP_MS) / 3, 9);
    expect(quietWaitMs(last, 'rectigrad-cpu@node', 1000 + ENGINE_GAP_MS + 1)).toBe(0);
    expect(quietWaitMs(last, 'pytorch-cpu@python', 1000)).toBe(0);
  });
});
