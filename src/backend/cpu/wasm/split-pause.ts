// When to stop splitting products across helper threads for a while. Other work on the
// cores (another process, a browser tiering up its WebAssembly in the background) can
// make a split product slower than the caller alone would have been: after SLOW_LIMIT such
// products in a row, the next PAUSE_FIRST products that could be split run on the caller
// alone; a loss again right after a pause doubles the next one, up to PAUSE_MOST; a split
// that pays resets it.
//
// Every product that could be split counts towards a pause, dense or sparse, so a pause
// lasts a bounded number of steps whatever path the products take; and PAUSE_MOST is a
// few steps' worth of a large network's products: on a machine shared with other work,
// the load that caused a pause is often gone a moment later, and a long pause would keep
// the backend on one core (and a smaller share of a busy machine) long after.

const SLOW_LIMIT = 3;
export const PAUSE_FIRST = 12;
export const PAUSE_MOST = 48;
/** Products faster than this are not judged (timer and wake-up noise). */
const MIN_JUDGED_MS = 0.25;

export class SplitPause {
  /** How many pauses began. */
  pauses = 0;
  /** Consecutive split products that ran slower than one thread would have. */
  private slow = 0;
  /** Products still to run on one thread before trying the helpers again. */
  private left = 0;
  /** The next pause's length (products). */
  private next = PAUSE_FIRST;
  /** Split products judged since the last pause ended. */
  private sincePause = Infinity;
  /** While > 0 (timing runs), helpers are always used and nothing is judged. */
  private suspended = 0;

  /** Whether a product that is large enough may be split now; counts it towards a pause. */
  allow(): boolean {
    if (this.suspended > 0) return true;
    if (this.left === 0) return true;
    this.left--;
    return false;
  }

  /**
   * Judges a split product: `gain` is how long the caller alone would have taken over how
   * long the split took (below 1: the helpers slowed it down), `ms` how long it took.
   */
  judge(gain: number, ms: number): void {
    if (this.suspended > 0 || ms < MIN_JUDGED_MS) return;
    this.sincePause++;
    if (gain >= 1) {
      this.slow = 0;
      this.next = PAUSE_FIRST;
      this.sincePause = Infinity;
      return;
    }
    if (++this.slow < SLOW_LIMIT) return;
    this.slow = 0;
    // Lost again within a few splits of the last pause: the cores are still busy.
    if (this.sincePause <= 2 * SLOW_LIMIT) this.next = Math.min(PAUSE_MOST, this.next * 2);
    this.left = this.next;
    this.sincePause = 0;
    this.pauses++;
  }

  /** Whether a pause is on now (for work that follows the rule without counting towards it). */
  get paused(): boolean {
    return this.suspended === 0 && this.left > 0;
  }

  /** Products left in the current pause (0: splitting allowed). */
  get remaining(): number {
    return this.left;
  }

  /**
   * Runs f with the rule suspended: products split as they would on idle cores and are
   * not judged (timing runs compare paths as they run with the helpers), and the state
   * is as before afterwards.
   */
  suspend<T>(f: () => T): T {
    this.suspended++;
    try {
      return f();
    } finally {
      this.suspended--;
    }
  }
}
