#!/usr/bin/env bash
# make-dev-cert.sh — a self-signed development certificate for lb4.
#
# Usage: certs/make-dev-cert.sh [--force] [OUTDIR] [NAME...]
#
# Writes OUTDIR/server.crt and OUTDIR/server.key (OUTDIR defaults to this
# script's folder). The certificate covers DNS:localhost, IP:127.0.0.1, IP:::1
# and every extra NAME given (an IP address becomes an IP SAN, anything else a
# DNS SAN). EC P-256 key, SHA-256 signature, 825 days (the longest lifetime
# Apple platforms accept for a TLS server certificate).
#
# Idempotent: when both files exist and the certificate is valid for at least
# one more day, nothing is done, unless --force is given.
# For development only: clients must be told to trust it (curl -k).
set -euo pipefail

usage() {
  echo "usage: $0 [--force] [OUTDIR] [NAME...]" >&2
}

force=0
args=()
for a in "$@"; do
  case "$a" in
    --force|-f) force=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "make-dev-cert: unknown option: $a" >&2; usage; exit 2 ;;
    *) args+=("$a") ;;
  esac
done

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
outdir="${args[0]:-$script_dir}"
extra=("${args[@]:1}")

command -v openssl >/dev/null 2>&1 || { echo "make-dev-cert: openssl not found in PATH" >&2; exit 1; }

mkdir -p "$outdir"
crt="$outdir/server.crt"
key="$outdir/server.key"

if [[ $force -eq 0 && -s "$crt" && -s "$key" ]] \
   && openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1; then
  echo "dev certificate already present: $crt and $key (use --force to replace)"
  exit 0
fi

san="DNS:localhost,IP:127.0.0.1,IP:::1"
ip_re='^([0-9]{1,3}\.){3}[0-9]{1,3}$'
for n in "${extra[@]+"${extra[@]}"}"; do
  [[ -z "$n" ]] && continue
  if [[ "$n" =~ $ip_re || "$n" == *:* ]]; then
    san="$san,IP:$n"
  else
    san="$san,DNS:$n"
  fi
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/lb4-cert.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/openssl.cnf" <<CNF
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no

[dn]
CN = localhost
O = lb4 development

[ext]
subjectAltName = $san
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
CNF

(
  umask 077
  openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/server.key" 2>/dev/null
  # Convert to PKCS#8 ("BEGIN PRIVATE KEY"), which every TLS stack reads.
  openssl pkey -in "$tmp/server.key" -out "$tmp/server.pk8" 2>/dev/null
)
openssl req -new -x509 -sha256 -days 825 -config "$tmp/openssl.cnf" \
  -key "$tmp/server.pk8" -out "$tmp/server.crt" 2>/dev/null

install -m 600 "$tmp/server.pk8" "$key"
install -m 644 "$tmp/server.crt" "$crt"

echo "dev certificate written: $crt and $key (SAN: $san)"
