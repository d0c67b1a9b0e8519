#!/usr/bin/env bash
# The API's test tools, from PyPI, pinned, in a virtual environment of their own under the checkout
# (.tools/venv, ignored by git): the OpenAPI validator and schemathesis (CTest openapi). Idempotent.
set -euo pipefail
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools/venv"
# hypothesis is pinned too: 6.170.x (current on PyPI on 2026-12-03) fails inside its lambda-source cache
# (KeyError, then "AST constructor recursion depth mismatch") in schemathesis' coverage phase; 6.160.0 does not.
pins=(schemathesis==4.32.5 hypothesis==6.160.0 openapi-spec-validator==0.9.0)
if [ -x "$tools/bin/schemathesis" ]; then
  installed=$("$tools/bin/python" -m pip freeze 2>/dev/null)
  missing=0
  for pin in "${pins[@]}"; do grep -qx "$pin" <<<"$installed" || missing=1; done
  [ "$missing" = 0 ] && exit 0
fi
echo "install-test-tools: installing ${pins[*]} into .tools/venv"
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
