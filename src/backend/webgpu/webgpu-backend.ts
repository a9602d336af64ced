// The WebGPU backend: one GPU buffer per arena (or per chunk of an arena the plan cuts into
// several, where one binding cannot hold it), one pipeline per (shader, entry, constants),
// one bind group per plan step, all created before the first step. A call
// to run() encodes its items into one command buffer and submits it.
import type { BufRange, FloatArray, OpGroup, PlanStep, StepValues, View } from '../../ops/op.ts';
import type { Backend, CreationCounters } from '../backend.ts';
import { isClear, type PlanItem } from '../../ops/op.ts';
import { adapterName, type AdapterDescription, type GpuContext } from './device.ts';
import { Profiler, type GpuProfile } from './profiler.ts';
import { reflectEntry, type ReflectedBinding } from './reflect.ts';
import { STAGING_RING, StagingRings } from './staging-ring.ts';
import { MATMUL_CANDIDATES, type MatmulCandidate } from '../../ops/matmul-candidates.ts';
import { registerCandidate, shapeKey, type KernelTuning } from '../../ops/tuning.ts';
import { autotuneMatmul, type TuneOptions, type TuneProduct, type TuneReport } from './autotune.ts';
import { tuningFor } from './tuning.ts';
import { DeviceLostError, lostWatch, type LostWatch } from './lost.ts';
import { limitsOf, type PlanLimits, type PlanMemory } from '../../plan/limits.ts';

export { DeviceLostError };

/** WebGPU's largest required storage-buffer offset alignment, in bytes. */
export const BIND_ALIGN = 256;
export { STAGING_RING };
export type { GpuProfile };

interface Compiled {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  dispatch: [number, number, number];
}

const camel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

/** An arena's buffers: chunk i holds elements [starts[i], starts[i + 1]) (the last: to the arena's end). */
interface Arena {
  starts: number[];
  length: number;
  buffers: GPUBuffer[];
}

/** One chunk's part of a range: elements [at, at + length) of the range, from byte `byteOffset` of `buffer`. */
interface Piece {
  buffer: GPUBuffer;
  byteOffset: number;
  at: number;
  length: number;
}

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly adapter: string;
  readonly counters: CreationCounters = { buffers: 0, pipelines: 0, bindGroups: 0 };
  readonly tuning: KernelTuning;
  readonly limits: PlanLimits;
  private device: GPUDevice;
  private buffers = new Map<string, Arena>();
  private largestBinding = 0;
  private pipelines = new Map<string, GPUComputePipeline>();
  private compiled = new WeakMap<PlanStep, Compiled>();
  private stepUniform?: { buffer: GPUBuffer; layout: [string, { offset: number; type: 'f32' | 'u32' }][]; bytes: ArrayBuffer; f: Float32Array; u: Uint32Array };
  private staging: StagingRings;
  private watch: LostWatch;
  private failed?: string;
  private prof?: Profiler;
  private profiling = false;

  constructor(
    readonly ctx: GpuContext,
    tuning?: KernelTuning,
  ) {
    this.device = ctx.device;
    this.adapter = adapterName(ctx.adapter);
    // A copy: measured choices are added to it per shape (tune()).
    this.tuning = { ...(tuning ?? tuningFor(ctx.adapter, ctx.device.limits)) };
    this.baseChoice = this.tuning.matmulChoice;
    // RECTIGRAD_MAX_BINDING_BYTES lowers the binding budget (tests split networks with it).
    const env = typeof process !== 'undefined' ? process.env?.RECTIGRAD_MAX_BINDING_BYTES : undefined;
    this.limits = limitsOf(this.device.limits, env);
    this.watch = lostWatch(this.device);
    this.staging = new StagingRings(
      this.device,
      (d) => this.createBuffer(d),
      (p) => this.wait(p),
    );
    // An error nobody awaited (a rejected submit, say) stops the run at the next call
    // instead of letting training go on over buffers that were never written.
    this.device.onuncapturederror = (e) => {
      this.failed ??= `WebGPU rejected work: ${e.error.message}`;
    };
  }

  get adapterInfo(): AdapterDescription {
    return this.ctx.adapter;
  }

  get deviceLimits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** The per-shape choice before any measurement (the heuristic on a GPU), for shapes tune() did not measure. */
  private readonly baseChoice?: KernelTuning['matmulChoice'];
  /** The last tune() report (what was measured or taken from the cache), if any. */
  lastTune?: TuneReport;
  /** The matmul candidate chosen per product shape (by shapeKey), for the plans made after tune(). */
  chosen: Record<string, MatmulCandidate> = {};

  /**
   * Chooses the matmul configuration of each product shape by measurement (autotune.ts),
   * for the plans made after it. `auto` (the default) measures on hardware adapters only:
   * SwiftShader's configuration is measured already, and RECTIGRAD_MATMUL_TILES, when set,
   * forces one configuration for every shape.
   */
  async tune(products: TuneProduct[], opts: TuneOptions & { mode?: 'auto' | 'on' | 'off' } = {}): Promise<TuneReport | undefined> {
    const mode = opts.mode ?? 'auto';
    const forced = typeof process !== 'undefined' && !!process.env?.RECTIGRAD_MATMUL_TILES;
    if (mode === 'off' || (mode === 'auto' && (this.ctx.adapter.isFallback || forced))) return undefined;
    // The adapter's register configuration heads the list (measured first where no heuristic applies).
    const base = registerCandidate(this.tuning.matmul);
    const candidates = opts.candidates ?? [base, ...MATMUL_CANDIDATES.filter((c) => c.name !== base.name)];
    // On a GPU the heuristic's pick for each shape (where it fits the device) is measured
    // first: a budget cut short still leaves a good kernel (the wide network's 4096-wide
    // products ran 2.8× faster so).
    const report = await autotuneMatmul(this, products, {
      first: this.baseChoice,
      ...opts,
      candidates,
    });
    this.chosen = { ...this.chosen, ...report.chosen };
    const chosen = this.chosen;
    const before = this.baseChoice;
    this.tuning.matmulChoice = (s) => chosen[shapeKey(s)] ?? before?.(s);
    this.lastTune = report;
    return report;
  }

  /** Destroys arenas no longer needed (their regions must not be used again). */
  free(arenas: string[]): void {
    for (const name of arenas) {
      for (const b of this.buffers.get(name)?.buffers ?? []) b.destroy();
      this.buffers.delete(name);
    }
  }

  private check(): void {
    if (this.watch.reason) throw new DeviceLostError(`${this.watch.reason}. Restart the run (--resume from the last checkpoint).`);
    if (this.failed) throw new Error(this.failed);
  }

  private createBuffer(desc: GPUBufferDescriptor): GPUBuffer {
    this.counters.buffers++;
    return this.device.createBuffer(desc);
  }

  allocate(sizes: Record<string, number>, chunks: Record<string, number[]> = {}): void {
    this.check();
    // A failed allocation surfaces at the next call (prepare() awaits it) as a clear error.
    this.device.pushErrorScope('out-of-memory');
    try {
      this.allocateBuffers(sizes, chunks);
    } finally {
      this.device.popErrorScope().then((err) => {
        if (err) this.failed ??= `the GPU could not allocate the model's buffers (${err.message}): use smaller layers or batch, or the CPU backend`;
      });
    }
  }

  private allocateBuffers(sizes: Record<string, number>, chunks: Record<string, number[]>): void {
    const max = this.device.limits.maxBufferSize;
    for (const [name, n] of Object.entries(sizes)) {
      if (this.buffers.has(name)) throw new Error(`arena ${name} is already allocated`);
      const starts = chunks[name] ?? [0];
      if (starts[0] !== 0 || starts.some((s, i) => (i > 0 && s <= starts[i - 1]) || s >= n || (s * 4) % BIND_ALIGN !== 0)) {
        throw new Error(`arena ${name}: chunk offsets ${starts.join(', ')} must start at 0, rise, stay inside ${n} and be ${BIND_ALIGN}-byte aligned`);
      }
      const buffers = starts.map((s, i) => {
        const size = Math.max(16, Math.ceil((((starts[i + 1] ?? n) - s) * 4) / 16) * 16);
        if (size > max) {
          throw new Error(
            `the ${name} buffer needs ${(size / 2 ** 20).toFixed(0)} MiB but this adapter allows at most ` +
              `${(max / 2 ** 20).toFixed(0)} MiB per buffer: use smaller layers or batch, or the CPU backend`,
          );
        }
        const label = starts.length > 1 ? `${name}#${i}` : name;
        return this.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      });
      this.buffers.set(name, { starts, length: n, buffers });
    }
  }

  /** The parts of a range in each chunk of its arena (one part unless the range crosses chunks). */
  private pieces(r: BufRange): Piece[] {
    const a = this.buffers.get(r.arena);
    if (!a) throw new Error(`no arena named ${r.arena}`);
    if (r.offset < 0 || r.offset + r.length > a.length) {
      throw new Error(`region ${r.arena}[${r.offset}, +${r.length}] exceeds the arena (${a.length})`);
    }
    const out: Piece[] = [];
    const end = r.offset + r.length;
    for (let i = 0; i < a.starts.length; i++) {
      const lo = Math.max(r.offset, a.starts[i]);
      const hi = Math.min(end, a.starts[i + 1] ?? a.length);
      if (hi > lo) out.push({ buffer: a.buffers[i], byteOffset: (lo - a.starts[i]) * 4, at: lo - r.offset, length: hi - lo });
    }
    if (r.length === 0) {
      // An empty range (a token binding): the chunk it starts in.
      const i = a.starts.findLastIndex((s) => s <= r.offset);
      out.push({ buffer: a.buffers[i], byteOffset: (r.offset - a.starts[i]) * 4, at: 0, length: 0 });
    }
    return out;
  }

  /** The one buffer a bound range lies in, and the range's byte offset there. */
  private locate(r: BufRange): { buffer: GPUBuffer; offset: number } {
    const p = this.pieces(r);
    if (p.length !== 1) {
      throw new Error(`region ${r.arena}[${r.offset}, +${r.length}] crosses buffers of the arena: a binding must lie within one chunk`);
    }
    return { buffer: p[0].buffer, offset: p[0].byteOffset };
  }

  writeF(r: BufRange, data: ArrayLike<number>): void {
    this.check();
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    this.write({ ...r, length: f.length }, f);
  }

  writeU(r: BufRange, data: Uint32Array): void {
    this.check();
    this.write({ ...r, length: data.length }, data);
  }

  private write(r: BufRange, data: Float32Array | Uint32Array): void {
    for (const p of this.pieces(r)) {
      this.device.queue.writeBuffer(p.buffer, p.byteOffset, data.buffer, data.byteOffset + p.at * 4, p.length * 4);
    }
  }

  /** Buffers and bytes this backend holds for arenas, and the largest binding it has bound. */
  memory(): PlanMemory {
    let buffers = 0;
    let totalBytes = 0;
    for (const a of this.buffers.values()) {
      buffers += a.buffers.length;
      for (const b of a.buffers) totalBytes += b.size;
    }
    return { buffers, totalBytes, largestBindingBytes: this.largestBinding };
  }

  private async readBytes(r: BufRange): Promise<ArrayBuffer> {
    this.check();
    const bytes = Math.max(4, r.length * 4);
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    for (const p of r.length > 0 ? this.pieces(r) : []) enc.copyBufferToBuffer(p.buffer, p.byteOffset, staging, p.at * 4, p.length * 4);
    this.device.queue.submit([enc.finish()]);
    await this.wait(staging.mapAsync(GPUMapMode.READ));
    const out = staging.getMappedRange().slice(0, r.length * 4);
    staging.unmap();
    staging.destroy();
    return out;
  }

  async readF(r: BufRange): Promise<FloatArray> {
    return new Float32Array(await this.readBytes(r));
  }
  async readU(r: BufRange): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(r));
  }

  /**
   * Wait for a GPU promise without hanging on a lost device. The waiters are kept in a
   * set and dropped when they settle: chaining on `device.lost` for every wait would pile
   * up reactions on a promise that never settles (a leak of every step's closures).
   */
  private wait<T>(p: Promise<T>): Promise<T> {
    // The poll loop waits on the watched promise, so a lost device also ends the polling.
    return this.ctx.wait(this.watch.wait(p));
  }

  private pipeline(step: PlanStep): GPUComputePipeline {
    const { shader, entry } = step.op;
    const refl = reflectEntry(shader, entry);
    const constants: Record<string, number> = {};
    for (const [k, v] of Object.entries(step.constants)) if (refl.overrides.has(k)) constants[k] = v;
    const key = `${shader}:${entry}:${Object.keys(constants)
      .sort()
      .map((k) => `${k}=${constants[k]}`)
      .join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ label: shader, code: refl.source });
      p = this.device.createComputePipeline({
        label: `${shader}:${entry}`,
        layout: 'auto',
        compute: { module, entryPoint: entry, constants },
      });
      this.pipelines.set(key, p);
      this.counters.pipelines++;
    }
    return p;
  }

  private uniformFor(b: ReflectedBinding): GPUBuffer {
    if (b.name !== 'step') throw new Error(`uniform ${b.name}: the only uniform a kernel may declare is \`step\``);
    const layout = b.members ?? {};
    if (!this.stepUniform) {
      const size = Math.max(16, b.size ?? 16);
      const bytes = new ArrayBuffer(size);
      this.stepUniform = {
        buffer: this.createBuffer({ label: 'step', size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
        layout: Object.entries(layout),
        bytes,
        f: new Float32Array(bytes),
        u: new Uint32Array(bytes),
      };
    } else if (JSON.stringify(Object.entries(layout)) !== JSON.stringify(this.stepUniform.layout)) {
      throw new Error('every kernel must declare the same `step` uniform struct (see shaders/step.wgsl)');
    }
    return this.stepUniform.buffer;
  }

  private compile(step: PlanStep): Compiled {
    let c = this.compiled.get(step);
    if (c) return c;
    const pipeline = this.pipeline(step);
    const refl = reflectEntry(step.op.shader, step.op.entry);
    const entries: GPUBindGroupEntry[] = [];
    for (const b of refl.bindings) {
      if (b.kind === 'uniform') {
        entries.push({ binding: b.binding, resource: { buffer: this.uniformFor(b) } });
        continue;
      }
      const r = step.bindings[b.name];
      if (!r) throw new Error(`${step.label}: shaders/${step.op.shader}.wgsl binds \`${b.name}\` but the plan gives no region for it`);
      const at = this.locate(r);
      if (at.offset % BIND_ALIGN !== 0) throw new Error(`${step.label}: ${b.name} offset is not ${BIND_ALIGN}-byte aligned`);
      entries.push({ binding: b.binding, resource: { buffer: at.buffer, offset: at.offset, size: Math.max(4, r.length * 4) } });
      this.largestBinding = Math.max(this.largestBinding, r.length * 4);
    }
    const bindGroup = this.device.createBindGroup({ label: step.label, layout: pipeline.getBindGroupLayout(0), entries });
    this.counters.bindGroups++;
    c = { pipeline, bindGroup, dispatch: step.dispatch };
    this.compiled.set(step, c);
    return c;
  }

  /** Compiles every pipeline and bind group, and validates the encoded work once. */
  async prepare(items: PlanItem[]): Promise<void> {
    await this.wait(this.device.queue.onSubmittedWorkDone()); // lets a pending allocation error land
    this.check();
    this.device.pushErrorScope('validation');
    for (const item of items) if (!isClear(item)) this.compile(item);
    // Encoding (never submitted) checks what compiling cannot: how each dispatch uses its
    // buffers, e.g. an arena read and written, or overlapping writable regions.
    this.encode(items).finish();
    const err = await this.wait(this.device.popErrorScope());
    if (err) throw new Error(`WebGPU rejected a kernel or binding: ${err.message}`);
  }

  private encode(items: PlanItem[], slot = -1): GPUCommandEncoder {
    const enc = this.device.createCommandEncoder();
    const prof = slot >= 0 ? this.prof : undefined;
    let pass: GPUComputePassEncoder | undefined;
    let group: OpGroup | undefined;
    let timed = 0;
    for (const item of items) {
      if (isClear(item)) {
        pass?.end();
        pass = undefined;
        for (const p of this.pieces(item.clear)) enc.clearBuffer(p.buffer, p.byteOffset, p.length * 4);
        continue;
      }
      const c = this.compile(item);
      // Profiling: one timed pass per run of same-group steps.
      if (prof && pass && item.op.group !== group) {
        pass.end();
        pass = undefined;
      }
      if (!pass) {
        pass = prof?.timedPass(enc, slot, timed, item.op.group);
        if (pass) {
          timed++;
          group = item.op.group;
        } else pass = enc.beginComputePass();
      }
      pass.setPipeline(c.pipeline);
      pass.setBindGroup(0, c.bindGroup);
      pass.dispatchWorkgroups(...c.dispatch);
    }
    pass?.end();
    prof?.finishEncoding(enc, slot, timed);
    return enc;
  }

  /**
   * Times every compute pass of later run() calls by op group with timestamp queries
   * (steps are then split into one pass per run of same-group ops). Off by default: when
   * off, nothing of it runs. Returns false where the device has no timestamp queries.
   * Switching on clears the totals; the buffers are made once, on first use.
   */
  setProfiling(on: boolean): boolean {
    this.check();
    if (!on || !this.ctx.timestamps) {
      this.profiling = false;
      return !on;
    }
    this.prof ??= new Profiler(
      this.device,
      (d) => this.createBuffer(d),
      (p) => this.wait(p),
    );
    this.prof.reset();
    this.profiling = true;
    return true;
  }

  /** GPU time per op group since profiling was switched on, once every timed submit has reported. */
  async gpuProfile(): Promise<GpuProfile> {
    return this.prof ? this.prof.profile() : { submits: 0, ms: {} };
  }

  /** Writes the step uniform, then encodes the items into one command buffer and submits it. */
  run(items: PlanItem[], values: StepValues): void {
    this.check();
    if (this.stepUniform) {
      const { bytes, layout, buffer, f, u } = this.stepUniform;
      // Each member written as the type the WGSL struct declares (shaders/step.wgsl).
      for (const [name, { offset, type }] of layout) {
        const v = (values as unknown as Record<string, number>)[camel(name)] ?? 0;
        if (type === 'u32') u[offset / 4] = v;
        else f[offset / 4] = v;
      }
      this.device.queue.writeBuffer(buffer, 0, bytes);
    }
    let slot = -1;
    if (this.profiling) slot = this.prof!.claim();
    this.device.queue.submit([this.encode(items, slot).finish()]);
    if (slot >= 0) this.prof!.collect(slot);
  }

  /** Staging buffers per snapshot size: at least STAGING_RING, more when a caller runs further ahead. */
  reserveSnapshots(n: number): void {
    this.staging.reserve(n);
  }

  /** At most STAGING_RING (or as reserved) snapshots of one size may be in flight at once. */
  snapshot(r: BufRange): Promise<View> {
    this.check();
    return this.staging.snapshot(this.locate(r), r.length);
  }

  async finish(): Promise<void> {
    this.check();
    await this.wait(this.device.queue.onSubmittedWorkDone());
  }

  destroy(): void {
    for (const a of this.buffers.values()) for (const b of a.buffers) b.destroy();
    this.staging.destroy();
    this.stepUniform?.buffer.destroy();
    this.prof?.destroy();
    this.prof = undefined;
    this.profiling = false;
    this.buffers.clear();
  }
}
