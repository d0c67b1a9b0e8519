#!/usr/bin/env bash
# Installs everything gpufleet needs to build, run and test, from Debian's package repositories only.
# Idempotent: packages already present are skipped, so a developer machine pays nothing the second time.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libssl-dev
  libboost-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libespeak-ng-dev espeak-ng-data
  libtorch-dev libopenblas0-pthread
  libgtest-dev libgmock-dev
  redis-server redis-tools prometheus
  shellcheck yamllint docker-compose chromium fonts-dejavu-core
  curl openssl iproute2
  clang libclang-rt-14-dev
  python3-torch python3-numpy
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-objdetect-dev opencv-data
  libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libswscale-dev ffmpeg
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
