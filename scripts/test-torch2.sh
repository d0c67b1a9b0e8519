#!/usr/bin/env bash
# The CUDA configuration: gpufleet built against LibTorch 2.x with CUDA from PyPI's torch wheel (pinned by
# scripts/install-torch.sh) into build-torch2/, and every test that loads LibTorch (CTest label `torch`) run on
# this machine's CPU, with test modules written by the wheel's own Python. Checks that CUDA was compiled in
# (the plugin links the CUDA allocator). scripts/test.sh runs it after the default build's suite; on its own it
# expects scripts/install-deps.sh to have run. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build-torch2
torch_prefix=$(scripts/install-torch.sh | tail -1)
python=$PWD/.tools/torch/bin/python
"$python" -c 'import torch; print("test-torch2: torch", torch.__version__, "CUDA", torch.version.cuda)'

# Only what the `torch` tests run: the plugin, the worker, the XTTS tools and those tests. The fleet's programs
# that never load LibTorch (gateway, broker, CLI) come from the default build when it has them (scripts/test.sh
# builds it first), which saves compiling the gateway a second time; otherwise they are built here.
targets=(gpufleet_torch gpufleet-worker gpufleet-xtts gpufleet-xtts-bench device_test torch_plugin_test
  piper_voice_test face_renderer_test xtts_torch_test voices_test xtts_cli_test video_fleet_test)
torch_free=(gpufleet-gateway gpufleet-broker gpufleet)
default_bin=${DEFAULT_BUILD_DIR:-build}/bin
mkdir -p "$build_dir/bin"
for program in "${torch_free[@]}"; do
  if [ -x "$default_bin/$program" ] && ! ldd "$default_bin/$program" | grep -q libtorch; then
    # A copy, not a link: `gpufleet up` starts the programs next to its own file (/proc/self/exe), which must
    # be this build's worker.
    cp -f "$default_bin/$program" "$build_dir/bin/$program"
  else
    rm -f "$build_dir/bin/$program"
    targets+=("$program")
  fi
done
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DGPUFLEET_MODELS_PYTHON="$python" -DGPUFLEET_VIDEO=ON \
  -DGPUFLEET_BUILD_TESTS=ON -DGPUFLEET_BUILD_BENCH=ON | grep -E "gpufleet: |PyTorch: CUDA"
build_targets=()
for target in "${targets[@]}"; do build_targets+=(--target "$target"); done
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" "${build_targets[@]}"

(cd "$build_dir" && ctest --output-on-failure --timeout 600 -L torch "$@")
