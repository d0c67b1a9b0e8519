#!/usr/bin/env bash
# Test tools from PyPI, pinned, each set in a virtual environment of its own under the checkout (.tools/,
# ignored by git). Idempotent: an environment that already holds its pins is left alone.
#   .tools/venv      the OpenAPI validator and schemathesis (CTest openapi)
#   .tools/lint      clang-tidy (CTest tidy_check, scripts/check-tidy.sh): a current release from PyPI, about
#                    twice as fast over this code as Debian's clang-tidy 14
#   .tools/upstream  upstream XTTS-v2's text front end, coqui-tts, for the parity test (CTest
#                    xtts_text_upstream). Installed without its dependencies: only its text modules run, and
#                    they need num2words, tokenizers, ko-speech-tools, anyascii and inflect. Built on Debian's
#                    python3 with its site packages, because the tokenizer module imports torch (python3-torch).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# has_pins VENV PIN...: whether VENV exists and pip lists every PIN.
has_pins() {
  local venv="$1"
  shift
  [ -x "$venv/bin/python" ] || return 1
  local installed
  installed=$("$venv/bin/python" -m pip freeze 2>/dev/null)
  for pin in "$@"; do grep -qix "$pin" <<<"$installed" || return 1; done
}

# hypothesis is pinned too, so that a new release cannot change what CI runs; both 6.160.0 and 6.170.17 crash
# now and then in schemathesis' coverage phase (tests/openapi/run.sh says why that phase is not run).
api_pins=(schemathesis==4.32.5 hypothesis==6.160.0 openapi-spec-validator==0.9.0)
if ! has_pins "$root/.tools/venv" "${api_pins[@]}"; then
  echo "install-test-tools: installing ${api_pins[*]} into .tools/venv"
  python3 -m venv "$root/.tools/venv"
  "$root/.tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${api_pins[@]}"
fi

lint_pins=(clang-tidy==23.1.4)
if ! has_pins "$root/.tools/lint" "${lint_pins[@]}"; then
  echo "install-test-tools: installing ${lint_pins[*]} into .tools/lint"
  python3 -m venv "$root/.tools/lint"
  "$root/.tools/lint/bin/python" -m pip install --quiet --disable-pip-version-check "${lint_pins[@]}"
fi

upstream_pins=(coqui-tts==0.28.0 num2words==0.5.14 docopt==0.6.2 tokenizers==0.23.3 ko-speech-tools==0.1.0
  anyascii==0.3.3 inflect==7.6.0 more-itertools==11.2.1 typeguard==4.6.1 typing_extensions==4.16.0)
if ! has_pins "$root/.tools/upstream" "${upstream_pins[@]}"; then
  echo "install-test-tools: installing ${upstream_pins[*]} into .tools/upstream"
  rm -rf "$root/.tools/upstream"
  /usr/bin/python3 -m venv --system-site-packages "$root/.tools/upstream"
  "$root/.tools/upstream/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${upstream_pins[@]}"
fi
