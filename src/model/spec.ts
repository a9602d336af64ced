// A model is plain data: sizes, the hidden activation, initialisation and seed.
import { ACTIVATIONS, type Activation } from '../ops/activations.ts';

export const INITS = ['glorot', 'he', 'uniform'] as const;
export type Init = (typeof INITS)[number];

export interface ModelSpec {
  inputs: number;
  /** Units of each hidden layer. */
  hidden: number[];
  classes: number;
  /** Activation of every hidden layer (the output layer is linear, into softmax). */
  activation: Activation;
  /** Negative slope of leaky_relu. */
  alpha: number;
  /**
   * glorot: uniform ±√(6/(fan_in+fan_out)) (Glorot & Bengio 2010, the paper's);
   * he: normal with std √(2/fan_in); uniform: uniform ±initScale. Biases start at 0.
   */
  init: Init;
  initScale: number;
  seed: number;
}

/** The network of Glorot, Bordes & Bengio (2011) on MNIST: 784-1000-1000-1000-10, rectifier. */
export const PAPER_MODEL: ModelSpec = {
  inputs: 784,
  hidden: [1000, 1000, 1000],
  classes: 10,
  activation: 'relu',
  alpha: 0.01,
  init: 'glorot',
  initScale: 0.05,
  seed: 1,
};

export function modelSpec(partial: Partial<ModelSpec> & Pick<ModelSpec, 'inputs' | 'classes'>): ModelSpec {
  return validateModel({ ...PAPER_MODEL, ...partial });
}

/** Throws a message naming the bad field and what it accepts. */
export function validateModel(m: ModelSpec): ModelSpec {
  const posInt = (v: unknown, what: string) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${what} must be a positive whole number, got ${String(v)}`);
  };
  posInt(m.inputs, 'inputs');
  posInt(m.classes, 'classes');
  if (!Array.isArray(m.hidden)) throw new Error('hidden must be a list of layer widths, e.g. [1000, 1000, 1000]');
  m.hidden.forEach((h, i) => posInt(h, `hidden layer ${i + 1} width`));
  if (!ACTIVATIONS.includes(m.activation)) {
    throw new Error(`unknown activation "${m.activation}": use one of ${ACTIVATIONS.join(', ')}`);
  }
  if (!INITS.includes(m.init)) throw new Error(`unknown init "${m.init}": use one of ${INITS.join(', ')}`);
  if (!Number.isFinite(m.alpha)) throw new Error('alpha (leaky_relu slope) must be a finite number');
  if (!(m.initScale > 0)) throw new Error('initScale must be a positive number');
  if (!Number.isInteger(m.seed)) throw new Error(`seed must be a whole number, got ${m.seed}`);
  return m;
}

/** Widths of every layer, input first: [784, 1000, 1000, 1000, 10]. */
export const widths = (m: ModelSpec): number[] => [m.inputs, ...m.hidden, m.classes];

export const describeModel = (m: ModelSpec): string => `${widths(m).join('-')} ${m.activation}`;
