// The two views read back from the device now and then: a histogram of one hidden layer's
// activations over the latest batch, and the first layer's weights as 28×28 images.

export interface Histogram {
  /** Bin centres. */
  centres: number[];
  /** Per input: share (%) of all values in each bin; exact zeros are counted apart. */
  shares: number[][];
  /** Per input: share (%) of values that are exactly 0. */
  zeros: number[];
  /** Values per input. */
  counts: number[];
}

/** Shared bins over several arrays of activations; exact zeros (the rectifier's hard zeros) are left out of the bins and reported apart. */
export function histogram(inputs: Float32Array[], bins = 40): Histogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of inputs) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v !== 0 && Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (!(lo < hi)) {
    // All zeros or one value: a single-width window around it.
    const c = Number.isFinite(lo) ? lo : 0;
    lo = c - 0.5;
    hi = c + 0.5;
  }
  const w = (hi - lo) / bins;
  const centres = Array.from({ length: bins }, (_, b) => lo + (b + 0.5) * w);
  const shares: number[][] = [];
  const zeros: number[] = [];
  for (const a of inputs) {
    const c = new Array<number>(bins).fill(0);
    let z = 0;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v === 0) z++;
      else if (Number.isFinite(v)) c[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / w)))]++;
    }
    const n = Math.max(1, a.length);
    shares.push(c.map((x) => (100 * x) / n));
    zeros.push((100 * z) / n);
  }
  return { centres, shares, zeros, counts: inputs.map((a) => a.length) };
}

/**
 * Draw units' incoming weights as 28×28 tiles (blue negative, white 0, red positive,
 * each tile scaled to its own largest |w|); units flagged dead are drawn in grey.
 * Returns the number of tiles drawn.
 */
export function drawWeightTiles(
  canvas: HTMLCanvasElement,
  weights: Float32Array,
  inputs: number,
  units: number,
  dead?: ArrayLike<number>,
  opts: { cols?: number; side?: number; gap?: number } = {},
): number {
  const side = opts.side ?? Math.round(Math.sqrt(inputs));
  if (side * side !== inputs) throw new Error(`cannot show ${inputs} inputs as square images`);
  const cols = opts.cols ?? Math.ceil(Math.sqrt(units));
  const rows = Math.ceil(units / cols);
  const gap = opts.gap ?? 2;
  const W = cols * (side + gap) - gap;
  const H = rows * (side + gap) - gap;
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(W, H);
  img.data.fill(255);
  for (let u = 0; u < units; u++) {
    const row = weights.subarray(u * inputs, (u + 1) * inputs);
    let m = 1e-12;
    for (let i = 0; i < inputs; i++) m = Math.max(m, Math.abs(row[i]));
    const x0 = (u % cols) * (side + gap);
    const y0 = Math.floor(u / cols) * (side + gap);
    const grey = dead ? dead[u] === 1 : false;
    for (let i = 0; i < inputs; i++) {
      const t = Math.max(-1, Math.min(1, row[i] / m));
      let r: number, g: number, b: number;
      if (grey) {
        const k = 235 - Math.round(110 * Math.abs(t));
        r = g = b = k;
      } else if (t >= 0) {
        // white → #b91c1c
        r = 255 - Math.round(t * (255 - 185));
        g = 255 - Math.round(t * (255 - 28));
        b = 255 - Math.round(t * (255 - 28));
      } else {
        // white → #1d4ed8
        const s = -t;
        r = 255 - Math.round(s * (255 - 29));
        g = 255 - Math.round(s * (255 - 78));
        b = 255 - Math.round(s * (255 - 216));
      }
      const p = ((y0 + Math.floor(i / side)) * W + x0 + (i % side)) * 4;
      img.data[p] = r;
      img.data[p + 1] = g;
      img.data[p + 2] = b;
      img.data[p + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return units;
}
