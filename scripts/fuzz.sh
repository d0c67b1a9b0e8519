#!/usr/bin/env bash
# Fuzzes every decoder of outside input with libFuzzer (clang, ASan + UBSan), each target for a while:
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 30; CI runs a short round through scripts/test.sh)
# Builds only what the targets need into build-fuzz/ (no LibTorch). New inputs that find new coverage stay in
# build-fuzz/corpus/<target>; crashes land in build-fuzz/crashes/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
scripts/install-deps.sh
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUFLEET_FUZZ_ONLY=ON \
  -DGPUFLEET_BUILD_TESTS=OFF -DGPUFLEET_BUILD_BENCH=OFF >/dev/null
# The targets as fuzz/CMakeLists.txt lists them (GPUFLEET_FUZZ_TARGETS).
mapfile -t fuzz_targets < "$build_dir/fuzz_targets.txt"
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" --target gpufleet_fuzzers
mkdir -p "$build_dir/crashes"
for target in "${fuzz_targets[@]}"; do
  corpus="$build_dir/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz: $target for ${seconds}s"
  dictionary=()
  [ -f "fuzz/${target}.dict" ] && dictionary=("-dict=fuzz/${target}.dict")
  "$build_dir/bin/${target}_fuzz" "$corpus" "fuzz/corpus/$target" -max_total_time="$seconds" -max_len=65536 \
    "${dictionary[@]}" \
    -artifact_prefix="$build_dir/crashes/${target}-" -print_final_stats=1 2>&1 | tail -n 12
done
echo "fuzz: no crashes"
