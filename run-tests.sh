#!/usr/bin/env bash
# Install what the tests need and run them. Extra arguments go to pytest, e.g.
#   ./run-tests.sh -m slow          # only the slow tier
#   ./run-tests.sh tests/unit -q    # one folder
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
exec python3 -m pytest "$@"
