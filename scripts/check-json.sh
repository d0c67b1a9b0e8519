#!/usr/bin/env bash
# Every JSON the fleet reads goes through the bounded parser, and every JSON it writes through the writer
# that never throws (common/json_text.hpp): a direct nlohmann json::parse has no depth bound (a deep document
# ends the process when it is copied), and dump() throws on ill-formed UTF-8 that a record, a peer or a file
# may hold. Tests and the fuzz harnesses may use either; common/json_text.cpp is where both are wrapped.
# Prints the offending lines and exits 1 when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
folders=(bench broker cli common gateway media models tools worker)
offending=$(grep -rnE --include='*.cpp' --include='*.hpp' --include='*.in' \
  '(json::parse\(|\.dump\()' "${folders[@]}" | grep -v '^common/json_text\.cpp:' || true)
if [ -n "$offending" ]; then
  echo "check-json: use parse_json_bounded / parse_json_or_discarded and dump_json (common/json_text.hpp):"
  echo "$offending"
  exit 1
fi
echo "check-json: every JSON read and write in ${folders[*]} goes through common/json_text"
