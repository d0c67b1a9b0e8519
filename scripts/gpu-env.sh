# shellcheck shell=bash
# Sourced by the GPU check scripts: unpacks the Debian dependencies carried in .gpu-debs into
# /opt/gpufleet-deps and points builds and programs at them (gpu-kit's `unpack`), plus the two library
# folders gpu-kit's environment misses: libdbus lands in lib/ (usrmerge) and libpulsecommon in a
# pulseaudio/ subfolder that libpulse finds through an absolute RUNPATH. espeak-ng needs both (through
# libpcaudio, ALSA and PulseAudio), and the linker needs them to resolve those indirect dependencies.
eval "$(bash .gpu-debs-tools/unpack .gpu-debs /opt/gpufleet-deps)"
export LD_LIBRARY_PATH="/opt/gpufleet-deps/lib/x86_64-linux-gnu:/opt/gpufleet-deps/usr/lib/x86_64-linux-gnu/pulseaudio:$LD_LIBRARY_PATH"
# shellcheck disable=SC2034  # used by the scripts that source this one
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
