#!/usr/bin/env bash
# LibTorch 2.x with CUDA, the one GPU hosts run: PyPI's `torch` wheel (pinned) in a virtual environment of its
# own, .tools/torch (ignored by git). Its LibTorch builds the CUDA configuration (scripts/test-torch2.sh,
# build-torch2/); its Python builds the TorchScript test modules that configuration loads. About 5.3 GiB: the
# wheel pulls the CUDA runtime, cuBLAS, cuDNN and NCCL as wheels of their own, which its libtorch_cuda.so finds
# through its RUNPATH. Idempotent: an environment that already holds the pins is left alone.
# Prints the CMake prefix of that LibTorch on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/torch"

# numpy only silences torch's "Failed to initialize NumPy" warning in the test-module scripts.
pins=(torch==2.15.0 numpy==2.3.5)
# has_pins: whether every pin's distribution is installed at its version.
has_pins() {
  [ -x "$venv/bin/python" ] || return 1
  "$venv/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null
import importlib.metadata, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if importlib.metadata.version(name) != version:
        sys.exit(1)
PY
}
if ! has_pins; then
  echo "install-torch: installing ${pins[*]} into .tools/torch (about 5.3 GiB with its CUDA libraries)" >&2
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  # Debian's pip 23.0 cannot resolve the wheel's CUDA dependencies (a TypeError on a version of None).
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pip==26.3
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
fi
"$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null
