// Body of the workgroup-memory tiled matmul, shared by matmul_tiled.wgsl (scalar global
// loads) and matmul_tiled_vec4.wgsl (vec4 global loads). The including file declares the
// bindings a (binding 0) and b (binding 1), `const VW: u32` (1 or 4: elements per global
// load) and `load_a(i)`, `load_b(i)` returning the VW elements from element i in a vec4f.
//
//   C[M×N] = op(A)·op(B); A stored M×K row-major, or K×M when TRANS_A; B stored K×N, or
//   N×K when TRANS_B. Forward Z = X·Wᵀ (TRANS_B), dX = dZ·W (neither), dW = dZᵀ·X (TRANS_A).
//
// bindings  (beside a, b)
//   entry main           c    : array<f32>  M × N row-major (written)
//   entry main_bias_act  bias : array<f32>  N (read); z, out : array<f32>  M × N (written):
//                        z = C + bias (broadcast over rows), out = activate(ACT, ALPHA, z)
//   entry main_partial   part : array<f32>  SLICES × M × N (written): slice s holds the product
//                        over k in [s·KCHUNK, min(K, (s+1)·KCHUNK)) (split-K; summed by
//                        matmul_splitk_reduce.wgsl)
//   entry main_sumsq     c as main, and sq : array<f32>  tilesM × tilesN × WG_Y × WG_X (written): each
//                        thread's Σ of the squares of what it stored (its rows in order, each
//                        row's columns in order), at ((row tile · tilesN + column tile) · WG_Y +
//                        lid.y) · WG_X + lid.x: a gradient's ‖dW‖² without a pass over dW.
// shapes    M, N, K ≥ 1, any values. A workgroup of WG_X × WG_Y threads computes a BM × BN
//           tile of C with BM = WG_Y·TM, BN = WG_X·TN; TM, TN ∈ {4, 8}; BK (the k step)
//           a multiple of 4. Workgroup memory: BK·(BM + BN + 8) floats, twice that with DB.
//           With VW = 4 the contiguous dimension of each operand (K or M for A, N or K for
//           B) must be a multiple of 4, and KCHUNK a multiple of BK.
// dispatch  main, main_bias_act, main_sumsq: (ceil(N / BN), GRID_Y, GRID_Z), row tile = wid.y + wid.z·GRID_Y
//           (GRID_Z = ceil(tilesM / 65535), as in matmul.wgsl); main_partial: (ceil(N / BN),
//           ceil(M / BM), SLICES), the slice in wid.z.
//
// Each k step stages a BK-deep slice of op(A) (BM × BK) and of op(B) (BK × BN) in
// workgroup memory, both k-major (As[k][row], Bs[k][col]), so the inner loop reads each
// thread's TM rows and TN columns as whole vec4s. The thread mapping of the global loads
// follows each operand's storage: consecutive threads take consecutive runs of VW
// elements along the operand's contiguous dimension (k for A and for Bᵀ, rows for Aᵀ,
// columns for B), so a warp reads whole cache lines; operands stored along k are
// transposed on their way into workgroup memory. Loads past M, N or the slice's end write
// 0 into workgroup memory, so the inner loop needs no guards; only the stores are guarded.
// Each thread's outputs are TM consecutive rows × TN consecutive columns (vec4 reads from
// workgroup memory; real GPUs serve these without bank conflicts for TN = 4). Each k row
// of a tile is padded by 4 floats: the transposing stores of consecutive threads (k, k+1, …
// of one row) then fall 4 banks apart instead of all on one bank.
//
// DB (double buffering, for hardware GPUs' large products): two copies of each tile in
// workgroup memory, 2·BK·(BM + BN + 8) floats. While the workgroup multiplies the k step in
// one copy, each thread's loads of the next k step are in flight into registers (its runs
// t, t + NT, …, at most PF_MAX of each operand), which it then stores into the other copy:
// one barrier per k step instead of two, and the global loads' latency hidden behind the
// multiply. The mapping of threads to runs, the zeros past M, N and the slice's end, and the
// epilogues are those of the single-buffered kernel.
//#include "activations.wgsl"

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 16u;
override TM: u32 = 4u;
override TN: u32 = 4u;
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override GRID_Y: u32 = 1u;
override KCHUNK: u32 = K;
override ACT: u32 = 0u;
override ALPHA: f32 = 0.0;
override DB: bool = false;

override NT: u32 = WG_X * WG_Y;
// Row strides of the k-major tiles in workgroup memory (padded, multiples of 4).
override AS: u32 = BM + 4u;
override BS: u32 = BN + 4u;

@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
@group(0) @binding(7) var<storage, read_write> sq: array<f32>;

// Copies of each tile in workgroup memory: 2 with DB (ping-pong), else 1.
override BUFS: u32 = select(1u, 2u, DB);

// k-major tiles: element (k, r) of op(A)'s tile at k·AS + r, (k, c) of op(B)'s at k·BS + c;
// with DB, copy 1 follows copy 0 (offsets BK·AS and BK·BS).
var<workgroup> As: array<vec4f, BUFS * BK * AS / 4u>;
var<workgroup> Bs: array<vec4f, BUFS * BK * BS / 4u>;

fn put_a(e: u32, v: f32) { As[e / 4u][e % 4u] = v; }
fn put_b(e: u32, v: f32) { Bs[e / 4u][e % 4u] = v; }

// Stage op(A)[row0 .. row0+BM) × [k0 .. k0+BK) into As (zeros past M and kend).
fn stage_a(t: u32, row0: u32, k0: u32, kend: u32) {
  if (TRANS_A) {
    // Stored K × M: contiguous along rows; a run is VW rows of one k.
    let runs = BM / VW;
    for (var i = t; i < BK * runs; i += NT) {
      let kk = i / runs;
      let r = (i % runs) * VW;
      let gk = k0 + kk;
      let gr = row0 + r;
      var v = vec4f(0.0);
      if (gk < kend && gr < M) { v = load_a(gk * M + gr); }
      if (VW == 4u) {
        As[(kk * AS + r) / 4u] = v;
      } else {
        put_a(kk * AS + r, v.x);
      }
    }
  } else {
    // Stored M × K: contiguous along k; a run is VW k of one row, transposed into As.
    let runs = BK / VW;
    for (var i = t; i < BM * runs; i += NT) {
      let r = i / runs;
      let kk = (i % runs) * VW;
      let gk = k0 + kk;
      let gr = row0 + r;
      var v = vec4f(0.0);
      if (gk < kend && gr < M) { v = load_a(gr * K + gk); }
      for (var e = 0u; e < VW; e++) { put_a((kk + e) * AS + r, v[e]); }
    }
  }
}

// Stage op(B)[k0 .. k0+BK) × [col0 .. col0+BN) into Bs (zeros past N and kend).
fn stage_b(t: u32, col0: u32, k0: u32, kend: u32) {
  if (TRANS_B) {
    // Stored N × K: contiguous along k; a run is VW k of one column, transposed into Bs.
    let runs = BK / VW;
    for (var i = t; i < BN * runs; i += NT) {
      let cc = i / runs;
      let kk = (i % runs) * VW;
      let gk = k0 + kk;
      let gc = col0 + cc;
      var v = vec4f(0.0);
      if (gk < kend && gc < N) { v = load_b(gc * K + gk); }
      for (var e = 0u; e < VW; e++) { put_b((kk + e) * BS + cc, v[e]); }
    }
  } else {
    // Stored K × N: contiguous along columns; a run is VW columns of one k.
    let runs = BN / VW;
    for (var i = t; i < BK * runs; i += NT) {
      let kk = i / runs;
      let cc = (i % runs) * VW;
      let gk = k0 + kk;
      let gc = col0 + cc;
      var v = vec4f(0.0);
      if (gk < kend && gc < N) { v = load_b(gk * N + gc); }
      if (VW == 4u) {
        Bs[(kk * BS + cc) / 4u] = v;
      } else {
        put_b(kk * BS + cc, v.x);
      }
    }
  }
}

// ---- DB: register prefetch. Run i of a tile is the one stage_a / stage_b give thread i % NT;
// a thread holds its runs t + j·NT, j < PA (A) or PB (B), in ra[j], rb[j] (VW elements each).
const PF_MAX: u32 = 8u; // ≥ PA, PB: candidateProblem checks ⌈BM·BK / NT⌉ and ⌈BN·BK / NT⌉
override RUNS_A: u32 = BM * BK / VW;
override RUNS_B: u32 = BN * BK / VW;
override PA: u32 = (RUNS_A + NT - 1u) / NT;
override PB: u32 = (RUNS_B + NT - 1u) / NT;
var<private> ra: array<vec4f, PF_MAX>;
var<private> rb: array<vec4f, PF_MAX>;

// (k, row) of the first element of op(A)'s run i: along rows when TRANS_A, else along k.
fn run_a(i: u32) -> vec2u {
  if (TRANS_A) {
    let runs = BM / VW;
    return vec2u(i / runs, (i % runs) * VW);
  }
  let runs = BK / VW;
  return vec2u((i % runs) * VW, i / runs);
}

// (k, column) of the first element of op(B)'s run i: along k when TRANS_B, else along columns.
fn run_b(i: u32) -> vec2u {
  if (TRANS_B) {
    let runs = BK / VW;
    return vec2u((i % runs) * VW, i / runs);
  }
  let runs = BN / VW;
  return vec2u(i / runs, (i % runs) * VW);
}

// Load the thread's runs of op(A)[row0 ..) × [k0 .. k0+BK) and op(B)[k0 .. k0+BK) × [col0 ..)
// into ra, rb (zeros past M, N and kend, and for runs past the tile).
fn fetch(t: u32, row0: u32, col0: u32, k0: u32, kend: u32) {
  for (var j = 0u; j < PA; j++) {
    let i = t + j * NT;
    let p = run_a(i);
    let gk = k0 + p.x;
    let gr = row0 + p.y;
    var v = vec4f(0.0);
    if (i < RUNS_A && gk < kend && gr < M) {
      if (TRANS_A) { v = load_a(gk * M + gr); } else { v = load_a(gr * K + gk); }
    }
    ra[j] = v;
  }
  for (var j = 0u; j < PB; j++) {
    let i = t + j * NT;
    let p = run_b(i);
    let gk = k0 + p.x;
    let gc = col0 + p.y;
    var v = vec4f(0.0);
    if (i < RUNS_B && gk < kend && gc < N) {
      if (TRANS_B) { v = load_b(gc * K + gk); } else { v = load_b(gk * N + gc); }
    }
    rb[j] = v;
  }
}

// Store ra, rb into copy `buf` of the tiles, as stage_a and stage_b store their runs.
fn put(t: u32, buf: u32) {
  let ao = buf * BK * AS;
  let bo = buf * BK * BS;
  for (var j = 0u; j < PA; j++) {
    let i = t + j * NT;
    if (i < RUNS_A) {
      let p = run_a(i);
      if (!TRANS_A) {
        for (var e = 0u; e < VW; e++) { put_a(ao + (p.x + e) * AS + p.y, ra[j][e]); }
      } else if (VW == 4u) {
        As[(ao + p.x * AS + p.y) / 4u] = ra[j];
      } else {
        put_a(ao + p.x * AS + p.y, ra[j].x);
      }
    }
  }
  for (var j = 0u; j < PB; j++) {
    let i = t + j * NT;
    if (i < RUNS_B) {
      let p = run_b(i);
      if (TRANS_B) {
        for (var e = 0u; e < VW; e++) { put_b(bo + (p.x + e) * BS + p.y, rb[j][e]); }
      } else if (VW == 4u) {
        Bs[(bo + p.x * BS + p.y) / 4u] = rb[j];
      } else {
        put_b(bo + p.x * BS + p.y, rb[j].x);
      }
    }
  }
}

// The thread's TM × TN block of the tile (tile_m, tile_n) over k in [kbeg, kend): row i in
// elements 2i (columns 0..3) and 2i + 1 (columns 4..7). Written out for 8 × 8 with the
// parts beyond TM × TN under conditions on override constants, which fold away.
fn tile_product(tile_m: u32, tile_n: u32, kbeg: u32, kend: u32, lid: vec3u) -> array<vec4f, 16> {
  let t = lid.y * WG_X + lid.x;
  let row0 = tile_m * BM;
  let col0 = tile_n * BN;
  var s0l = vec4f(0.0); var s0h = vec4f(0.0);
  var s1l = vec4f(0.0); var s1h = vec4f(0.0);
  var s2l = vec4f(0.0); var s2h = vec4f(0.0);
  var s3l = vec4f(0.0); var s3h = vec4f(0.0);
  var s4l = vec4f(0.0); var s4h = vec4f(0.0);
  var s5l = vec4f(0.0); var s5h = vec4f(0.0);
  var s6l = vec4f(0.0); var s6h = vec4f(0.0);
  var s7l = vec4f(0.0); var s7h = vec4f(0.0);
  // With DB the loop runs one step more than there are k steps: step k0 loads the k step k0
  // into registers, multiplies the previous one (in copy 1 − buf) meanwhile, then stores the
  // registers into copy buf, which the previous step's multiply was the last to read (before
  // that step's barrier). One call site each for fetch, put and the multiply keeps the kernel
  // small. DB is an override constant and k0, kend are the same for the whole workgroup: the
  // barriers stay in uniform control flow.
  let kstop = select(kend, kend + BK, DB);
  var buf = 0u;
  for (var k0 = kbeg; k0 < kstop; k0 += BK) {
    let load = k0 < kend;
    if (DB) {
      if (load) { fetch(t, row0, col0, k0, kend); }
    } else {
      stage_a(t, row0, k0, kend);
      stage_b(t, col0, k0, kend);
      workgroupBarrier();
    }
    if (!DB || k0 > kbeg) {
      let ab = select(0u, (1u - buf) * (BK * AS / 4u), DB);
      let bb = select(0u, (1u - buf) * (BK * BS / 4u), DB);
      for (var kk = 0u; kk < BK; kk++) {
        let ai = ab + (kk * AS + lid.y * TM) / 4u;
        let bi = bb + (kk * BS + lid.x * TN) / 4u;
        let alo = As[ai];
        let bl = Bs[bi];
        var ahi = vec4f(0.0);
        var bh = vec4f(0.0);
        if (TM > 4u) { ahi = As[ai + 1u]; }
        if (TN > 4u) { bh = Bs[bi + 1u]; }
        s0l += alo.x * bl; s1l += alo.y * bl; s2l += alo.z * bl; s3l += alo.w * bl;
        if (TN > 4u) { s0h += alo.x * bh; s1h += alo.y * bh; s2h += alo.z * bh; s3h += alo.w * bh; }
        if (TM > 4u) {
          s4l += ahi.x * bl; s5l += ahi.y * bl; s6l += ahi.z * bl; s7l += ahi.w * bl;
          if (TN > 4u) { s4h += ahi.x * bh; s5h += ahi.y * bh; s6h += ahi.z * bh; s7h += ahi.w * bh; }
        }
      }
    }
    if (DB) {
      if (load) { put(t, buf); }
      buf = 1u - buf;
    }
    workgroupBarrier();
  }
  return array<vec4f, 16>(s0l, s0h, s1l, s1h, s2l, s2h, s3l, s3h, s4l, s4h, s5l, s5h, s6l, s6h, s7l, s7h);
}

// Where element (i, j) of the thread's block goes; `ok` is false past M or N.
fn block_row(tile_m: u32, lid: vec3u, i: u32) -> u32 { return tile_m * BM + lid.y * TM + i; }
fn block_col(tile_n: u32, lid: vec3u, j: u32) -> u32 { return tile_n * BN + lid.x * TN + j; }

fn elem(s: array<vec4f, 16>, i: u32, j: u32) -> f32 { return s[2u * i + j / 4u][j % 4u]; }

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tile_m = wid.y + wid.z * GRID_Y;
  let s = tile_product(tile_m, wid.x, 0u, K, lid);
  for (var i = 0u; i < TM; i++) {
    let r = block_row(tile_m, lid, i);
    if (r >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = block_col(wid.x, lid, j);
      if (col < N) { c[r * N + col] = elem(s, i, j); }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_bias_act(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tile_m = wid.y + wid.z * GRID_Y;
  let s = tile_product(tile_m, wid.x, 0u, K, lid);
  for (var i = 0u; i < TM; i++) {
    let r = block_row(tile_m, lid, i);
    if (r >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = block_col(wid.x, lid, j);
      if (col < N) {
        let v = elem(s, i, j) + bias[col];
        z[r * N + col] = v;
        out[r * N + col] = activate(ACT, ALPHA, v);
      }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let kbeg = wid.z * KCHUNK;
  let s = tile_product(wid.y, wid.x, kbeg, min(K, kbeg + KCHUNK), lid);
  let base = wid.z * M * N;
  for (var i = 0u; i < TM; i++) {
    let r = block_row(wid.y, lid, i);
    if (r >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = block_col(wid.x, lid, j);
      if (col < N) { part[base + r * N + col] = elem(s, i, j); }
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_sumsq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tile_m = wid.y + wid.z * GRID_Y;
  let s = tile_product(tile_m, wid.x, 0u, K, lid);
  var q = 0.0;
  for (var i = 0u; i < TM; i++) {
    let r = block_row(tile_m, lid, i);
    if (r >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = block_col(wid.x, lid, j);
      if (col < N) {
        let v = elem(s, i, j);
        c[r * N + col] = v;
        q += v * v;
      }
    }
  }
  // A row tile past the end (the z spill rounds up) stored nothing and owns no partial.
  let tiles_m = (M + BM - 1u) / BM;
  if (tile_m < tiles_m) {
    let tiles_n = (N + BN - 1u) / BN;
    sq[((tile_m * tiles_n + wid.x) * WG_Y + lid.y) * WG_X + lid.x] = q;
  }
}
