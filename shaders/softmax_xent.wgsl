// Fused softmax cross-entropy over ROWS examples of CLASSES logits each.
//   p = softmax(logits row)          (row max subtracted: stable for any finite logits)
//   dlogits = (p − onehot(label)) / ROWS
//   stats[LOSS_SLOT]    = mean over rows of −log p[label]        (f32, bitcast)
//   stats[CORRECT_SLOT] = rows whose argmax (first maximal index) is the label (u32)
//   stats[NORM_SLOT]    = Σ dlogits² (f32, bitcast), when NORM_SLOT is set: the output layer's
//                         delta norm folded in (thread sums, then the same fixed tree)
// Other stats words are left untouched. Labels must be < CLASSES.
//
// bindings  logits  : array<f32>  ROWS × CLASSES, row-major (read)
//           labels  : array<u32>  ROWS (read)
//           dlogits : array<f32>  ROWS × CLASSES (written)
//           stats   : array<u32>  telemetry words; LOSS_SLOT and CORRECT_SLOT written
// shapes    ROWS ≥ 1, CLASSES ≥ 1, LOSS_SLOT, CORRECT_SLOT, NORM_SLOT (default NONE: off)
// dispatch  (1, 1, 1): one workgroup of 256; thread t takes rows t, t + 256, …, makes one
//           pass for the max, the sum of exponentials (rescaled as the max grows) and the
//           argmax, one pass writing dlogits; the loss and hit counts are then summed by a
//           fixed tree over the workgroup, so the result is deterministic.
override ROWS: u32;
override CLASSES: u32;
override LOSS_SLOT: u32;
override CORRECT_SLOT: u32;
override NORM_SLOT: u32 = 0xffffffffu;
const NONE = 0xffffffffu;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<u32>;

const WG = 256u;
var<workgroup> loss_part: array<f32, WG>;
var<workgroup> hit_part: array<u32, WG>;
var<workgroup> sq_part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  let inv_rows = 1.0 / f32(ROWS);
  var loss = 0.0;
  var hits = 0u;
  var sq = 0.0;
  for (var r = t; r < ROWS; r += WG) {
    let base = r * CLASSES;
    var m = logits[base];
    var s = 1.0;
    var arg = 0u;
    for (var k = 1u; k < CLASSES; k++) {
      let x = logits[base + k];
      if (x > m) {
        s = s * exp(m - x) + 1.0;
        m = x;
        arg = k;
      } else {
        s += exp(x - m);
      }
    }
    let y = labels[r];
    let inv_s = 1.0 / s;
    for (var k = 0u; k < CLASSES; k++) {
      let p = exp(logits[base + k] - m) * inv_s;
      let g = (p - select(0.0, 1.0, k == y)) * inv_rows;
      dlogits[base + k] = g;
      sq += g * g;
    }
    loss += log(s) + (m - logits[base + y]);
    hits += select(0u, 1u, arg == y);
  }
  loss_part[t] = loss;
  hit_part[t] = hits;
  if (NORM_SLOT != NONE) { sq_part[t] = sq; }
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (t < w) {
      loss_part[t] += loss_part[t + w];
      hit_part[t] += hit_part[t + w];
      if (NORM_SLOT != NONE) { sq_part[t] += sq_part[t + w]; }
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    stats[LOSS_SLOT] = bitcast<u32>(loss_part[0] * inv_rows);
    stats[CORRECT_SLOT] = hit_part[0];
    if (NORM_SLOT != NONE) { stats[NORM_SLOT] = bitcast<u32>(sq_part[0]); }
  }
}
