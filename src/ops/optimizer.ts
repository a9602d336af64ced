// The parameter update (SGD, momentum, Adam; weight decay; global-norm clipping): plan
// builder and CPU twin of shaders/optimizer.wgsl.
import { gridStride, type BufRange, type OpDef, type PlanStep } from './op.ts';

export type OptimizerKind = 'sgd' | 'momentum' | 'adam';

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** Momentum coefficient μ (kind 'momentum'). */
  momentum: number;
  /** Adam's β1, β2, ε. */
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 penalty added to the gradient (PyTorch `weight_decay`, not AdamW's decoupled one). */
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 = off. */
  clipNorm: number;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  kind: 'sgd',
  momentum: 0.9,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  clipNorm: 0,
};

/** Learning rates that train the paper's network well with each optimiser. */
export const DEFAULT_LR: Readonly<Record<OptimizerKind, number>> = { sgd: 0.1, momentum: 0.01, adam: 0.001 };

/** Optimiser ids, shared with shaders/optimizer.wgsl through the generated OPT_* constants. */
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'momentum', 'adam'];
const KINDS = OPTIMIZER_KINDS;

export const optimizerOp: OpDef = {
  shader: 'optimizer',
  entry: 'main',
  group: 'optimizer',
  cpu(c, { params, grads, m, v, stats }, step) {
    const { COUNT, KIND, MOMENTUM, BETA1, BETA2, EPS, WEIGHT_DECAY, CLIP_NORM, CLIP_SLOT0, CLIP_COUNT } = c;
    let clip = 1;
    if (CLIP_NORM > 0) {
      let ss = 0;
      for (let k = 0; k < CLIP_COUNT; k++) ss += stats.f[CLIP_SLOT0 + k];
      clip = Math.min(1, CLIP_NORM / (Math.sqrt(ss) + 1e-6));
    }
    const lr = step.lr;
    const p = params.f;
    const gr = grads.f;
    if (KIND === KINDS.indexOf('sgd') || KIND === KINDS.indexOf('momentum')) {
      // In the buffers' precision, every operation rounded: in f32 as the WGSL computes it
      // and the CPU backend's WebAssembly update does (f32x4: twice the lanes of f64, and
      // this pass reads and writes every parameter each step); in f64 for float64 runs.
      const f = p instanceof Float32Array ? Math.fround : (x: number) => x;
      const [lr32, clip32, wd, mu] = [f(lr), f(clip), f(WEIGHT_DECAY), f(MOMENTUM)];
      const mf = KIND === KINDS.indexOf('momentum') ? m.f : undefined;
      for (let i = 0; i < COUNT; i++) {
        let g = f(f(gr[i] * clip32) + f(wd * p[i]));
        if (mf) g = mf[i] = f(f(mu * mf[i]) + g);
        p[i] = f(p[i] - f(lr32 * g));
      }
    } else {
      const mf = m.f;
      const vf = v.f;
      const t = Math.floor(step.t);
      const bc1 = 1 - BETA1 ** t;
      const bc2 = 1 - BETA2 ** t;
      for (let i = 0; i < COUNT; i++) {
        const g = gr[i] * clip + WEIGHT_DECAY * p[i];
        const mi = BETA1 * mf[i] + (1 - BETA1) * g;
        const vi = BETA2 * vf[i] + (1 - BETA2) * g * g;
        mf[i] = mi;
        vf[i] = vi;
        p[i] -= (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + EPS);
      }
    }
  },
};

/**
 * One dispatch updates every parameter: params, grads, m and v are flat buffers of `count`
 * elements in the same layout (m and v are always bound; for sgd neither is indexed, for
 * momentum only m). With cfg.clipNorm > 0 the gradient is scaled by
 * min(1, clipNorm / (‖g‖ + 1e-6)), ‖g‖² = Σ stats[clip.slot0 .. clip.slot0 + clip.count)
 * (sums of squares written by sumsq earlier in the step). lr and t (1-based) come from the
 * step values. `grads` and `stats` must not share an arena with params, m or v.
 */
export function optimizerStep(
  label: string,
  count: number,
  cfg: OptimizerConfig,
  clip: { slot0: number; count: number },
  io: { params: BufRange; grads: BufRange; m: BufRange; v: BufRange; stats: BufRange },
): PlanStep {
  const kind = KINDS.indexOf(cfg.kind);
  if (kind < 0) throw new Error(`${label}: unknown optimizer '${cfg.kind}' (use ${KINDS.join(', ')})`);
  if (count < 1) throw new Error(`${label}: nothing to update (count ${count})`);
  if (!(cfg.clipNorm >= 0)) throw new Error(`${label}: clipNorm must be ≥ 0 (0 = off), got ${cfg.clipNorm}`);
  if (cfg.clipNorm > 0 && clip.count < 1) throw new Error(`${label}: clipping needs at least one sum-of-squares slot`);
  const need = (name: 'params' | 'grads' | 'm' | 'v') => {
    if (io[name].length < count) throw new Error(`${label}: ${name} holds ${io[name].length} elements, ${count} needed`);
  };
  need('params');
  need('grads');
  if (kind >= 1) need('m');
  if (kind === 2) need('v');
  return {
    op: optimizerOp,
    label,
    constants: {
      COUNT: count,
      KIND: kind,
      MOMENTUM: cfg.momentum,
      BETA1: cfg.beta1,
      BETA2: cfg.beta2,
      EPS: cfg.eps,
      WEIGHT_DECAY: cfg.weightDecay,
      CLIP_NORM: cfg.clipNorm,
      CLIP_SLOT0: clip.slot0,
      CLIP_COUNT: clip.count,
    },
    bindings: { params: io.params, grads: io.grads, m: io.m, v: io.v, stats: io.stats },
    dispatch: gridStride(count),
  };
}
