#!/usr/bin/env bash
# Fails when a file includes a layer its folder may not use (CTest layers_check). The layers, bottom up:
#   common    base utilities (errors, config, files, JSON, metrics, WAV, job states, API keys file)
#   protocol  the broker-worker wire (MessagePack, ZeroMQ, CURVE)      used by: broker, worker, cli (keys)
#   store     the job store (Redis client, schema, Lua scripts)       used by: gateway, broker, cli (local stack)
#   models    what a worker runs                                      never sees the wire or the store
#   media     real-time delivery (WebRTC sessions, SDP checks)       used by: gateway
#   worker, broker, gateway, cli, tools, bench: programs on top (bench may drive a browser through tests/support)
# So "workers never write job state" and "models never speak the protocol" hold by construction; tests/ and
# fuzz/ exercise every layer and are not checked. Prints every edge it found, then what is forbidden.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [common]="common"
  [protocol]="common protocol"
  [store]="common store"
  [models]="common models"
  [media]="common media"
  [worker]="common protocol models worker"
  [broker]="common protocol store broker"
  [gateway]="common store media gateway"
  [cli]="common protocol store cli"
  [tools]="common models"
  [bench]="common store models worker cli media tests"
)

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files '*.cpp' '*.hpp' '*.cpp.in')
else
  files=$(find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.hpp' \) -print | sed 's#^\./##')
fi

declare -A edges=()
violations=0
for file in $files; do
  folder=${file%%/*}
  [ -n "${allowed[$folder]+set}" ] || continue
  while IFS= read -r included; do
    [ -n "$included" ] || continue
    target=${included%%/*}
    edges["$folder -> $target"]=$(( ${edges["$folder -> $target"]:-0} + 1 ))
    if [[ " ${allowed[$folder]} " != *" $target "* ]]; then
      echo "check-layers: $file includes \"$included\": $folder/ may use only ${allowed[$folder]}" >&2
      violations=$((violations + 1))
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\/[^"]*\)".*/\1/p' "$file")
done

# Files that see LibTorch (its headers, or ours that include them) never include spdlog or fmt: a PyTorch
# wheel's include folder carries its own fmt (v12), found ahead of Debian's fmt 9 that spdlog is built on. Such
# files log through common/logging.hpp's log_line.
torch_include='^[[:space:]]*#[[:space:]]*include[[:space:]]*(<(torch|ATen|c10)/|"models/(xtts|piper|video)/torch/|"models/torch/torch_device\.hpp")'
for file in $(git ls-files '*.cpp' '*.hpp' 2>/dev/null || true); do
  grep -qE "$torch_include" "$file" || continue
  if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(spdlog|fmt)/' "$file" >&2; then
    echo "check-layers: $file includes LibTorch and spdlog/fmt (a wheel's LibTorch brings its own fmt)" >&2
    violations=$((violations + 1))
  fi
done

# Inside models/, LibTorch is seen only by a torch/ folder (each model's own, and models/torch, the plugin):
# what builds without it (the registry, the backend table, the text front ends, the video job) stays torch-free.
for file in $(git ls-files 'models/*.cpp' 'models/*.hpp' 2>/dev/null || true); do
  [[ "$file" == */torch/* ]] && continue
  if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*(<(torch|ATen|c10)/|"models/([a-z_]+/)?torch/[a-z_]+\.hpp")' "$file" |
    grep -v '"models/torch/\(runtime\|device\)\.hpp"' >&2; then
    echo "check-layers: $file includes LibTorch outside a torch/ folder" >&2
    violations=$((violations + 1))
  fi
done

echo "check-layers: includes between folders (count):"
for edge in "${!edges[@]}"; do echo "  $edge ${edges[$edge]}"; done | sort
if [ "$violations" -gt 0 ]; then
  echo "check-layers: $violations forbidden include(s)" >&2
  exit 1
fi
echo "check-layers: no forbidden edge (models -/-> protocol|store|worker, worker -/-> store, gateway -/-> protocol, cli -/-> gateway); no LibTorch file includes spdlog or fmt; in models/, only torch/ folders see LibTorch"
