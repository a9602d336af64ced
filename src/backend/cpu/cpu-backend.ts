// The reference backend: each plan step runs its op's CPU twin over typed-array views
// of the arenas. In float64 mode it serves the gradient checks (central differences).
import type { BufRange, FloatArray, StepValues, View } from '../../ops/op.ts';
import { isClear, type Backend, type CreationCounters, type PlanItem } from '../backend.ts';
import { SOFTWARE_TUNING } from '../tuning.ts';

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly adapter: string;
  readonly counters: CreationCounters = { buffers: 0, pipelines: 0, bindGroups: 0 };
  /** Tile sizes only shape GPU pipelines; the twins ignore them. */
  readonly tuning = SOFTWARE_TUNING;
  private arenas = new Map<string, View>();

  /**
   * float64: floats live in Float64Arrays with integers in separate Uint32Arrays (every
   * region is read and written through one type only, so nothing relies on aliasing).
   */
  constructor(readonly precision: 'float32' | 'float64' = 'float32') {
    const cores = typeof navigator !== 'undefined' && navigator.hardwareConcurrency;
    this.adapter = `CPU (TypeScript, ${precision}${cores ? `, ${cores} cores, one used` : ''})`;
  }

  allocate(sizes: Record<string, number>): void {
    for (const [name, n] of Object.entries(sizes)) {
      if (this.arenas.has(name)) throw new Error(`arena ${name} is already allocated`);
      let view: View;
      if (this.precision === 'float32') {
        const buf = new ArrayBuffer(n * 4);
        view = { f: new Float32Array(buf), u: new Uint32Array(buf) };
      } else {
        view = { f: new Float64Array(n), u: new Uint32Array(n) };
      }
      this.arenas.set(name, view);
      this.counters.buffers++;
    }
  }

  /** The views of a region (shared memory, not a copy). */
  view(r: BufRange): View {
    const a = this.arenas.get(r.arena);
    if (!a) throw new Error(`no arena named ${r.arena}`);
    if (r.offset + r.length > a.f.length) {
      throw new Error(`region ${r.arena}[${r.offset}, +${r.length}] exceeds the arena (${a.f.length})`);
    }
    return { f: a.f.subarray(r.offset, r.offset + r.length), u: a.u.subarray(r.offset, r.offset + r.length) };
  }

  writeF(r: BufRange, data: ArrayLike<number>): void {
    this.view(r).f.set(data as ArrayLike<number>);
  }
  writeU(r: BufRange, data: Uint32Array): void {
    this.view(r).u.set(data);
  }
  async readF(r: BufRange): Promise<FloatArray> {
    return this.view(r).f.slice();
  }
  async readU(r: BufRange): Promise<Uint32Array> {
    return this.view(r).u.slice();
  }
  async prepare(): Promise<void> {}

  run(items: PlanItem[], values: StepValues): void {
    for (const item of items) {
      if (isClear(item)) {
        const v = this.view(item.clear);
        v.f.fill(0);
        v.u.fill(0);
        continue;
      }
      const views: Record<string, View> = {};
      for (const [name, r] of Object.entries(item.bindings)) views[name] = this.view(r);
      item.op.cpu(item.constants, views, values);
    }
  }

  async snapshot(r: BufRange): Promise<View> {
    const v = this.view(r);
    return { f: v.f.slice(), u: v.u.slice() };
  }
  async finish(): Promise<void> {}
  destroy(): void {
    this.arenas.clear();
  }
}
