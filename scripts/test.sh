#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian packages; the API test tools from PyPI), builds, runs every test through
# CTest. Integration tests start their own redis-server and fleet on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-test-tools.sh
# Tests and benchmarks explicitly: a build/ configured by scripts/quickstart.sh has them off.
scripts/build.sh -DGPUFLEET_VIDEO=ON -DGPUFLEET_BUILD_TESTS=ON -DGPUFLEET_BUILD_BENCH=ON
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 "$@")
# A short libFuzzer round over every decoder of outside input (scripts/fuzz.sh runs longer ones).
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
