// Snapshots of GPU regions without stalling: each copy goes into one of a ring of mappable
// staging buffers (one ring per snapshot size) and is mapped asynchronously, so a trainer
// reads step t's stats while steps t+1… are already queued.
import type { View } from '../../ops/op.ts';

export const STAGING_RING = 3;

export class StagingRings {
  private depth = STAGING_RING;
  private rings = new Map<number, { buffers: GPUBuffer[]; busy: boolean[]; next: number }>();

  constructor(
    private readonly device: GPUDevice,
    private readonly createBuffer: (desc: GPUBufferDescriptor) => GPUBuffer,
    private readonly wait: <T>(p: Promise<T>) => Promise<T>,
  ) {}

  /** Staging buffers per snapshot size: at least STAGING_RING, more when a caller runs further ahead. */
  reserve(n: number): void {
    if (this.rings.size && n > this.depth) throw new Error('reserveSnapshots must be called before the first snapshot');
    this.depth = Math.max(this.depth, n);
  }

  /** Copies `length` floats from `source` (after everything submitted so far) and hands them over when mapped. */
  snapshot(source: { buffer: GPUBuffer; offset: number }, length: number): Promise<View> {
    const bytes = Math.max(4, length * 4);
    let ring = this.rings.get(bytes);
    if (!ring) {
      const buffers = Array.from({ length: this.depth }, () =>
        this.createBuffer({ label: 'staging', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      );
      ring = { buffers, busy: buffers.map(() => false), next: 0 };
      this.rings.set(bytes, ring);
    }
    const r = ring;
    const slot = r.next;
    if (r.busy[slot]) throw new Error(`more than ${this.depth} snapshots in flight: await an earlier one before taking another`);
    r.next = (slot + 1) % this.depth;
    r.busy[slot] = true;
    // The copy is encoded now, so it sees exactly the work enqueued before this call.
    const staging = r.buffers[slot];
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(source.buffer, source.offset, staging, 0, length * 4);
    this.device.queue.submit([enc.finish()]);
    return this.wait(staging.mapAsync(GPUMapMode.READ))
      .then(() => {
        const copy = staging.getMappedRange().slice(0, length * 4);
        staging.unmap();
        return { f: new Float32Array(copy), u: new Uint32Array(copy) } as View;
      })
      .finally(() => {
        r.busy[slot] = false;
      });
  }

  destroy(): void {
    for (const r of this.rings.values()) for (const b of r.buffers) b.destroy();
    this.rings.clear();
  }
}
