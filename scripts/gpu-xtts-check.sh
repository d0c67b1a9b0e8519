#!/usr/bin/env bash
# On a CUDA machine: builds the XTTS engine against the PyTorch there and runs its golden checks (CPU and
# CUDA) and the full-size benchmark on CUDA. Needs .gpu-debs/.gpu-debs-tools (see gpu-check.sh) and a copy of
# the golden folder in .xtts-golden (../shared does not travel).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
source scripts/gpu-env.sh
[ -f build-gpu/build.ninja ] || cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;${CMAKE_PREFIX_PATH//:/;}" >/tmp/configure.log 2>&1 || { tail -30 /tmp/configure.log; exit 1; }
cmake --build build-gpu -j "$(nproc)" --target xtts_torch_test xtts_cli_test gpufleet-xtts gpufleet-xtts-bench >/tmp/build.log 2>&1 \
  || { grep -E "error" -A3 /tmp/build.log | head -40; exit 1; }
echo "build ok"
# These test binaries link LibTorch directly; the wheel's own std::filesystem must not win (see models/torch/runtime.hpp).
LD_PRELOAD=$(g++ -print-file-name=libstdc++.so.6)
export LD_PRELOAD XTTS_GOLDEN_DIR=$PWD/.xtts-golden GPUFLEET_BIN_DIR=$PWD/build-gpu/bin
build-gpu/tests/xtts_torch_test 2>&1 | grep -E "^\[ +(OK|FAILED|PASSED)|Failure|max" | head -20
echo "--- gpufleet-xtts on the golden folder, device cuda"
XTTS_TEST_DEVICE=cuda build-gpu/tests/xtts_cli_test --gtest_filter=*FromSafetensors* 2>&1 | grep -E "^\[ +(OK|FAILED|PASSED)|Failure|max|shape" | head -20
unset LD_PRELOAD
echo "--- benchmark"
build-gpu/bin/gpufleet-xtts-bench --device cuda --codes 250 --runs 3 2>&1 | grep -v -i warning
