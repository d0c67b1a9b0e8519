#!/usr/bin/env bash
# Installs what a built gpufleet component needs at run time, from Debian's repositories only (the container
# images' runtime stage uses this; scripts/install-deps.sh installs everything needed to build and test).
#   scripts/install-runtime-deps.sh broker|gateway|worker|all
set -euo pipefail

common=(libzmq5 libhiredis0.14 libspdlog1.10 libfmt9 libssl3 ca-certificates)
worker=(libespeak-ng1 espeak-ng-data libtorch1.13 libopenblas0-pthread libgomp1
  libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libopencv-objdetect406 opencv-data
  libavcodec59 libavformat59 libavutil57 libswresample4 libswscale6)
# The gateway's WebRTC delivery (media/, docs/webrtc.md): GStreamer's libraries and the elements a session
# uses (appsrc, audioconvert, audioresample, opusenc: base; rtpopuspay: good; webrtcbin, dtls, srtp, sctp:
# bad; nicesrc/nicesink: gstreamer1.0-nice; clocksync: the core); for video sessions vp8enc and rtpvp8pay
# (good) and the decoders of the MP4s video jobs write (H.264, AAC: gstreamer1.0-libav).
gateway=(libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 libgstreamer-plugins-bad1.0-0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
  gstreamer1.0-libav)

case "${1:-}" in
  broker) packages=("${common[@]}") ;;
  gateway) packages=("${common[@]}" "${gateway[@]}") ;;
  worker) packages=("${common[@]}" "${worker[@]}") ;;
  all) packages=("${common[@]}" "${worker[@]}" "${gateway[@]}") ;;
  *)
    echo "usage: $0 broker|gateway|worker|all" >&2
    exit 2
    ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
$SUDO rm -rf /var/lib/apt/lists/*
echo "install-runtime-deps: ${#packages[@]} packages for $1"
