// Activation functions: ids shared with shaders/activations.wgsl, and the CPU versions.
export const ACTIVATIONS = ['linear', 'relu', 'leaky_relu', 'softplus', 'tanh', 'sigmoid', 'abs'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export const activationId = (a: Activation): number => ACTIVATIONS.indexOf(a);

// The ids as constants for the switches below (the WGSL gets the same ones: wgsl-constants.ts).
const RELU = activationId('relu');
const LEAKY = activationId('leaky_relu');
const SOFTPLUS = activationId('softplus');
const TANH = activationId('tanh');
const SIGMOID = activationId('sigmoid');
const ABS = activationId('abs');

/** f(z); mirrors `activate` in shaders/activations.wgsl. */
export function activate(act: number, alpha: number, z: number): number {
  switch (act) {
    case RELU:
      return z > 0 ? z : 0;
    case LEAKY:
      return z > 0 ? z : alpha * z;
    case SOFTPLUS:
      return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    case TANH:
      return Math.tanh(z);
    case SIGMOID:
      return 1 / (1 + Math.exp(-z));
    case ABS:
      return Math.abs(z);
    default:
      return z;
  }
}

/** f′(z), given z and a = f(z); mirrors `activate_grad`. */
export function activateGrad(act: number, alpha: number, z: number, a: number): number {
  switch (act) {
    case RELU:
      return z > 0 ? 1 : 0;
    case LEAKY:
      return z > 0 ? 1 : alpha;
    case SOFTPLUS:
      return 1 / (1 + Math.exp(-z));
    case TANH:
      return 1 - a * a;
    case SIGMOID:
      return a * (1 - a);
    case ABS:
      return z > 0 ? 1 : z < 0 ? -1 : 0;
    default:
      return 1;
  }
}
