#!/usr/bin/env bash
# The API's test tools, from PyPI, pinned, in a virtual environment of their own under the checkout
# (.tools/venv, ignored by git): the OpenAPI validator and schemathesis (CTest openapi). Idempotent.
set -euo pipefail
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools/venv"
# hypothesis is pinned too, so that a new release cannot change what CI runs; both 6.160.0 and 6.170.17 crash
# now and then in schemathesis' coverage phase (tests/openapi/run.sh says why that phase is not run).
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
