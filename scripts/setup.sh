#!/usr/bin/env bash
# Installs what rectigrad needs on a fresh Debian machine and does nothing when all is
# present: Chromium (it ships SwiftShader, the software Vulkan driver WebGPU falls back
# to without a GPU, and is the browser for the headless runs) with the Vulkan loader,
# then the npm dependencies. Never downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -e /usr/lib/chromium/vk_swiftshader_icd.json ] && [ -x /usr/bin/chromium ] || need_apt+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || need_apt+=(libvulkan1)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]} (Debian packages)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "setup: installing ${need_apt[*]} (Debian packages, via sudo)" >&2
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing ${need_apt[*]}; install them with: sudo apt-get install ${need_apt[*]}" >&2
    echo "setup: (without them WebGPU has no adapter on a machine without a GPU; the CPU backend still works)" >&2
  fi
fi

# npm dependencies: install when absent or older than the lock file. Puppeteer never
# downloads a browser here: the project depends on puppeteer-core and the system Chromium.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
