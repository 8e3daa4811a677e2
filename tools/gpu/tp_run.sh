#!/usr/bin/env bash
# Tensor-parallel measurements on a machine of two or more GPUs (after tools/gpu/run.sh has
# unpacked the bundle into /tmp/nibble-bin): the synthetic 7B (EXL2 4.0 bpw) and 70B-shaped
# (EXL2 2.5 bpw) models on one GPU and shared among two (peer-access collectives, and NCCL's), decode/prefill (nibble-cli bench) and
# the runtime at 1 and 32 jobs. NCCL comes from NIBBLE_NCCL_LIBRARY, else the first libnccl.so.2
# found on the machine. Each step has its own time limit and appends to $OUT/tp.log.
# Usage: tools/gpu/tp_run.sh 7b|70b [GPUS]    (GPUS: how many share the layers, default 2)
set -uo pipefail
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out"
export PATH="/tmp/nibble-bin:$PATH" LD_LIBRARY_PATH="/tmp/nibble-bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
if [ -z "${NIBBLE_NCCL_LIBRARY:-}" ]; then
  NIBBLE_NCCL_LIBRARY=$(find /usr /opt -name 'libnccl.so.2' 2>/dev/null | head -1)
  export NIBBLE_NCCL_LIBRARY
fi
log="$out/tp.log"
echo "NCCL: ${NIBBLE_NCCL_LIBRARY:-none found}" | tee -a "$log"
step() {  # step LIMIT_SECONDS TITLE COMMAND...
  local limit="$1" title="$2"
  shift 2
  echo "=== $title ($(date +%T))" | tee -a "$log"
  timeout -k 5 "$limit" stdbuf -oL -eL "$@" 2>&1 | grep -vE '^\s*$' | tail -12 | tee -a "$log"
}
n="${2:-2}"
devs=$(seq -s, 0 $((n - 1)) | sed 's/\([0-9]\+\)/cuda:\1/g')
case "${1:-7b}" in
  7b)
    d=/dev/shm/syn7b
    step 120 "7B exl2, 1 GPU" nibble-cli bench --device cuda:0 --formats exl2 --decode 256 --prefill 2048 --repeats 2 --dir $d --keep
    step 120 "7B exl2, tensor parallel over $devs" nibble-cli bench --devices $devs --tensor-parallel --formats exl2 --decode 256 --prefill 2048 --repeats 2 --dir $d --keep
    step 120 "7B exl2, tensor parallel over $devs, NCCL collectives" env NIBBLE_TP_NCCL=1 nibble-cli bench --devices $devs --tensor-parallel --formats exl2 --decode 256 --prefill 2048 --repeats 2 --dir $d --keep
    step 120 "7B runtime, 1 GPU" bench_runtime --synthetic-dir $d --device cuda:0 --jobs 1,32 --new 128
    step 120 "7B runtime, tensor parallel over $devs" bench_runtime --synthetic-dir $d --devices $devs --tensor-parallel --jobs 1,32 --new 128
    ;;
  70b)
    d=/dev/shm/syn70b
    shape="--layers 80 --hidden 8192 --intermediate 28672 --heads 64 --kv-heads 8 --bits 2.5"
    step 200 "70B-shaped exl2 2.5 bpw, 1 GPU" nibble-cli bench --device cuda:0 $shape --formats exl2 --decode 128 --prefill 2048 --repeats 2 --dir $d --keep
    step 200 "70B-shaped exl2 2.5 bpw, tensor parallel over $devs" nibble-cli bench --devices $devs --tensor-parallel $shape --formats exl2 --decode 128 --prefill 2048 --repeats 2 --dir $d --keep
    step 200 "70B-shaped exl2 2.5 bpw, tensor parallel over $devs, NCCL collectives" env NIBBLE_TP_NCCL=1 nibble-cli bench --devices $devs --tensor-parallel $shape --formats exl2 --decode 128 --prefill 2048 --repeats 2 --dir $d --keep
    step 120 "70B runtime, tensor parallel over $devs" bench_runtime --model $d/exl2 --devices $devs --tensor-parallel --jobs 1,32 --new 64 --context 8192
    ;;
esac
