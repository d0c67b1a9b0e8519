#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian packages; the API test tools and the torch wheel from
# PyPI), builds, runs every test through CTest, then the LibTorch tests again against LibTorch 2.x with CUDA.
# Integration tests start their own redis-server and fleet on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-test-tools.sh
# Tests and benchmarks explicitly: a build/ configured by scripts/quickstart.sh has them off.
scripts/build.sh -DGPUFLEET_TORCH=ON -DGPUFLEET_VIDEO=ON -DGPUFLEET_WEBRTC=ON -DGPUFLEET_BUILD_TESTS=ON \
  -DGPUFLEET_BUILD_BENCH=ON
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 "$@")
# The CUDA configuration: LibTorch 2.x with CUDA from PyPI's torch wheel, every test that loads LibTorch run on
# it (scripts/test-torch2.sh; TORCH2=0 skips it).
if [ "${TORCH2:-1}" != 0 ]; then
  scripts/test-torch2.sh
fi
# A short libFuzzer round over every decoder of outside input (scripts/fuzz.sh runs longer ones).
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
