#!/usr/bin/env bash
# A self-signed certificate for testing the TLS example: make-cert.sh DIR [NAME ...]
# Writes DIR/fullchain.pem and DIR/privkey.pem, valid 30 days, for localhost, 127.0.0.1 and
# every NAME given (a DNS name or an IP address). Clients must trust DIR/fullchain.pem
# (curl --cacert, SSL_CERT_FILE, httpx verify=...). For production use a real CA's certificate.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [NAME ...]" >&2
  exit 2
fi
dir=$1
shift
mkdir -p "$dir"
san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san="$san,IP:$name"; else san="$san,DNS:$name"; fi
done
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
  -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" \
  -subj "/CN=${1:-localhost}" -addext "subjectAltName=$san" \
  -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
chmod 644 "$dir/fullchain.pem"
echo "wrote $dir/fullchain.pem and $dir/privkey.pem (subjectAltName $san)"
