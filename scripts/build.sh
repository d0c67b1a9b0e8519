#!/usr/bin/env bash
# Configures and builds gpufleet into build/ (binaries in build/bin). Extra arguments go to CMake's configure
# step, e.g. -DCMAKE_PREFIX_PATH=... for a CUDA LibTorch (see README, "Running on GPUs").
# BUILD_TARGETS="a b" builds only those targets (and what they need) instead of everything.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
targets=()
for target in ${BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
