#!/usr/bin/env bash
# Install what the tests need and run them. Extra arguments go to pytest, e.g.
#   ./run-tests.sh -m slow          # only the slow tier
#   ./run-tests.sh tests/unit -q    # one folder
set -euo pipefail
cd "$(dirname "$0")"
# The guard service's tests run its classifier on the CPU. Where torch is missing it is installed
# first, pinned: an open range would take the newest build, a CUDA one of several GB. TORCH_SPEC
# overrides the pin (e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu").
if ! python3 -c "import torch" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
fi
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
exec python3 -m pytest "$@"
