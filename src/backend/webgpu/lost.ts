// Watching for a lost device: one handler on device.lost per device, however many waits
// are made. Racing every wait against device.lost would attach a reaction to that
// never-settling promise per call, kept for the device's lifetime (a slow leak per step).

export class DeviceLostError extends Error {}

export class LostWatch {
  /** Set once the device is lost: why, in words. */
  reason?: string;
  private waiters = new Set<(e: Error) => void>();

  constructor(device: GPUDevice) {
    device.lost.then((info) => {
      this.reason = `the GPU device was lost (${info.reason}): ${info.message || 'no message'}`;
      const err = new DeviceLostError(this.reason);
      for (const fail of this.waiters) fail(err);
      this.waiters.clear();
    });
  }

  /** Waits that have not settled yet (each one is forgotten as soon as it settles). */
  get pending(): number {
    return this.waiters.size;
  }

  /** p, or a DeviceLostError as soon as the device is lost (never a hang). */
  wait<T>(p: Promise<T>): Promise<T> {
    if (this.reason) return Promise.reject(new DeviceLostError(this.reason));
    return new Promise<T>((resolve, reject) => {
      this.waiters.add(reject);
      p.then(
        (v) => {
          this.waiters.delete(reject);
          resolve(v);
        },
        (e) => {
          this.waiters.delete(reject);
          reject(e);
        },
      );
    });
  }
}

const watches = new WeakMap<GPUDevice, LostWatch>();

/** The one watch of this device (every backend on the device shares it). */
export function lostWatch(device: GPUDevice): LostWatch {
  let w = watches.get(device);
  if (!w) {
    w = new LostWatch(device);
    watches.set(device, w);
  }
  return w;
}
