#!/usr/bin/env bash
# Fails when clang-tidy (the checks in .clang-tidy: bugs, needless copies, thread-unsafe calls) finds anything
# in the libraries it covers: gateway/, media/, store/, broker/, protocol/, common/, cli/, worker/ and models/
# (CTest tidy_check, label lint). Usage: scripts/check-tidy.sh BUILD_DIR [FILE.cpp...]; BUILD_DIR needs
# compile_commands.json (every configure writes it). The LibTorch code (the torch/ folders under models/) is
# not covered: its precompiled header is GCC's, which clang cannot read.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:?usage: check-tidy.sh BUILD_DIR [FILE.cpp...]}" && pwd)"
shift
# The pinned clang-tidy from PyPI (scripts/install-test-tools.sh): what it reports depends on its release.
clang_tidy="$root/.tools/lint/bin/clang-tidy"
[ -x "$clang_tidy" ] || { echo "check-tidy: $clang_tidy is missing (scripts/install-test-tools.sh installs it)" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "check-tidy: no $build/compile_commands.json" >&2; exit 1; }
cd "$root"
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'gateway/*.cpp' 'media/*.cpp' 'store/*.cpp' 'broker/*.cpp' 'protocol/*.cpp' \
    'common/*.cpp' 'cli/*.cpp' 'worker/*.cpp' 'models/*.cpp' | grep -v '/torch/')
fi
# Only what this build compiles (a main.cpp of a target left out has no compile command).
compiled=()
for file in "${files[@]}"; do
  grep -q "\"file\": \"$root/$file\"" "$build/compile_commands.json" && compiled+=("$file")
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
printf '%s\n' "${compiled[@]}" | xargs -P "$(nproc)" -n 4 "$clang_tidy" -p "$build" --quiet > "$log" 2>/dev/null || status=$?
if [ "$status" != 0 ] || grep -q -E '(warning|error):' "$log"; then
  cat "$log"
  echo "check-tidy: clang-tidy found the above in ${#compiled[@]} files" >&2
  exit 1
fi
echo "check-tidy: ${#compiled[@]} files clean"
