// TensorFlow.js in the benchmark, written as its users write a training step: variables,
// a loss closure, tf.train.sgd(lr).minimize(loss, returnCost). The umbrella package
// (tfjs-core alone lacks the gradient registrations), plus the wasm or webgpu backend.
import type * as TF from '@tensorflow/tfjs';

import type { Cell, MatmulCell, TrainCell, Variant } from '../spec.ts';
import {
  assets,
  batchArrays,
  isNode,
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

export type TfBackend = 'cpu' | 'wasm' | 'webgpu';

let loaded: Promise<{ tf: typeof TF; threads?: number }> | undefined;

/** Loads tfjs with one backend and makes it current (one backend per process or page). */
function loadTf(backend: TfBackend): Promise<{ tf: typeof TF; threads?: number }> {
  loaded ??= (async () => {
    // Its webgpu backend looks for navigator.gpu when the module loads.
    if (backend === 'webgpu' && !(await ensureNavigatorGpu())) throw new Error('no WebGPU here (navigator.gpu is missing)');
    const tf = await import('@tensorflow/tfjs');
    let threads: number | undefined;
    if (backend === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (!assets.tfjsWasm) throw new Error('the tfjs wasm binaries were not located (assets.tfjsWasm)');
      wasm.setWasmPaths(assets.tfjsWasm as Parameters<typeof wasm.setWasmPaths>[0]);
      // Its threaded build re-creates its factory from Function.toString() inside a worker,
      // which a bundled page breaks ("e is not defined", then a hang): one thread, as in Node.
      if (!isNode) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs could not initialise its wasm backend');
      threads = wasm.getThreadsCount();
    } else if (backend === 'webgpu') {
      await import('@tensorflow/tfjs-backend-webgpu');
      if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialise its webgpu backend');
    } else if (!(await tf.setBackend('cpu'))) throw new Error('tfjs could not initialise its cpu backend');
    await tf.ready();
    if (tf.getBackend() !== backend) throw new Error(`tfjs runs on ${tf.getBackend()}, not ${backend}`);
    return { tf, threads };
  })();
  return loaded;
}

export async function tfjsSession(backend: TfBackend, cell: Cell): Promise<Session> {
  const { tf, threads } = await loadTf(backend);
  const adapter =
    backend === 'webgpu'
      ? await gpuAdapterInfo()
      : {
          kind: 'cpu' as const,
          vendor: '',
          architecture: '',
          description: `CPU (tfjs ${backend}${threads ? `, ${threads} thread${threads > 1 ? 's' : ''}` : ''})`,
          isFallback: false,
          threads: threads ?? (backend === 'cpu' ? 1 : cpuThreads()),
        };
  const info = {
    adapter,
    versions: { ...runtimeVersion(), '@tensorflow/tfjs-core': tf.version_core },
    notes: backend === 'wasm' && !isNode ? ["one thread: tfjs-backend-wasm's threaded build does not survive bundling"] : [],
  };
  return cell.kind === 'train' ? trainSession(tf, info, cell) : matmulSession(tf, info, cell);
}

function trainSession(tf: typeof TF, info: Session['info'], cell: TrainCell): Session {
  const { x: xs, labels } = batchArrays(cell);
  const layers = layerParams(cell);
  let model: { vars: TF.Variable[]; x: TF.Tensor2D; y: TF.Tensor2D; loss: () => TF.Scalar; opt: TF.SGDOptimizer } | undefined;

  // A fresh model at the initial weights (and an optimiser) for each measurement.
  const build = () => {
    drop();
    const vars: TF.Variable[] = [];
    const ws = layers.map((l) => tf.variable(tf.tensor2d(l.w, [l.inputs, l.outputs]), true));
    const bs = layers.map((l) => tf.variable(tf.tensor1d(l.b), true));
    ws.forEach((w, i) => vars.push(w, bs[i]));
    const x = tf.tensor2d(xs, [cell.batch, cell.features]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), cell.model.classes), 'float32') as TF.Tensor2D);
    const loss = () =>
      tf.tidy(() => {
        let h: TF.Tensor2D = x;
        for (let i = 0; i < ws.length; i++) {
          h = tf.add(tf.matMul(h, ws[i]), bs[i]);
          if (i < ws.length - 1) h = tf.relu(h);
        }
        return tf.losses.softmaxCrossEntropy(y, h) as TF.Scalar;
      });
    model = { vars, x, y, loss, opt: tf.train.sgd(cell.lr) };
    return model;
  };
  const drop = () => {
    if (!model) return;
    for (const v of model.vars) v.dispose();
    model.x.dispose();
    model.y.dispose();
    model.opt.dispose();
    model = undefined;
  };
  const step = async (m: NonNullable<typeof model>, read: boolean): Promise<number> => {
    const cost = m.opt.minimize(m.loss, read, m.vars);
    if (!cost) return NaN;
    const v = (await cost.data())[0];
    cost.dispose();
    return v;
  };

  return {
    info,
    async first() {
      return { loss: await step(build(), true) };
    },
    async measure(variant: Variant, steps: number, after?: boolean) {
      const m = build();
      let last = NaN;
      const t0 = now();
      for (let i = 0; i < steps; i++) {
        const read = variant !== 'no-readback' || i === steps - 1;
        const v = await step(m, read);
        if (read) last = v;
      }
      const ms = now() - t0;
      const lossAfter = after ? await step(m, true) : undefined;
      drop();
      return { ms, steps, lossLast: last, lossAfter };
    },
    dispose: drop,
  };
}

function matmulSession(tf: typeof TF, info: Session['info'], cell: MatmulCell): Session {
  const n = cell.size;
  let a: TF.Tensor2D | undefined;
  let b: TF.Tensor2D | undefined;
  // tfjs has no wait-without-reading: each product is waited for by reading one element.
  const product = async () => {
    const c = tf.matMul(a!, b!);
    const one = tf.slice(c, [0, 0], [1, 1]);
    await one.data();
    one.dispose();
    return c;
  };
  return {
    info,
    async first() {
      const ops = matmulOperands(cell);
      a = tf.tensor2d(ops.a, [n, n]);
      b = tf.tensor2d(ops.b, [n, n]);
      const c = await product();
      const first = tf.slice(c, [0, 0], [1, n]);
      const row = await first.data();
      first.dispose();
      c.dispose();
      return { check: firstRowSum(row, n) };
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
