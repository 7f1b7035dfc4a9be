#!/usr/bin/env bash
# Start the guard service (Bielik-Guard "Sojka", optionally NASK's guard) under gunicorn. Every
# variable has a default; override any of them in the environment (see llm_router_services/README.md).
set -euo pipefail
cd "$(dirname "$0")"

export LLM_ROUTER_API_HOST=${LLM_ROUTER_API_HOST:-0.0.0.0}
export LLM_ROUTER_API_PORT=${LLM_ROUTER_API_PORT:-5000}
export LLM_ROUTER_LOG_LEVEL=${LLM_ROUTER_LOG_LEVEL:-INFO}
# Sojka (speakleash/Bielik-Guard-0.1B-v1.0, downloaded by you: a save_pretrained folder).
export LLM_ROUTER_SOJKA_GUARD_ENABLED=${LLM_ROUTER_SOJKA_GUARD_ENABLED:-1}
export LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=${LLM_ROUTER_SOJKA_GUARD_MODEL_PATH:-models/Bielik-Guard-0.1B-v1.0}
export LLM_ROUTER_SOJKA_GUARD_DEVICE=${LLM_ROUTER_SOJKA_GUARD_DEVICE:--1}
export LLM_ROUTER_SOJKA_GUARD_THRESHOLD=${LLM_ROUTER_SOJKA_GUARD_THRESHOLD:-0.7}
export LLM_ROUTER_SOJKA_GUARD_THRESHOLDS=${LLM_ROUTER_SOJKA_GUARD_THRESHOLDS:-}
# NASK-PIB's guard (a single-label HerBERT classifier), off by default.
export LLM_ROUTER_NASK_PIB_GUARD_ENABLED=${LLM_ROUTER_NASK_PIB_GUARD_ENABLED:-0}
export LLM_ROUTER_NASK_PIB_GUARD_MODEL_PATH=${LLM_ROUTER_NASK_PIB_GUARD_MODEL_PATH:-}
export LLM_ROUTER_NASK_PIB_GUARD_DEVICE=${LLM_ROUTER_NASK_PIB_GUARD_DEVICE:--1}
export LLM_ROUTER_NASK_PIB_GUARD_THRESHOLD=${LLM_ROUTER_NASK_PIB_GUARD_THRESHOLD:-0.5}
export LLM_ROUTER_NASK_PIB_GUARD_SAFE_LABELS=${LLM_ROUTER_NASK_PIB_GUARD_SAFE_LABELS:-safe}
# Inference: dtype (auto: float32 on CPU, bfloat16/float16 on CUDA), token windows, micro-batching.
export LLM_ROUTER_GUARD_DTYPE=${LLM_ROUTER_GUARD_DTYPE:-auto}
export LLM_ROUTER_GUARD_MAX_TOKENS=${LLM_ROUTER_GUARD_MAX_TOKENS:-}
export LLM_ROUTER_GUARD_OVERLAP_TOKENS=${LLM_ROUTER_GUARD_OVERLAP_TOKENS:-64}
export LLM_ROUTER_GUARD_MAX_BATCH_SIZE=${LLM_ROUTER_GUARD_MAX_BATCH_SIZE:-64}
export LLM_ROUTER_GUARD_BATCH_WAIT_MS=${LLM_ROUTER_GUARD_BATCH_WAIT_MS:-2}
export LLM_ROUTER_GUARD_REQUEST_TIMEOUT=${LLM_ROUTER_GUARD_REQUEST_TIMEOUT:-30}
export LLM_ROUTER_GUARD_MAX_REQUEST_BODY_SIZE=${LLM_ROUTER_GUARD_MAX_REQUEST_BODY_SIZE:-1048576}
export LLM_ROUTER_GUARD_MAX_TEXTS=${LLM_ROUTER_GUARD_MAX_TEXTS:-512}
# gunicorn: gthread workers; each worker holds its own copy of the models (1 is right for one GPU).
export LLM_ROUTER_GUARD_WORKERS=${LLM_ROUTER_GUARD_WORKERS:-1}
export LLM_ROUTER_GUARD_THREADS=${LLM_ROUTER_GUARD_THREADS:-32}
export LLM_ROUTER_GUARD_TIMEOUT=${LLM_ROUTER_GUARD_TIMEOUT:-120}

# Found, not imported: importing torch here would add seconds to every start.
if ! python3 -c "import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ('llm_router_services', 'flask', 'gunicorn', 'torch', 'transformers')))" \
    2>/dev/null; then
  echo "the guard service's dependencies are missing; installing them (pip install -e '.[services]')" >&2
  python3 -m pip install -q -e '.[services]'
fi
exec python3 -m llm_router_services
