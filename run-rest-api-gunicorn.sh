#!/usr/bin/env bash
# Start the gateway under gunicorn. Every variable has a default; override any of them in the
# environment (see README.md, "Configuration").
set -euo pipefail
cd "$(dirname "$0")"

export LLM_ROUTER_MODELS_CONFIG=${LLM_ROUTER_MODELS_CONFIG:-resources/configs/models-config.json}
export LLM_ROUTER_PROMPTS_DIR=${LLM_ROUTER_PROMPTS_DIR:-resources/prompts}
export LLM_ROUTER_DEFAULT_EP_LANGUAGE=${LLM_ROUTER_DEFAULT_EP_LANGUAGE:-pl}
export LLM_ROUTER_EP_PREFIX=${LLM_ROUTER_EP_PREFIX:-/api}
export LLM_ROUTER_EXTERNAL_TIMEOUT=${LLM_ROUTER_EXTERNAL_TIMEOUT:-300}
export LLM_ROUTER_CONNECT_TIMEOUT=${LLM_ROUTER_CONNECT_TIMEOUT:-3}
export LLM_ROUTER_TIMEOUT=${LLM_ROUTER_TIMEOUT:-600}
export LLM_ROUTER_MAX_REQUEST_BODY_SIZE=${LLM_ROUTER_MAX_REQUEST_BODY_SIZE:-10485760}
export LLM_ROUTER_LOG_LEVEL=${LLM_ROUTER_LOG_LEVEL:-INFO}
export LLM_ROUTER_IN_DEBUG=${LLM_ROUTER_IN_DEBUG:-0}
export LLM_ROUTER_SERVER_TYPE=${LLM_ROUTER_SERVER_TYPE:-gunicorn}
export LLM_ROUTER_SERVER_HOST=${LLM_ROUTER_SERVER_HOST:-0.0.0.0}
export LLM_ROUTER_SERVER_PORT=${LLM_ROUTER_SERVER_PORT:-8080}
export LLM_ROUTER_SERVER_WORKERS_COUNT=${LLM_ROUTER_SERVER_WORKERS_COUNT:-2}
export LLM_ROUTER_SERVER_THREADS_COUNT=${LLM_ROUTER_SERVER_THREADS_COUNT:-16}
export LLM_ROUTER_SERVER_WORKER_CLASS=${LLM_ROUTER_SERVER_WORKER_CLASS:-gevent}
export LLM_ROUTER_BALANCE_STRATEGY=${LLM_ROUTER_BALANCE_STRATEGY:-least_outstanding}
export LLM_ROUTER_QUEUE_WAIT_SECONDS=${LLM_ROUTER_QUEUE_WAIT_SECONDS:-30}
export LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS=${LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS:-10}
# Empty: capacity is counted per worker. Set it (e.g. 127.0.0.1) for cluster-wide leases.
export LLM_ROUTER_REDIS_HOST=${LLM_ROUTER_REDIS_HOST:-}
export LLM_ROUTER_REDIS_PORT=${LLM_ROUTER_REDIS_PORT:-6379}
export LLM_ROUTER_REDIS_DB=${LLM_ROUTER_REDIS_DB:-0}
export LLM_ROUTER_REDIS_KEY_PREFIX=${LLM_ROUTER_REDIS_KEY_PREFIX:-llm-router}

if ! python3 -c "import llm_router_api, gevent, redis" 2>/dev/null; then
  echo "llm-router is not installed here; installing it (pip install -e .)" >&2
  python3 -m pip install -q -e .
fi
exec python3 -m llm_router_api.rest_api
