#!/usr/bin/env bash
# The quickstart's gateway with the seed deployment's settings: 8 Bielik vLLM providers taken in
# order (first_available, capacity counted cluster-wide in Redis), personal data masked with the
# mapping in the encrypted audit log, every request judged by Bielik-Guard first (blocks audited).
# A layer over the repository's ./run-rest-api-gunicorn.sh, which holds every other variable and
# its default; any of them can be overridden in the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd -P)"
repo="$(cd "$here/../../.." && pwd -P)"

# Relative paths mean relative to where you ran this script (the repository script cds).
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

export LLM_ROUTER_MODELS_CONFIG="$(absolute "${LLM_ROUTER_MODELS_CONFIG:-$here/speakleash-models.json}")"
# The seed ran 4 workers x 16 threads. gevent workers (our default) hold thousands of streams each;
# with LLM_ROUTER_SERVER_WORKER_CLASS=gthread the 16 threads per worker are the limit (64 at once).
export LLM_ROUTER_SERVER_WORKERS_COUNT=${LLM_ROUTER_SERVER_WORKERS_COUNT:-4}
export LLM_ROUTER_SERVER_THREADS_COUNT=${LLM_ROUTER_SERVER_THREADS_COUNT:-16}
export LLM_ROUTER_SERVER_PORT=${LLM_ROUTER_SERVER_PORT:-8080}
# first_available: each provider in config order until its max_concurrency is taken. Redis makes
# that count cluster-wide (all workers, all gateway replicas); without it each worker counts alone.
export LLM_ROUTER_BALANCE_STRATEGY=${LLM_ROUTER_BALANCE_STRATEGY:-first_available}
export LLM_ROUTER_REDIS_HOST=${LLM_ROUTER_REDIS_HOST:-127.0.0.1}
export LLM_ROUTER_REDIS_PORT=${LLM_ROUTER_REDIS_PORT:-6379}
# Masking: PESEL, NIP, e-mail, phone, IBAN, ... replaced before the model sees them, put back in answers.
export LLM_ROUTER_FORCE_MASKING=${LLM_ROUTER_FORCE_MASKING:-1}
export LLM_ROUTER_MASKING_STRATEGY_PIPELINE=${LLM_ROUTER_MASKING_STRATEGY_PIPELINE:-fast_masker}
export LLM_ROUTER_MASKING_WITH_AUDIT=${LLM_ROUTER_MASKING_WITH_AUDIT:-1}
# Request guardrail: Bielik-Guard (run-sojka-guardrail.sh) judges each request after masking.
export LLM_ROUTER_FORCE_GUARDRAIL_REQUEST=${LLM_ROUTER_FORCE_GUARDRAIL_REQUEST:-1}
export LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST=${LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST:-sojka_guard}
export LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST=${LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST:-1}
export LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST=${LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST:-http://127.0.0.1:5000}
# The audit log: only the public key lives on the gateway host (llm-router audit keygen).
export LLM_ROUTER_AUDIT_PUBLIC_KEY="$(absolute "${LLM_ROUTER_AUDIT_PUBLIC_KEY:-audit-keys/audit-public.pem}")"
export LLM_ROUTER_AUDIT_DIR="$(absolute "${LLM_ROUTER_AUDIT_DIR:-audit-logs}")"
exec "$repo/run-rest-api-gunicorn.sh"
