#!/usr/bin/env bash
# The gateway's OpenAI routes with curl. URL and model can be overridden.
set -euo pipefail
URL=${LLM_ROUTER_URL:-http://127.0.0.1:8080}
MODEL=${LLM_ROUTER_MODEL:-speakleash/Bielik-11B-v2.3-Instruct}

curl -s "$URL/v1/models"; echo
curl -s "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"Cześć!\"}]}"; echo
curl -sN "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"$MODEL\", \"stream\": true, \"messages\": [{\"role\": \"user\", \"content\": \"Cześć!\"}]}"
curl -s "$URL/health"; echo
