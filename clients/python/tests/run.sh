#!/usr/bin/env bash
# Installs the client with pip into a fresh virtual environment (as a runtime would) and runs its live
# tests against a fleet they start from BIN_DIR. Needs no network: the build uses the interpreter's setuptools.
# Usage: clients/python/tests/run.sh BIN_DIR
set -euo pipefail
bin_dir=$(cd "${1:?usage: run.sh BIN_DIR}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
# Debian's interpreter: its setuptools and wheel (python3-setuptools, python3-wheel) build the package offline.
/usr/bin/python3 -m venv --system-site-packages "$venv"
# From a copy: pip builds in the source folder, and the checkout stays clean.
cp -r "$here" "$venv/source"
rm -rf "$venv/source/build" "$venv/source/src/"*.egg-info
"$venv/bin/python" -m pip install --quiet --no-build-isolation --no-deps --no-index "$venv/source"
cd "$venv"  # so that the installed package, not the source folder, is imported
"$venv/bin/python" -c 'import gpufleet_client, sys; print("gpufleet_client", gpufleet_client.__version__, "from", gpufleet_client.__file__)'
exec "$venv/bin/python" "$here/tests/test_live.py" "$bin_dir"
