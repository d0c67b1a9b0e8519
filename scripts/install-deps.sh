#!/usr/bin/env bash
# Installs everything gpufleet needs to build, run and test from Debian's package repositories (the API test
# tools from PyPI: scripts/install-test-tools.sh).
# Idempotent: packages already present are skipped, so a developer machine pays nothing the second time.
#   scripts/install-deps.sh            everything (scripts/test.sh, CI)
#   scripts/install-deps.sh --minimal  only what building and running the fleet's speech path needs
#                                      (scripts/quickstart.sh): no LibTorch, test, lint, video, WebRTC or
#                                      browser packages
set -euo pipefail

minimal=false
case "${1:-}" in
  "") ;;
  --minimal) minimal=true ;;
  *)
    echo "usage: $0 [--minimal]" >&2
    exit 2
    ;;
esac

# Building the fleet (gateway, broker, worker, CLI) and running it with espeak-ng.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libssl-dev
  libboost-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libespeak-ng-dev espeak-ng-data
  redis-server redis-tools curl
)
if ! $minimal; then
  # Debian's LibTorch (CPU) for the models that need it (xtts, piper, liveportrait, wav2lip: the worker's
  # plugin); tests, benchmarks, lint and fuzzing; the video backend.
  packages+=(
    libtorch-dev libopenblas0-pthread
    libgtest-dev libgmock-dev
    prometheus
    shellcheck yamllint docker-compose chromium fonts-dejavu-core
    openssl iproute2 jq
    clang libclang-rt-14-dev clang-format
    python3-torch python3-numpy python3-venv python3-setuptools python3-wheel
    libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-objdetect-dev opencv-data
    libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libswscale-dev ffmpeg
    # WebRTC egress (media/): webrtcbin, libnice's ICE elements, Opus, DTLS-SRTP; VP8 and the decoders of
    # video jobs' MP4s (gstreamer1.0-libav) for video sessions.
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
    gstreamer1.0-libav
    # A TURN relay for the WebRTC test of clients behind NAT (whep_test runs its turnserver; the service that
    # the package installs is left stopped, as Debian ships it).
    coturn
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi
