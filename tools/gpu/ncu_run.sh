#!/usr/bin/env bash
# Nsight Compute on chosen launches of bench_kernels (after the bundle is unpacked into
# /tmp/nibble-bin by tools/gpu/run.sh, or unpacking it here). Each argument is REGEX:SKIP: the
# SKIP-th launch (0-based) of the kernels whose demangled name matches REGEX is profiled with the
# speed-of-light, occupancy, warp-state, memory, instruction and source-counter sections; the
# report goes to $OUT/ncu-N.txt and its summary lines to stdout.
# Usage: tools/gpu/ncu_run.sh 'qgemv_wide_kernel<.int.32:310' 'qgemv_u4_kernel<.int.8, .bool.1:10'
# (demangled template arguments read "<(int)8, (bool)1>")
set -uo pipefail
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out" /tmp/nibble-bin
[ -x /tmp/nibble-bin/bench_kernels ] || tar -C /tmp/nibble-bin -xJf gpu-build/bundle.tar.xz
export PATH="/tmp/nibble-bin:$PATH:/usr/local/cuda/bin:$(ls -d /opt/nvidia/nsight-compute/*/ 2>/dev/null | tail -1)"
export LD_LIBRARY_PATH="/tmp/nibble-bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
command -v ncu >/dev/null || { echo "ncu not found"; exit 1; }
i=0
for spec in "$@"; do
  re="${spec%:*}" skip="${spec##*:}"
  timeout -k 5 200 ncu --clock-control none --kernel-name-base demangled -k "regex:$re" --launch-skip "$skip" --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section MemoryWorkloadAnalysis --section InstructionStats --section SchedulerStats --section SourceCounters \
    --metrics smsp__pcsamp_warps_issue_stalled_long_scoreboard,smsp__pcsamp_warps_issue_stalled_barrier,smsp__pcsamp_warps_issue_stalled_short_scoreboard,smsp__pcsamp_warps_issue_stalled_wait,smsp__pcsamp_warps_issue_stalled_math_pipe_throttle,smsp__pcsamp_warps_issue_stalled_mio_throttle,smsp__pcsamp_warps_issue_stalled_lg_throttle,smsp__pcsamp_warps_issue_stalled_not_selected,smsp__pcsamp_warps_issue_stalled_selected,smsp__pcsamp_warps_issue_stalled_dispatch_stall,smsp__pcsamp_warps_issue_stalled_no_instructions,smsp__pcsamp_warps_issue_stalled_membar,smsp__pcsamp_warps_issue_stalled_sleeping,smsp__pcsamp_warps_issue_stalled_tex_throttle,smsp__pcsamp_warps_issue_stalled_drain,smsp__pcsamp_warps_issue_stalled_imc_miss,smsp__pcsamp_warps_issue_stalled_branch_resolving \
    bench_kernels > "$out/ncu-$i.txt" 2>&1
  echo "=== $spec"
  grep -E "qgemv|stage_kernel|pcsamp|Duration|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Warp Cycles Per Issued|Issued Ipc|L2 Hit|Local Memory|Stall|Grid Size|Executed Instructions  |Dynamic Shared|Waves Per SM" "$out/ncu-$i.txt" | head -40
  i=$((i + 1))
done
