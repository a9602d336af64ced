// Activation functions: ids shared with shaders/activations.wgsl, and the CPU versions.
export const ACTIVATIONS = ['linear', 'relu', 'leaky_relu', 'softplus', 'tanh', 'sigmoid', 'abs'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export const activationId = (a: Activation): number => ACTIVATIONS.indexOf(a);

/** f(z); mirrors `activate` in shaders/activations.wgsl. */
export function activate(act: number, alpha: number, z: number): number {
  switch (act) {
    case 1:
      return z > 0 ? z : 0;
    case 2:
      return z > 0 ? z : alpha * z;
    case 3:
      return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    case 4:
      return Math.tanh(z);
    case 5:
      return 1 / (1 + Math.exp(-z));
    case 6:
      return Math.abs(z);
    default:
      return z;
  }
}

/** f′(z), given z and a = f(z); mirrors `activate_grad`. */
export function activateGrad(act: number, alpha: number, z: number, a: number): number {
  switch (act) {
    case 1:
      return z > 0 ? 1 : 0;
    case 2:
      return z > 0 ? 1 : alpha;
    case 3:
      return 1 / (1 + Math.exp(-z));
    case 4:
      return 1 - a * a;
    case 5:
      return a * (1 - a);
    case 6:
      return z > 0 ? 1 : z < 0 ? -1 : 0;
    default:
      return 1;
  }
}
