#!/usr/bin/env bash
# The quickstart's guard service: Bielik-Guard (Sojka) on GPU 0 of this host, port 5000, as the
# seed deployment runs it. A thin layer over the repository's ./run-sojka-guardrail.sh, which holds
# every other variable and its default; any of them can be overridden in the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd -P)"
repo="$(cd "$here/../../.." && pwd -P)"

# A relative model path means relative to where you ran this script (the repository script cds).
model=${LLM_ROUTER_SOJKA_GUARD_MODEL_PATH:-models/Bielik-Guard-0.1B-v1.0}
case "$model" in /*) ;; *) model="$PWD/$model" ;; esac

export LLM_ROUTER_SOJKA_GUARD_MODEL_PATH="$model"
export LLM_ROUTER_SOJKA_GUARD_DEVICE=${LLM_ROUTER_SOJKA_GUARD_DEVICE:-0}
export LLM_ROUTER_API_HOST=${LLM_ROUTER_API_HOST:-0.0.0.0}
export LLM_ROUTER_API_PORT=${LLM_ROUTER_API_PORT:-5000}
exec "$repo/run-sojka-guardrail.sh"
