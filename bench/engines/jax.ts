// jax-js in the benchmark, written as JAX users write a training step: a pure loss
// function of a parameter tree, and one jit-compiled update built on valueAndGrad.
// jax-js evaluates lazily and counts references by hand (`.ref`): the clock stops only
// when a loss has been read back, so the work has really been done.
import type * as JAX from '@jax-js/jax';
import type { Cell, MatmulCell, TrainCell, Variant } from '../spec.ts';
import {
  batchArrays,
  cpuThreads,
  ensureNavigatorGpu,
  firstRowSum,
  gpuAdapterInfo,
  layerParams,
  matmulOperands,
  now,
  runtimeVersion,
  type Session,
} from './common.ts';

export type JaxDevice = 'wasm' | 'webgpu';
type Jax = typeof JAX;
type Params = { w: JAX.Array; b: JAX.Array }[];

let loaded: Promise<Jax> | undefined;

function loadJax(device: JaxDevice): Promise<Jax> {
  loaded ??= (async () => {
    if (device === 'webgpu' && !(await ensureNavigatorGpu())) throw new Error('no WebGPU here (navigator.gpu is missing)');
    const jax = await import('@jax-js/jax');
    const got = await jax.init(device);
    if (!got.includes(device)) throw new Error(`jax-js could not start its ${device} device (it has ${got.join(', ') || 'none'})`);
    jax.defaultDevice(device);
    return jax;
  })();
  return loaded;
}

export async function jaxSession(device: JaxDevice, cell: Cell): Promise<Session> {
  const jax = await loadJax(device);
  // Its wasm device spreads work over a worker pool where SharedArrayBuffer and Worker exist.
  const threads = typeof SharedArrayBuffer !== 'undefined' && typeof Worker !== 'undefined' ? cpuThreads() : 1;
  const adapter =
    device === 'webgpu'
      ? await gpuAdapterInfo()
      : {
          kind: 'cpu' as const,
          vendor: '',
          architecture: '',
          description: `CPU (jax-js wasm, ${threads} thread${threads > 1 ? 's' : ''})`,
          isFallback: false,
          threads,
        };
  const info = { adapter, versions: runtimeVersion() };
  return cell.kind === 'train' ? trainSession(jax, info, cell) : matmulSession(jax, info, cell);
}

function trainSession(jax: Jax, info: Session['info'], cell: TrainCell): Session {
  const { numpy: np, nn, tree, jit, valueAndGrad } = jax;
  const { x: xs, labels } = batchArrays(cell);
  const layers = layerParams(cell);
  const B = cell.batch;
  const lr = cell.lr;

  const lossFn = (ps: Params, x: JAX.Array, y: JAX.Array): JAX.Array => {
    let h = x;
    ps.forEach((p, i) => {
      h = np.dot(h, p.w).add(p.b);
      if (i < ps.length - 1) h = nn.relu(h);
    });
    return nn
      .logSoftmax(h)
      .mul(y)
      .sum()
      .mul(-1 / B);
  };
  const update = jit((ps: Params, x: JAX.Array, y: JAX.Array): [JAX.Array, Params] => {
    const [loss, grads] = valueAndGrad(lossFn)(tree.ref(ps), x, y);
    return [loss, tree.map((p: JAX.Array, g: JAX.Array) => p.sub(g.mul(lr)), ps, grads) as Params];
  });

  let state: { params: Params; x: JAX.Array; y: JAX.Array } | undefined;
  const build = () => {
    drop();
    state = {
      params: layers.map((l) => ({ w: np.array(l.w).reshape([l.inputs, l.outputs]), b: np.array(l.b) })),
      x: np.array(xs).reshape([B, cell.features]),
      y: nn.oneHot(np.array(labels, { dtype: np.int32 }), cell.model.classes),
    };
    return state;
  };
  const drop = () => {
    if (!state) return;
    tree.dispose(state.params);
    state.x.dispose();
    state.y.dispose();
    state = undefined;
  };
  const step = (s: NonNullable<typeof state>): JAX.Array => {
    const [loss, params] = update(s.params, s.x.ref, s.y.ref);
    s.params = params;
    return loss;
  };

  return {
    info,
    async first() {
      const loss = (await step(build()).jsAsync()) as number;
      return { loss };
    },
    async measure(variant: Variant, steps: number, after?: boolean) {
      const s = build();
      // Make sure the fresh parameters are on the device before the clock starts.
      await jax.blockUntilReady(s.params);
      let last = NaN;
      const t0 = now();
      for (let i = 0; i < steps; i++) {
        const loss = step(s);
        if (variant !== 'no-readback' || i === steps - 1) last = (await loss.jsAsync()) as number;
        else loss.dispose();
      }
      const ms = now() - t0;
      const lossAfter = after ? ((await step(s).jsAsync()) as number) : undefined;
      drop();
      return { ms, steps, lossLast: last, lossAfter };
    },
    dispose() {
      drop();
      update.dispose();
    },
  };
}

function matmulSession(jax: Jax, info: Session['info'], cell: MatmulCell): Session {
  const { numpy: np } = jax;
  const n = cell.size;
  let a: JAX.Array | undefined;
  let b: JAX.Array | undefined;
  const product = async () => {
    const c = np.dot(a!.ref, b!.ref);
    await c.blockUntilReady();
    return c;
  };
  return {
    info,
    async first() {
      const ops = matmulOperands(cell);
      a = np.array(ops.a).reshape([n, n]);
      b = np.array(ops.b).reshape([n, n]);
      const c = await product();
      const all = await c.data();
      return { check: firstRowSum(all, n) };
    },
    async measure(_v, steps) {
      const t0 = now();
      for (let i = 0; i < steps; i++) (await product()).dispose();
      return { ms: now() - t0, steps };
    },
    dispose() {
      a?.dispose();
      b?.dispose();
    },
  };
}
