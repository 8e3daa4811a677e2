#!/usr/bin/env bash
# The test command's second half: the engine tests under AddressSanitizer + UndefinedBehaviorSanitizer,
# then every libFuzzer target for NIBBLE_FUZZ_SECONDS (default 60) each, two at a time.
# Called by bootstrap.sh test (skipped with --quick). Usage: test-extra.sh REPO_ROOT
set -uo pipefail
root="$1"
jobs="${NIBBLE_JOBS:-$(nproc)}"
seconds="${NIBBLE_FUZZ_SECONDS:-60}"
san="${NIBBLE_SAN_BUILD_DIR:-$root/build-asan}"
fuzz="${NIBBLE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
say() { printf 'nibble: %s\n' "$*" >&2; }
status=0

say "stage 2/3: engine tests under ASan/UBSan ($san)"
if [ ! -f "$san/build.ninja" ]; then
  cmake -S "$root" -B "$san" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNIBBLE_GUI=OFF -DNIBBLE_CUDA=OFF \
        -DNIBBLE_SANITIZE=address,undefined >"$san.configure.log" 2>&1 || { say "sanitizer configure failed ($san.configure.log)"; exit 1; }
fi
if cmake --build "$san" -j "$jobs" >"$san.build.log" 2>&1; then
  (cd "$san" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest -j "$jobs" -L unit -LE gpu --output-on-failure --timeout 900) || status=1
else
  tail -30 "$san.build.log" >&2; say "sanitizer build failed"; status=1
fi

say "stage 3/3: fuzzing each target for ${seconds}s ($fuzz)"
if ! command -v clang++ >/dev/null; then
  say "clang++ not installed: fuzzing stage cannot run"; exit 1
fi
if [ ! -f "$fuzz/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIBBLE_GUI=OFF \
      -DNIBBLE_CUDA=OFF -DNIBBLE_BUILD_TESTS=OFF -DNIBBLE_FUZZ=ON >"$fuzz.configure.log" 2>&1 \
      || { say "fuzz configure failed ($fuzz.configure.log)"; exit 1; }
fi
if ! cmake --build "$fuzz" -j "$jobs" --target nibble_fuzzers >"$fuzz.build.log" 2>&1; then
  tail -30 "$fuzz.build.log" >&2; say "fuzz build failed"; exit 1
fi
mapfile -t targets < <(find "$fuzz/tests/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x | sort)
if [ "${#targets[@]}" -eq 0 ]; then
  say "no fuzz targets built"
else
  pids=(); names=()
  run_one() {
    local bin="$1" name; name="$(basename "$1")"
    local corpus_src="$root/tests/fuzz/corpus/${name#fuzz_}" work="$fuzz/corpus-$name"
    mkdir -p "$work"
    [ -d "$corpus_src" ] && cp -n "$corpus_src"/* "$work"/ 2>/dev/null
    "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
           -artifact_prefix="$fuzz/$name-" "$work" >"$fuzz/$name.log" 2>&1
  }
  for t in "${targets[@]}"; do
    run_one "$t" & pids+=($!); names+=("$(basename "$t")")
    if [ "${#pids[@]}" -ge 2 ]; then
      for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then say "fuzz ${names[$i]}: no findings"; else say "fuzz ${names[$i]}: FINDING (log $fuzz/${names[$i]}.log)"; tail -40 "$fuzz/${names[$i]}.log" >&2; status=1; fi
      done
      pids=(); names=()
    fi
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then say "fuzz ${names[$i]}: no findings"; else say "fuzz ${names[$i]}: FINDING (log $fuzz/${names[$i]}.log)"; tail -40 "$fuzz/${names[$i]}.log" >&2; status=1; fi
  done
fi
exit "$status"
