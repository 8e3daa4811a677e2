#!/bin/sh
# Installs the official `openai` npm package into DIR (reused when already there).
# Exit 77 (skipped) when node/npm are missing or the registry cannot be reached.
DIR="$1"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm not found (packaging/bootstrap.sh installs them): skipping the openai client test"
  exit 77
fi
mkdir -p "$DIR"
if [ -f "$DIR/node_modules/openai/package.json" ]; then
  echo "openai $(node -p "require('$DIR/node_modules/openai/package.json').version") already in $DIR"
  exit 0
fi
cd "$DIR" || exit 1
[ -f package.json ] || echo '{"name": "nibble-openai-client-test", "private": true}' > package.json
if ! npm install --no-save --no-audit --no-fund openai@4; then
  echo "npm install openai@4 failed (no registry access?): skipping the openai client test"
  exit 77
fi
