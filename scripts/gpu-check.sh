#!/usr/bin/env bash
# Builds gpufleet on a CUDA machine against the LibTorch inside its PyTorch and runs the checks that need a GPU.
# Expects the Debian dependencies as .deb files in .gpu-debs and gpu-kit's `unpack` in .gpu-debs-tools
# (see ../shared/gpu-kit/README.md). Writes logs to $OUT (or ./gpu-check-out). Prepare them on a machine with
# Debian's registry:
#   ../shared/gpu-kit/fetch-debs .gpu-debs ninja-build libssl-dev libssl3 libasound2 libasound2-data libpulse0 libasyncns0 \
#     libdbus-1-3 libsndfile1 libflac12 libmp3lame0 libmpg123-0 libogg0 libopus0 libvorbis0a libvorbisenc2 \
#     libx11-6 libx11-xcb1 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 libx11-data
#   mkdir -p .gpu-debs-tools && cp ../shared/gpu-kit/unpack .gpu-debs-tools/
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${OUT:-gpu-check-out}
mkdir -p "$out"
step() { echo; echo "=== $* ($(date +%T))"; }

step "machine"
nvidia-smi -L || true
g++ --version | head -1
cmake --version | head -1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'

step "unpack Debian dependencies"
source scripts/gpu-env.sh

step "configure and build"
# Test modules (TorchScript voices, renderers) are built with the PyTorch of this host (Debian's python3-torch is
# not here).
export GPUFLEET_PYTHON="${GPUFLEET_PYTHON:-$(command -v python3)}"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUFLEET_MODELS_PYTHON="$GPUFLEET_PYTHON" \
  -DCMAKE_PREFIX_PATH="$torch_prefix;${CMAKE_PREFIX_PATH//:/;}" >"$out/configure.log" 2>&1 \
  || { tail -40 "$out/configure.log"; exit 1; }
grep -E "gpufleet: LibTorch" "$out/configure.log"
cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -E "error|Error" -A3 "$out/build.log" | head -40; exit 1; }
ldd build-gpu/bin/gpufleet-worker build-gpu/lib/libgpufleet_torch.so | grep "not found" && exit 1
echo "build ok"

step "device the worker picks"
DEVICE=auto build-gpu/bin/gpufleet-worker --print-device
DEVICE=cuda:0 build-gpu/bin/gpufleet-worker --print-device

step "tests"
(cd build-gpu && ctest --output-on-failure --timeout 300 2>&1 | tee "$out/ctest.log" | tail -25)

step "demo with DEVICE=auto (the worker on CUDA)"
PORT=18001 BROKER_PORT=15555 REDIS_PORT=16379 STATE_DIR=/tmp/gf-demo DEVICE=auto \
  build-gpu/bin/gpufleet demo "Speech from a worker on a GPU host." 2>&1 | tee "$out/demo.log"

step "dynamic batching on CUDA (random-weight medium voice)"
"$GPUFLEET_PYTHON" tests/models/make_vits_voice.py /tmp/gf-voice --size medium
build-gpu/bin/gpufleet-voice-bench --voice /tmp/gf-voice --device cuda --jobs 64 --batches 1,2,4,8,16 2>&1 \
  | tee "$out/voice-bench.log"

step "fleet benchmark (noop model)"
build-gpu/bin/gpufleet-bench --jobs 20000 2>&1 | tee "$out/bench.log"

step "XTTS engine on CUDA against the golden set (float32, TF32 off)"
XTTS_TEST_DEVICE=cuda GPUFLEET_SOURCE_DIR="$PWD" build-gpu/tests/xtts_cli_test 2>&1 | tee "$out/xtts-cli-cuda.log" | tail -8

step "XTTS at full size on CUDA: float32, bfloat16, float16 (random weights)"
for dtype in float32 bfloat16 float16; do
  build-gpu/bin/gpufleet-xtts-bench --device cuda --dtype "$dtype" --codes 100 --runs 3 --batches 1,4,16 \
    --batch-codes 100 --arrivals 8 2>&1 | grep -v "^W[0-9]" | tee "$out/xtts-bench-$dtype.log"
done
