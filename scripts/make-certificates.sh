#!/usr/bin/env bash
# Self-signed CA and a SuperLink server certificate, with openssl.
#   scripts/make-certificates.sh OUT_DIR [HOST ...]
# HOSTs (IP addresses or DNS names) go into the certificate's subjectAltName; default: 127.0.0.1 localhost.
# Writes OUT_DIR/ca.crt (give it to every SuperNode and to `flwr`), OUT_DIR/ca.key (keep it private),
# OUT_DIR/server.crt and OUT_DIR/server.key (for the SuperLink only).
set -euo pipefail
out="${1:?usage: scripts/make-certificates.sh OUT_DIR [HOST ...]}"
shift
hosts=("$@")
[ ${#hosts[@]} -eq 0 ] && hosts=(127.0.0.1 localhost)
san=""
for h in "${hosts[@]}"; do
  if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san+="IP:$h,"; else san+="DNS:$h,"; fi
done
san="${san%,}"
mkdir -p "$out"
umask 077
openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=fedkd-ca" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey rsa:3072 -nodes -subj "/CN=fedkd-superlink" \
  -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf "subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n" \
  "$san" > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days 365 \
  -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/server.crt"
echo "certificates for ${hosts[*]} in $out"
