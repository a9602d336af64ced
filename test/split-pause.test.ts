// The rule that pauses splitting products across helper threads when the helpers lose
// time (busy cores): how long pauses last, how they back off and recover, and that timing
// runs are never paused or judged.
import { describe, expect, it } from 'vitest';
import { PAUSE_FIRST, PAUSE_MOST, SplitPause } from '../src/backend/cpu/wasm/split-pause.ts';

/** Products refused by allow() before one is allowed again (counting that one's call). */
function pauseLength(p: SplitPause): number {
  let refused = 0;
  while (!p.allow()) refused++;
  return refused;
}

const lose = (p: SplitPause, n = 3) => {
  for (let i = 0; i < n; i++) p.judge(0.7, 5);
};

describe('SplitPause', () => {
  it('splits until three split products in a row lose, then pauses PAUSE_FIRST products', () => {
    const p = new SplitPause();
    expect(p.allow()).toBe(true);
    lose(p, 2);
    p.judge(1.6, 5); // a win in between: the count starts again
    lose(p, 2);
    expect(p.allow()).toBe(true);
    expect(p.pauses).toBe(0);
    lose(p, 1);
    expect(p.pauses).toBe(1);
    expect(p.remaining).toBe(PAUSE_FIRST);
    expect(pauseLength(p)).toBe(PAUSE_FIRST);
  });

  it('losing again right after a pause doubles the next, up to PAUSE_MOST; a win goes back to PAUSE_FIRST', () => {
    const p = new SplitPause();
    const lengths: number[] = [];
    for (let i = 0; i < 6; i++) {
      lose(p);
      lengths.push(pauseLength(p));
    }
    expect(lengths).toEqual([12, 24, 48, 48, 48, 48].map((n) => Math.min(n, PAUSE_MOST)));
    expect(PAUSE_MOST).toBeLessThanOrEqual(4 * PAUSE_FIRST);
    p.judge(1.2, 5);
    lose(p);
    expect(pauseLength(p)).toBe(PAUSE_FIRST);
  });

  it('products too short to time are not judged', () => {
    const p = new SplitPause();
    for (let i = 0; i < 10; i++) p.judge(0.1, 0.1);
    expect(p.pauses).toBe(0);
    expect(p.allow()).toBe(true);
  });

  it('a timing run splits even during a pause, judges nothing, and leaves the pause as it was', () => {
    const p = new SplitPause();
    lose(p);
    expect(p.remaining).toBe(PAUSE_FIRST);
    const inside = p.suspend(() => {
      lose(p, 6);
      return [p.allow(), p.allow(), p.allow()];
    });
    expect(inside).toEqual([true, true, true]);
    expect(p.pauses).toBe(1);
    expect(p.remaining).toBe(PAUSE_FIRST);
  });
});
