#!/usr/bin/env bash
# From a fresh Debian 12 machine to speech through the fleet: installs what is missing, builds, starts the
# local fleet (Redis, broker, one worker, gateway on :8001), synthesises a sentence through it, prints where
# the WAV landed and how long each stage took, and stops the fleet again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/bin/gpufleet demo "$@"
