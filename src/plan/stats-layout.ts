// Slots of the per-step stats buffer (4-byte words). The loss and gradient sums of
// squares are f32; the counts are u32. The optimiser reads the gradient slots for
// global-norm clipping, so they are contiguous.
export interface StatsLayout {
  loss: number;
  correct: number;
  /** Per hidden layer: exact zeros, units dead in this batch, units dead over the window. */
  hidden: { zeros: number; batchDead: number; dead: number }[];
  /** Per dense layer: Σ dW², Σ db². */
  grad: { weight: number; bias: number }[];
  /** Per dense layer: Σ dZ². */
  delta: number[];
  size: number;
}

export function statsLayout(hiddenLayers: number, denseLayers: number): StatsLayout {
  let s = 2;
  const hidden = Array.from({ length: hiddenLayers }, () => ({ zeros: s++, batchDead: s++, dead: s++ }));
  const grad = Array.from({ length: denseLayers }, () => ({ weight: s++, bias: s++ }));
  const delta = Array.from({ length: denseLayers }, () => s++);
  return { loss: 0, correct: 1, hidden, grad, delta, size: s };
}
