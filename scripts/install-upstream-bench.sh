#!/usr/bin/env bash
# The environment of bench/xtts_upstream_bench.py (not part of the test suite): upstream XTTS-v2, PyPI's
# coqui-tts with its dependencies, on the torch of .tools/torch (scripts/install-torch.sh), so that upstream and
# the native engine of build-torch2/ run the same LibTorch. torchaudio and torchcodec (which coqui-tts requires
# from torch 2.9 on, for reading audio) come without their dependencies: torchaudio's newest release pins an
# older torch, and XTTS uses only its Python parts (resampling, the mel filterbank). six: imported by
# coqui-tts' text package without being declared. Idempotent.
#   .tools/upstream-bench  a venv that sees .tools/torch's packages through a .pth file
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/upstream-bench"
pins=(coqui-tts==0.28.0 transformers==4.57.6 six==1.17.0)
loose_pins=(torchaudio==2.11.1 torchcodec==0.17.0)
"$root/scripts/install-torch.sh" > /dev/null
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import TTS.tts.models.xtts, torchcodec' 2>/dev/null; then
  echo "install-upstream-bench: installing ${pins[*]} ${loose_pins[*]} into .tools/upstream-bench" >&2
  /usr/bin/python3 -m venv "$venv"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$root/.tools/torch/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/gpufleet-torch.pth"
  # Debian's pip 23.0 stumbles over the CUDA wheels it sees through the .pth (as in install-torch.sh).
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pip==26.3
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${loose_pins[@]}"
fi
"$venv/bin/python" -c 'import torch, TTS; print("install-upstream-bench: torch", torch.__version__)'
