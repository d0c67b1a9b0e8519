#!/usr/bin/env bash
# The API's test tools, from PyPI, pinned, in a virtual environment of their own under the checkout
# (.tools/venv, ignored by git): the OpenAPI validator and schemathesis (CTest openapi). Idempotent.
set -euo pipefail
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools/venv"
pins=(schemathesis==4.32.5 openapi-spec-validator==0.9.0)
if [ -x "$tools/bin/schemathesis" ] && "$tools/bin/python" -m pip freeze 2>/dev/null | grep -qx "${pins[0]}"; then
  exit 0
fi
echo "install-test-tools: installing ${pins[*]} into .tools/venv"
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
