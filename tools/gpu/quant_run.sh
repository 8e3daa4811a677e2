#!/usr/bin/env bash
# Quantizer timings on the GPU machine (the quant rows of docs/PERF.md). Runs from the repository
# root after tools/gpu/run.sh has unpacked the bundle (or unpacks it itself), logs under $OUT.
#   demo:  dictlm-16m to 4.0 bpw with the default calibration (100 rows x 2048 tokens, measurement on
#          16 rows), with measurement and then reusing it; ppl_raw of both outputs (BENCHMARKS.md).
#   7b:    a synthetic fp16 Llama-2-7B-shaped model (LAYERS layers, default 32) to 4.0 bpw, the demo
#          model's tokenizer copied in for the calibration text. All 32 layers take ~13 min on an
#          H200, more than one device command may run: RESUME=1 skips writing the model and runs
#          the same quantize command again, which resumes from the job record in the output folder.
# Usage: tools/gpu/quant_run.sh demo|7b [DEVICE]   (DEVICE: cuda:0 by default, or cpu)
set -uo pipefail
what="${1:-demo}"
dev="${2:-cuda:0}"
out="${OUT:-/tmp/nibble-out}"
mkdir -p "$out" /tmp/nibble-bin
# The binaries find the default calibration set through the source tree's absolute path.
for tree in /work/main /work/gpu-tree; do
  [ -e "$tree" ] || { mkdir -p "$(dirname "$tree")" && ln -s "$PWD" "$tree"; }
done
[ -x /tmp/nibble-bin/nibble-cli ] || tar -C /tmp/nibble-bin -xJf gpu-build/bundle.tar.xz
export PATH="/tmp/nibble-bin:$PATH" LD_LIBRARY_PATH="/tmp/nibble-bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
w=/dev/shm/nibble-quant
mkdir -p "$w"
demo=resources/models/dictlm-16m
heldout=tests/data/corpus/heldout_raw.txt.gz

step() {  # step LIMIT NAME CMD...
  local limit="$1" name="$2"
  shift 2
  local start
  start=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  printf '%-28s rc=%-3s %7.1fs\n' "$name" "$rc" "$(python3 -c "print($(date +%s.%N) - $start)")" | tee -a "$out/quant-summary.txt"
  tail -4 "$out/$name.log"
}

case "$what" in
  demo)
    tag="${dev/:/}"
    rm -rf "$w/$tag-a" "$w/$tag-b" "$w/$tag-m.json"
    step 400 "demo-$tag-with-measurement" nibble-cli quantize "$demo" "$w/$tag-a" --bpw 4.0 --measurement "$w/$tag-m.json" --device "$dev"
    step 400 "demo-$tag-reusing" nibble-cli quantize "$demo" "$w/$tag-b" --bpw 4.0 --measurement "$w/$tag-m.json" --device "$dev"
    step 120 "demo-$tag-ppl-a" nibble-cli perplexity "$w/$tag-a" --file "$heldout" --device cuda:0
    step 120 "demo-$tag-ppl-b" nibble-cli perplexity "$w/$tag-b" --file "$heldout" --device cuda:0
    cp "$w/$tag-a/quantization_report.json" "$out/demo-$tag-report.json" 2>/dev/null
    ;;
  7b)
    layers="${LAYERS:-32}"
    if [ "${RESUME:-0}" != 1 ]; then
      rm -rf "$w/syn" "$w/syn-q"
      step 300 "7b-write-l$layers" nibble-cli bench --write-only --formats fp16 --layers "$layers" --dir "$w/syn"
      for f in "$demo"/tokenizer.json "$demo"/tokenizer_config.json "$demo"/chat_template.jinja "$demo"/generation_config.json; do
        [ -e "$f" ] && cp "$f" "$w/syn/fp16/"
      done
    fi
    step "${LIMIT:-540}" "7b-${dev/:/}-l$layers" nibble-cli quantize "$w/syn/fp16" "$w/syn-q" --bpw 4.0 --device "$dev" ${QUANT_ARGS:-}
    cp "$w/syn-q/quantization_report.json" "$out/7b-report.json" 2>/dev/null
    ;;
esac
