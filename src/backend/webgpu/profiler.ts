// GPU time per op group from timestamp queries (WebGpuBackend.setProfiling): while on, a
// submit's steps run one compute pass per run of same-group ops, each pass timed, and the
// timestamps are read back through a small ring of mappable buffers without stalling.
import type { OpGroup } from '../../ops/op.ts';

/** Passes one profiled submit may time (two timestamps each); later passes go untimed. */
const PROFILE_PASSES = 128;
/** Profiled submits whose timestamps may be in flight at once; a submit finding none free is not sampled. */
const PROFILE_RING = 4;

/** GPU time per op group, from timestamp queries (see WebGpuBackend.setProfiling). */
export interface GpuProfile {
  /** Submits whose passes were timed. */
  submits: number;
  /** Milliseconds of GPU time per op group, summed over those submits. */
  ms: Partial<Record<OpGroup, number>>;
}

export class Profiler {
  private querySet: GPUQuerySet;
  private resolveBuffer: GPUBuffer;
  private ring: GPUBuffer[];
  private busy: boolean[];
  /** Per ring slot: the group of each timed pass, and how many passes. */
  private groups: OpGroup[][];
  private passes: number[];
  private inflight = new Set<Promise<void>>();
  private result: GpuProfile = { submits: 0, ms: {} };

  constructor(
    device: GPUDevice,
    createBuffer: (desc: GPUBufferDescriptor) => GPUBuffer,
    private readonly wait: <T>(p: Promise<T>) => Promise<T>,
  ) {
    const bytes = PROFILE_PASSES * 16;
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_PASSES });
    this.resolveBuffer = createBuffer({ label: 'timestamps', size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.ring = Array.from({ length: PROFILE_RING }, () =>
      createBuffer({ label: 'timestamp staging', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    );
    this.busy = this.ring.map(() => false);
    this.groups = this.ring.map(() => new Array<OpGroup>(PROFILE_PASSES));
    this.passes = this.ring.map(() => 0);
  }

  /** Clears the totals. */
  reset(): void {
    this.result = { submits: 0, ms: {} };
  }

  /** A free ring slot for the next submit (marked busy), or -1 when none is free: that submit goes untimed. */
  claim(): number {
    const slot = this.busy.indexOf(false);
    if (slot >= 0) this.busy[slot] = true;
    return slot;
  }

  /** A timed pass for a run of `group` ops, or undefined when the submit has timed all it may. */
  timedPass(enc: GPUCommandEncoder, slot: number, timed: number, group: OpGroup): GPUComputePassEncoder | undefined {
    if (timed >= PROFILE_PASSES) return undefined;
    const q = 2 * timed;
    this.groups[slot][timed] = group;
    return enc.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
  }

  /** After the submit's passes are encoded: resolve its `timed` timestamps into the slot's buffer. */
  finishEncoding(enc: GPUCommandEncoder, slot: number, timed: number): void {
    this.passes[slot] = timed;
    if (timed > 0) {
      enc.resolveQuerySet(this.querySet, 0, 2 * timed, this.resolveBuffer, 0);
      enc.copyBufferToBuffer(this.resolveBuffer, 0, this.ring[slot], 0, 16 * timed);
    }
  }

  /** After the submit: read one slot's timestamps into the totals, then free the slot. */
  collect(slot: number): void {
    const n = this.passes[slot];
    if (n === 0) {
      this.busy[slot] = false;
      return;
    }
    const buf = this.ring[slot];
    const done: Promise<void> = this.wait(buf.mapAsync(GPUMapMode.READ, 0, 16 * n))
      .then(() => {
        const t = new BigUint64Array(buf.getMappedRange(0, 16 * n));
        const ms = this.result.ms;
        for (let i = 0; i < n; i++) {
          const d = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) / 1e6 : 0;
          ms[this.groups[slot][i]] = (ms[this.groups[slot][i]] ?? 0) + d;
        }
        this.result.submits++;
        buf.unmap();
      })
      .finally(() => {
        this.busy[slot] = false;
        this.inflight.delete(done);
      });
    this.inflight.add(done);
  }

  /** The totals since the last reset, once every timed submit has reported. */
  async profile(): Promise<GpuProfile> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
    return { submits: this.result.submits, ms: { ...this.result.ms } };
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    for (const b of this.ring) b.destroy();
  }
}
