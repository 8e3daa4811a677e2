#!/usr/bin/env bash
# Builds what the GPU machine runs (nibble-cli, the GPU test binary and the benchmarks) on this machine: Release,
# no GUI, static C++ runtime and libraries, kernels for sm_90a only, stripped, packed into
# gpu-build/bundle.tar.xz (git-ignored; name it in the device tool's `carry`).
# Usage: tools/gpu/build.sh [ARCHS]   (default 90a)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
archs="${1:-90a}"
build="$root/gpu-build/cmake"
mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNIBBLE_GUI=OFF -DNIBBLE_CUDA=ON \
        -DNIBBLE_CUDA_ARCHS="$archs" -DNIBBLE_STATIC_RUNTIME=ON >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target nibble-cli test_gpu bench_kernels bench_runtime bench_server
stage="$root/gpu-build/stage"
rm -rf "$stage" && mkdir -p "$stage"
cp "$build/app/cli/nibble-cli" "$build/tests/kernels/test_gpu" "$build/tests/kernels/bench_kernels" \
   "$build/tests/engine/runtime/bench_runtime" "$build/tests/app/server/bench_server" "$stage/"
strip "$stage"/*
# Shared libraries from Debian packages that the GPU machine lacks (the HTTP server's library).
ldd "$stage/nibble-cli" | awk '/libcpp-httplib/ {print $3}' | xargs -r -I{} cp -L {} "$stage/"
tar -C "$stage" -cf - . | xz -9e -T2 > "$root/gpu-build/bundle.tar.xz"
ls -la "$root/gpu-build/bundle.tar.xz"
