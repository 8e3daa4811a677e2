#!/usr/bin/env bash
# Layer-split and CPU-offload measurements on the GPU machine (after tools/gpu/run.sh has unpacked
# the bundle into /tmp/nibble-bin). Each step has its own time limit and appends to $OUT/split.log,
# so what finished comes back even when a later step runs out of time.
# CPU_LAYERS="4 8" picks the offload runs (empty: none).
# Usage: tools/gpu/split_run.sh 7b     synthetic 7B EXL2 4.0 bpw: 1 GPU vs 2 GPUs, 4/8/16 CPU layers,
#                                      batch 1/32 decode through the runtime on 1 and 2 GPUs
#        tools/gpu/split_run.sh 70b    synthetic 70B-shaped EXL2 at 2.5 bpw: 1 GPU vs 2 GPUs
set -uo pipefail
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out"
export PATH="/tmp/nibble-bin:$PATH" LD_LIBRARY_PATH="/tmp/nibble-bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
log="$out/split.log"
step() {  # step LIMIT_SECONDS TITLE COMMAND...
  local limit="$1" title="$2"
  shift 2
  echo "=== $title ($(date +%T))" | tee -a "$log"
  timeout -k 5 "$limit" stdbuf -oL -eL "$@" 2>&1 | grep -vE '^\s*$' | tail -12 | tee -a "$log"
}
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
echo "GPUs: $gpus; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)" | tee -a "$log"
case "${1:-7b}" in
  7b)
    d=/dev/shm/syn7b
    step 120 "7B exl2, 1 GPU" nibble-cli bench --device cuda:0 --formats exl2 --decode 256 --prefill 2048 --repeats 2 --dir $d --keep
    [ "$gpus" -ge 2 ] && step 120 "7B exl2, layers split over 2 GPUs" nibble-cli bench --devices cuda:0,cuda:1 --formats exl2 --decode 256 --prefill 2048 --repeats 2 --dir $d --keep
    for k in ${CPU_LAYERS-4 8 16}; do
      step 150 "7B exl2, $k layers on the CPU" nibble-cli bench --device cuda:0 --cpu-layers $k --formats exl2 --decode 32 --prefill 128 --repeats 1 --dir $d --keep
    done
    step 120 "7B runtime, 1 GPU" bench_runtime --synthetic-dir $d --device cuda:0 --jobs 1,32 --new 128
    [ "$gpus" -ge 2 ] && step 120 "7B runtime, 2 GPUs" bench_runtime --synthetic-dir $d --devices cuda:0,cuda:1 --jobs 1,32 --new 128
    ;;
  70b)
    d=/dev/shm/syn70b
    shape="--layers 80 --hidden 8192 --intermediate 28672 --heads 64 --kv-heads 8 --bits 2.5"
    step 200 "70B-shaped exl2 2.5 bpw, 1 GPU" nibble-cli bench --device cuda:0 $shape --formats exl2 --decode 128 --prefill 2048 --repeats 2 --dir $d --keep
    [ "$gpus" -ge 2 ] && step 150 "70B-shaped exl2 2.5 bpw, layers split over 2 GPUs" nibble-cli bench --devices cuda:0,cuda:1 $shape --formats exl2 --decode 128 --prefill 2048 --repeats 2 --dir $d --keep
    step 120 "70B runtime, 1 GPU" bench_runtime --model $d/exl2 --device cuda:0 --jobs 1,32 --new 64 --context 8192
    [ "$gpus" -ge 2 ] && step 120 "70B runtime, 2 GPUs" bench_runtime --model $d/exl2 --devices cuda:0,cuda:1 --jobs 1,32 --new 64 --context 8192
    ;;
esac
exit 0
