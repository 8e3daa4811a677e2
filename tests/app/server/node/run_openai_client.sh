#!/bin/bash
# Starts `nibble-cli serve` on the demo model (any free port), runs the openai client script
# against it, then stops the server with SIGTERM and checks it exits cleanly.
# Usage: run_openai_client.sh NIBBLE_CLI MODEL_DIR REFS_JSON NODE_DIR SCRIPT
set -u
CLI="$1" MODEL="$2" REFS="$3" DIR="$4" SCRIPT="$5"
if ! command -v node >/dev/null 2>&1 || [ ! -f "$DIR/node_modules/openai/package.json" ]; then
  echo "the openai npm package is not installed in $DIR: skipping"
  exit 77
fi
cp "$SCRIPT" "$DIR/openai_client.mjs"
LOG="$DIR/serve.log"
"$CLI" serve --model "$MODEL" --port 0 --api-key test-key --context 2048 --threads 2 >"$LOG" 2>&1 &
PID=$!
URL=""
for _ in $(seq 1 300); do
  URL=$(grep -o 'http://[0-9.:]*' "$LOG" | head -1)
  [ -n "$URL" ] && break
  kill -0 $PID 2>/dev/null || break
  sleep 0.1
done
if [ -z "$URL" ]; then
  echo "the server did not start:"; cat "$LOG"; kill $PID 2>/dev/null; exit 1
fi
node "$DIR/openai_client.mjs" "$URL/v1" "$REFS"
RC=$?
kill -TERM $PID
wait $PID
SRV=$?
cat "$LOG"
if [ $SRV -ne 0 ]; then echo "nibble-cli serve exited with $SRV after SIGTERM"; exit 1; fi
exit $RC
