#!/usr/bin/env bash
# One vLLM server of Bielik-11B-v2.3-Instruct on one GPU: what the three run-bielik-*.sh scripts share.
# Every value is a variable with the seed's default; extra arguments go to vLLM as they are, e.g.
#   ./run-bielik-11b-v2_3-vllm_0.sh --max-num-seqs 128
set -euo pipefail

: "${CUDA_DEVICE:?set CUDA_DEVICE (the GPU index) or start one of the run-bielik-*.sh scripts}"
: "${VLLM_PORT:?set VLLM_PORT or start one of the run-bielik-*.sh scripts}"
# A Hugging Face id (downloaded on first start) or a local folder.
BIELIK_MODEL=${BIELIK_MODEL:-speakleash/Bielik-11B-v2.3-Instruct}
# The name the gateway asks for: the model's key in speakleash-models.json (or its model_path).
BIELIK_SERVED_NAME=${BIELIK_SERVED_NAME:-speakleash/Bielik-11B-v2.3-Instruct}
VLLM_HOST=${VLLM_HOST:-0.0.0.0}
# Bielik-11B-v2.3 takes 32768 tokens; input_size in speakleash-models.json says the same.
VLLM_MAX_MODEL_LEN=${VLLM_MAX_MODEL_LEN:-32768}
# Share of the GPU's memory vLLM takes (weights + KV cache). 0.90 on a GPU of its own.
VLLM_GPU_MEMORY_UTILIZATION=${VLLM_GPU_MEMORY_UTILIZATION:-0.90}
# The Python with vLLM installed (a venv of its own is wise: vLLM pins torch).
VLLM_PYTHON=${VLLM_PYTHON:-python3}
# More vLLM arguments, split at spaces (for a systemd unit's Environment=); arguments of the script too.
VLLM_EXTRA_ARGS=${VLLM_EXTRA_ARGS:-}

export CUDA_VISIBLE_DEVICES="$CUDA_DEVICE"
exec "$VLLM_PYTHON" -m vllm.entrypoints.openai.api_server \
  --model "$BIELIK_MODEL" \
  --served-model-name "$BIELIK_SERVED_NAME" \
  --host "$VLLM_HOST" --port "$VLLM_PORT" \
  --max-model-len "$VLLM_MAX_MODEL_LEN" \
  --gpu-memory-utilization "$VLLM_GPU_MEMORY_UTILIZATION" \
  $VLLM_EXTRA_ARGS "$@"
