#!/usr/bin/env bash
# Fails when a C++ file of the checkout is not formatted as the committed .clang-format says (CTest
# format_check; fix with: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files '*.cpp' '*.hpp')
else
  files=$(find . -path ./build -prune -o -path './build-*' -prune -o \( -name '*.cpp' -o -name '*.hpp' \) -print)
fi
# shellcheck disable=SC2086  # one file name per word
clang-format --dry-run -Werror $files
echo "check-format: $(echo "$files" | wc -l) files formatted as .clang-format says"
