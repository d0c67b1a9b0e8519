#!/usr/bin/env bash
# What the LibTorch plugin was built with, read off the binary (nm -C, readelf): which LibTorch it needs, and
# that the paths only a CUDA LibTorch 2.x compiles are really in it. Guards against a CUDA build that quietly
# dropped them: device.cpp's CUDA allocator branch sits behind __has_include, decode_graph.cpp's CUDA graphs
# behind GPUFLEET_TORCH_CUDA, gpt.cpp's fused attention behind TORCH_VERSION_MAJOR, and each can fall away
# with a header, a definition or a version check and still build.
#   plugin_symbols.sh PLUGIN.so CUDA(ON|OFF) TORCH_MAJOR
set -euo pipefail
plugin=$1 cuda=$2 major=$3
failures=0
needed=$(readelf -d "$plugin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
undefined=$(nm -DC --undefined-only "$plugin")
exported=$(nm -DC --defined-only "$plugin")

expect() {  # expect DESCRIPTION yes|no TEXT PATTERN
  local description=$1 wanted=$2 text=$3 pattern=$4 found=no
  grep -qE "$pattern" <<<"$text" && found=yes
  if [ "$found" = "$wanted" ]; then
    echo "ok   $description"
  else
    echo "FAIL $description (expected $wanted, found $found: /$pattern/)"
    failures=$((failures + 1))
  fi
}

echo "plugin $plugin needs: $(tr '\n' ' ' <<<"$needed")"
expect "exports gpufleet_create_torch_runtime" yes "$exported" ' gpufleet_create_torch_runtime'
expect "links LibTorch's CPU library" yes "$needed" '^libtorch_cpu\.so'
if [ "$cuda" = ON ]; then
  expect "links LibTorch's CUDA libraries" yes "$needed" '^libtorch_cuda\.so'
  expect "links c10's CUDA library" yes "$needed" '^libc10_cuda\.so'
  expect "calls the CUDA caching allocator (memory gauge, cache release)" yes "$undefined" \
    'c10::cuda::CUDACachingAllocator'
  expect "captures and replays CUDA graphs (XTTS decode step)" yes "$undefined" \
    'at::cuda::CUDAGraph::(capture_begin|replay)'
else
  expect "links no CUDA library" no "$needed" 'cuda'
  expect "no CUDA allocator" no "$undefined" 'CUDACachingAllocator'
  expect "no CUDA graphs" no "$undefined" 'CUDAGraph'
fi
if [ "$major" -ge 2 ]; then
  expect "XTTS attention through scaled_dot_product_attention" yes "$undefined" 'scaled_dot_product_attention'
else
  expect "XTTS attention written out (no fused kernel in LibTorch 1.x)" no "$undefined" 'scaled_dot_product_attention'
fi
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
