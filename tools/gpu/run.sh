#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: unpacks gpu-build/bundle.tar.xz, records the
# machine, runs each GPU test suite in its own process under a time limit, and (with --bench) the
# synthetic benchmarks, writing logs to $OUT.
# Usage: tools/gpu/run.sh [--tests] [--suites "A B"] [--bench "BENCH ARGS"] [--limit SECONDS]
set -uo pipefail
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out" /tmp/nibble-bin
# Test binaries carry the source tree's absolute path (test data): point it at this checkout.
for tree in /work/main /work/gpu-tree; do
  [ -e "$tree" ] || { mkdir -p "$(dirname "$tree")" && ln -s "$PWD" "$tree"; }
done
tar -C /tmp/nibble-bin -xJf gpu-build/bundle.tar.xz
export PATH="/tmp/nibble-bin:$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)" LD_LIBRARY_PATH="/tmp/nibble-bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$out/machine.txt" 2>&1
run_tests=0; bench_args=""; limit=120; kernels=0
suites="KernelsDevice QGemv DGemv Gemm Ops Attention RopeKv Sampling CudaModel KvQuantGpu GpuMemoryPlan PlacementGpu QuantGpu FusedDecode"
while [ $# -gt 0 ]; do
  case "$1" in
    --tests) run_tests=1 ;;
    --suites) suites="$2"; shift ;;
    --bench) bench_args="$2"; shift ;;
    --limit) limit="$2"; shift ;;
    --kernels) kernels=1 ;;
  esac
  shift
done
status=0
if [ "$run_tests" = 1 ]; then
  for s in $suites; do
    start=$(date +%s.%N)
    timeout -k 5 "$limit" stdbuf -oL -eL test_gpu --gtest_filter="$s.*" > "$out/test-$s.log" 2>&1
    rc=$?
    printf '%-14s rc=%-3s %6.1fs  %s\n' "$s" "$rc" "$(python3 -c "print($(date +%s.%N) - $start)")" \
      "$(grep -E '^\[  (PASSED|FAILED)' "$out/test-$s.log" | tr '\n' ' ')" | tee -a "$out/summary.txt"
    [ "$rc" = 0 ] || status=1
  done
  cat "$out"/test-*.log > "$out/tests.log"
  grep -hE 'Failure|FAILED|error|rel L2|ppl_raw|agreement' "$out"/test-*.log | head -60
fi
if [ "$kernels" = 1 ]; then
  timeout -k 5 120 bench_kernels > "$out/kernels.log" 2>&1 || status=1
  cat "$out/kernels.log"
fi
if [ -n "${NCU_KERNELS:-}" ] && command -v ncu >/dev/null; then
  # One profiled launch of each named kernel (regex), after the warm-up launches.
  for k in $NCU_KERNELS; do
    timeout -k 5 150 ncu --clock-control none -k "regex:$k" --launch-skip 12 --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --section MemoryWorkloadAnalysis --section InstructionStats bench_kernels > "$out/ncu-$k.txt" 2>&1
    grep -E "Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Warp Cycles Per Issued|Issued Ipc|Executed Ipc|L1/TEX Hit|L2 Hit|Local Memory" "$out/ncu-$k.txt" | head -40
  done
fi
if [ -n "$bench_args" ]; then
  # shellcheck disable=SC2086
  timeout -k 5 420 stdbuf -oL -eL nibble-cli bench $bench_args > "$out/bench.log" 2>&1 || status=1
  tail -25 "$out/bench.log"
fi
exit $status
