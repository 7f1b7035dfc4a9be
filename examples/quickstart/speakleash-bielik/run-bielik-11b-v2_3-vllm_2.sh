#!/usr/bin/env bash
# Bielik-11B-v2.3-Instruct on vLLM on GPU 2 of this host, port 7002 (see README.md; vllm-serve.sh has the rest).
set -euo pipefail
export CUDA_DEVICE=${CUDA_DEVICE:-2}
export VLLM_PORT=${VLLM_PORT:-7002}
exec "$(dirname "$0")/vllm-serve.sh" "$@"
