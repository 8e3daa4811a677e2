#!/usr/bin/env bash
# A/B timing on the GPU machine: the current bundle (gpu-build/bundle.tar.xz) against a baseline
# bundle (gpu-build/baseline.tar.xz, e.g. the previous commit's build) on the same card in one run,
# alternating the two so drift in clocks or temperature shows up in both. Each step has its own
# time limit and appends to $OUT/ab.log. Run after nothing else, or after tools/gpu/run.sh.
# Usage: tools/gpu/ab_run.sh [--kernels] [--runtime "BENCH_RUNTIME ARGS"] [--bench "NIBBLE-CLI BENCH ARGS"]
set -uo pipefail
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out" /tmp/nibble-bin /tmp/nibble-base
[ -x /tmp/nibble-bin/bench_kernels ] || tar -C /tmp/nibble-bin -xJf gpu-build/bundle.tar.xz
[ -f gpu-build/baseline.tar.xz ] && tar -C /tmp/nibble-base -xJf gpu-build/baseline.tar.xz
export LD_LIBRARY_PATH="/tmp/nibble-bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
log="$out/ab.log"
kernels=0; runtime=""; bench=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kernels) kernels=1 ;;
    --runtime) runtime="$2"; shift ;;
    --bench) bench="$2"; shift ;;
  esac
  shift
done
step() {  # step LIMIT_SECONDS TITLE COMMAND...
  local limit="$1" title="$2"
  shift 2
  echo "=== $title ($(date +%T))" | tee -a "$log"
  timeout -k 5 "$limit" stdbuf -oL -eL "$@" 2>&1 | grep -vE '^\s*$' | tail -${TAIL:-30} | tee -a "$log"
}
for side in new base; do
  dir=/tmp/nibble-bin
  [ "$side" = base ] && dir=/tmp/nibble-base
  [ -x "$dir/bench_kernels" ] || continue
  [ "$kernels" = 1 ] && step 120 "$side: bench_kernels" "$dir/bench_kernels"
  # shellcheck disable=SC2086
  [ -n "$bench" ] && step 240 "$side: nibble-cli bench $bench" "$dir/nibble-cli" bench $bench
  # shellcheck disable=SC2086
  [ -n "$runtime" ] && step 240 "$side: bench_runtime $runtime" "$dir/bench_runtime" $runtime
done
exit 0
