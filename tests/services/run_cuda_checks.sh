#!/usr/bin/env bash
# The guard service's GPU checks, for a machine with a CUDA GPU (one H200 is plenty), in a few minutes:
#   1. the service tests marked `cuda` (the service on cuda:0: dtype, scores against the CPU, windows,
#      batching of concurrent requests, run-sojka-guardrail.sh with LLM_ROUTER_SOJKA_GUARD_DEVICE=0);
#   2. the CPU service tests, as a sanity check of the same checkout;
#   3. the benchmark on cuda:0 (--quick), written to bench/results/guard-service-quick-cuda0.md.
# Installs nothing heavy: the package itself (pip install -e .) and transformers if missing; torch
# with CUDA must already be there.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA device here')"
python3 -c "import llm_router_services, flask, gunicorn, requests, pytest" 2>/dev/null || python3 -m pip install -q -e .
python3 -c "import transformers" 2>/dev/null || python3 -m pip install -q "transformers>=4.40"
python3 -c "import requests, pytest" 2>/dev/null || python3 -m pip install -q requests pytest

status=0
timeout 150 python3 -m pytest tests/services -m cuda -q -p no:cacheprovider || status=1
timeout 90 python3 -m pytest tests/services -q -p no:cacheprovider -m "not cuda" || status=1
timeout 150 python3 -m bench.guard_service --quick --device 0 || status=1
exit $status
