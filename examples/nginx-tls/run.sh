#!/usr/bin/env bash
# The gateway with API keys behind nginx with TLS: examples/nginx-tls/README.md.
#   export LLM_ROUTER_AUTH_SECRET=...        (the same value the keys were created with)
#   examples/nginx-tls/run.sh [NGINX_CONF]   (default: examples/nginx-tls/nginx.conf)
# Every variable of gateway.env can be overridden in the environment. Ctrl-C stops both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conf=${1:-$here/nginx.conf}
cd "$here/../.."

while IFS='=' read -r name value; do  # gateway.env, without overriding what the environment sets
  if [[ -z $name || $name == \#* ]]; then continue; fi
  if [[ -z ${!name:-} ]]; then export "$name=$value"; fi
done < "$here/gateway.env"
: "${LLM_ROUTER_AUTH_SECRET:?set LLM_ROUTER_AUTH_SECRET (the secret the keys were created with)}"
export LLM_ROUTER_AUTH_SECRET

command -v nginx >/dev/null || { echo "nginx is not installed: apt-get install -y nginx-light" >&2; exit 1; }
nginx -t -c "$conf" -q

./run-rest-api-gunicorn.sh &
gateway=$!
trap 'kill "$gateway" 2>/dev/null; wait "$gateway" 2>/dev/null' EXIT
nginx -c "$conf" -g 'daemon off;'
