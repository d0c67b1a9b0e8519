#!/usr/bin/env bash
# From a fresh Debian 12 machine to speech through the fleet: installs what is missing (only what the speech
# path needs), builds only the four programs it runs, starts the local fleet (Redis, broker, one worker,
# gateway on :8001), synthesises a sentence through it, prints where the WAV landed and how long each stage
# took, and stops the fleet again. scripts/test.sh later installs and builds the rest into the same build/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --minimal
BUILD_TARGETS="gpufleet gpufleet-gateway gpufleet-broker gpufleet-worker" \
  scripts/build.sh -DGPUFLEET_BUILD_TESTS=OFF -DGPUFLEET_BUILD_BENCH=OFF
# On a machine where installing redis-server started Debian's own Redis service on 6379, use that one.
if [ -z "${REDIS_URL:-}" ] && [ -z "${REDIS_PORT:-}" ] && redis-cli -p 6379 ping >/dev/null 2>&1; then
  echo "quickstart: using the Redis already running on port 6379"
  export REDIS_URL=redis://127.0.0.1:6379
fi
exec build/bin/gpufleet demo "$@"
