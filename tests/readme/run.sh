#!/usr/bin/env bash
# Guards the README (#19): its quick start, command line, API and talking-head blocks are run as a newcomer
# pastes them (tests/readme/blocks.py says which and why some are not), against a real `gpufleet up` on a
# free port, from a folder that has the checkout's build/, tests/ and clients/. Every curl fails on an HTTP
# error, every command must succeed; then `gpufleet demo` (the quick start's last step) runs.
# Usage: tests/readme/run.sh BIN_DIR
set -euo pipefail
bin_dir=$(cd "${1:?usage: run.sh BIN_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$work/build"
ln -s "$bin_dir" "$work/build/bin"
[ -d "$bin_dir/../lib" ] && ln -s "$(cd "$bin_dir/../lib" && pwd)" "$work/build/lib"
ln -s "$root/tests" "$work/tests"
ln -s "$root/clients" "$work/clients"
script=$(python3 "$root/tests/readme/blocks.py" "$root/README.md" "$work/blocks")

PORT=$(port)
REDIS_PORT=$(port)
BROKER_PORT=$(port)
export PORT REDIS_PORT BROKER_PORT HOST=127.0.0.1 BROKER_METRICS_PORT=0
export STORAGE_ROOT="$work/storage" STATE_DIR="$work/state" LOG_LEVEL=warn
export GPUFLEET_URL="http://127.0.0.1:$PORT" GPU_SERVICE_URL="http://127.0.0.1:$PORT"
export PYTHONPATH="$root/clients/python/src"  # what `pip install clients/python` gives

cat > "$work/preamble.sh" <<'PREAMBLE'
set -euo pipefail
curl() { command curl --fail-with-body --max-time 300 "$@"; }
readme_block() { echo; echo "== README.md:$2 ($1)"; }
# `gpufleet up` runs until Ctrl-C: started once in the background, then waited for.
readme_up() {
  [ -n "${readme_up_pid:-}" ] && return 0
  build/bin/gpufleet up > up.log 2>&1 &
  readme_up_pid=$!
  echo "$readme_up_pid" > up.pid
  for _ in $(seq 1 300); do
    command curl -sf "localhost:$PORT/health" > /dev/null && return 0
    sleep 0.2
  done
  cat up.log
  echo "readme: the fleet did not start" >&2
  return 1
}
PREAMBLE

cd "$work"
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -f "$work/up.pid" ]; then
    kill -INT "$(cat "$work/up.pid")" 2>/dev/null || true
    sleep 2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
status=0
bash -c "source '$work/preamble.sh'; source '$script'" || status=$?
if [ "$status" != 0 ]; then
  [ -f up.log ] && tail -30 up.log
  echo "readme: a README block failed (exit $status): see the last '== README.md:LINE' above" >&2
  exit "$status"
fi
# Ctrl-C stops every component, and `gpufleet up` says it did.
up=$(cat up.pid)
kill -INT "$up"
for _ in $(seq 1 150); do kill -0 "$up" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$up" 2>/dev/null; then echo "readme: gpufleet up did not stop on Ctrl-C" >&2; exit 1; fi
rm up.pid
grep -q "gpufleet: stopped" up.log || { cat up.log; echo "readme: gpufleet up did not report stopping" >&2; exit 1; }
echo
echo "== the quick start's last step: gpufleet demo"
build/bin/gpufleet demo
echo "readme: every block ran"
