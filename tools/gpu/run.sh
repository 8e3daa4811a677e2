#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: unpacks gpu-build/bundle.tar.xz, records the
# machine, runs the GPU tests and (with --bench) the synthetic benchmarks, writing logs to $OUT.
# Usage: tools/gpu/run.sh [--tests] [--bench "BENCH ARGS"] [--filter GTEST_FILTER]
set -uo pipefail
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out" /tmp/nibble-bin
# Test binaries carry the source tree's absolute path (test data): point it at this checkout.
for tree in /work/main /work/gpu-tree; do
  [ -e "$tree" ] || { mkdir -p "$(dirname "$tree")" && ln -s "$PWD" "$tree"; }
done
tar -C /tmp/nibble-bin -xJf gpu-build/bundle.tar.xz
export PATH="/tmp/nibble-bin:$PATH" LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$out/machine.txt" 2>&1
run_tests=0; bench_args=""; filter="*"
while [ $# -gt 0 ]; do
  case "$1" in
    --tests) run_tests=1 ;;
    --bench) bench_args="$2"; shift ;;
    --filter) filter="$2"; shift ;;
  esac
  shift
done
status=0
if [ "$run_tests" = 1 ]; then
  test_gpu --gtest_filter="$filter" --gtest_brief=1 > "$out/tests.log" 2>&1 || status=1
  tail -40 "$out/tests.log"
fi
if [ -n "$bench_args" ]; then
  # shellcheck disable=SC2086
  nibble-cli bench $bench_args > "$out/bench.log" 2>&1 || status=1
  tail -25 "$out/bench.log"
fi
exit $status
