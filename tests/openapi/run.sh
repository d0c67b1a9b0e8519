#!/usr/bin/env bash
# Guards the OpenAPI description (gateway/openapi.json): it is valid OpenAPI 3.1, the live gateway serves
# exactly it at /openapi.json, and schemathesis' examples, fuzzing and stateful phases against a
# live fleet (gpufleet up: Redis, broker, a worker of every built-in model it serves, the gateway) find no 5xx and no response
# that the description does not allow. The tools come from scripts/install-test-tools.sh (.tools/venv).
# Usage: tests/openapi/run.sh BIN_DIR [MAX_EXAMPLES]
set -euo pipefail
bin_dir=$(cd "${1:?usage: run.sh BIN_DIR [MAX_EXAMPLES]}" && pwd)
examples=${2:-${OPENAPI_EXAMPLES:-100}}
root=$(cd "$(dirname "$0")/../.." && pwd)
tools="$root/.tools/venv/bin"
if [ ! -x "$tools/schemathesis" ]; then
  echo "openapi: $tools/schemathesis is missing: run scripts/install-test-tools.sh" >&2
  exit 1
fi
"$tools/openapi-spec-validator" "$root/gateway/openapi.json"

state=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_port=$(port)
HOST=127.0.0.1 PORT=$http_port REDIS_PORT=$(port) BROKER_PORT=$(port) BROKER_METRICS_PORT=0 \
  STORAGE_ROOT="$state/storage" STATE_DIR="$state/s" WORKER_SLOTS=2 LOG_LEVEL=warn \
  "$bin_dir/gpufleet" up > "$state/up.log" 2>&1 &
stack=$!
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  kill "$stack" 2>/dev/null || true
  wait "$stack" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
url="http://127.0.0.1:$http_port"
for _ in $(seq 1 300); do
  curl -sf "$url/health" > /dev/null && break
  sleep 0.2
done
curl -sf "$url/health" > /dev/null || { cat "$state/up.log"; echo "openapi: the fleet did not start" >&2; exit 1; }

# What is served is what is committed.
curl -sf "$url/openapi.json" | cmp - "$root/gateway/openapi.json"

# /v1/events never ends (it follows the fleet until the client leaves): schemathesis cannot read it whole.
status=0
# hooks.py: an Idempotency-Key specific to its request (why: see there).
# schemathesis.toml: which refusals of schema-valid submissions are by design (why: see there).
# use_after_free is excluded here, not in schemathesis.toml: "--checks all" turns every check back on, the
# config's "enabled = false" included (schemathesis 4.32.5, ChecksConfig.update). Why it is off: see there.
# No coverage phase: with schemathesis 4.32.5 and hypothesis 6.160-6.170 it fails now and then inside
# hypothesis' own lambda-source cache while building POST /tts/generate's cases (KeyError, then CPython's "AST
# constructor recursion depth mismatch"), a crash of the tool, not an answer of the gateway's.
PYTHONPATH="$root/tests/openapi" SCHEMATHESIS_HOOKS=hooks "$tools/schemathesis" \
  --config-file "$root/tests/openapi/schemathesis.toml" run "$url/openapi.json" \
  --checks all \
  --exclude-checks use_after_free \
  --phases examples,fuzzing,stateful \
  --max-examples "$examples" \
  --exclude-path /v1/events \
  --request-timeout 30 \
  --workers 2 \
  --no-color \
  --suppress-health-check all \
  --seed 1 || status=$?
# The fleet lived through it.
curl -sf "$url/health" > /dev/null || { tail -50 "$state/up.log"; echo "openapi: the fleet is down after the run" >&2; exit 1; }
exit $status
