#!/usr/bin/env bash
# Scan a lb4 TLS listener with testssl.sh (apt-get install testssl.sh), bounded
# in time: protocols (-p), cipher categories (-s), forward secrecy (-f) and
# every cipher per protocol (-E); TESTSSL_FULL=1 adds the vulnerability checks
# (-U, a few minutes more). Writes perf/out/testssl.txt and .json, and exits
# non-zero when a weak protocol or cipher is offered.
#
#   perf/testssl.sh                 # starts its own lb4 with a throw-away certificate
#   perf/testssl.sh 127.0.0.1:4443  # scan a running listener instead
set -euo pipefail
cd "$(dirname "$0")/.."
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$TESTSSL" ]; then echo "testssl.sh is not installed (apt-get install testssl.sh)" >&2; exit 3; fi
mkdir -p perf/out
tmp=$(mktemp -d)
lbpid=""
cleanup() { [ -n "$lbpid" ] && kill "$lbpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
target=${1:-}
if [ -z "$target" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/k.pem" -out "$tmp/c.pem" \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 1 2>/dev/null
  node bin/lb4 --listen 127.0.0.1:0 --tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem" --backend 127.0.0.1:9 \
    --health-check off --log-level warn >"$tmp/lb4.log" 2>&1 &
  lbpid=$!
  for _ in $(seq 100); do grep -q '"msg":"listening"' "$tmp/lb4.log" 2>/dev/null && break; sleep 0.1; done
  port=$(grep -o '"port":[0-9]*' "$tmp/lb4.log" | head -1 | cut -d: -f2)
  [ -n "$port" ] || { echo "lb4 did not start: $(cat "$tmp/lb4.log")" >&2; exit 1; }
  target="127.0.0.1:$port"
fi
checks=(-p -s -f)
[ "${TESTSSL_QUICK:-0}" = 1 ] || checks+=(-E)
[ "${TESTSSL_FULL:-0}" = 1 ] && checks+=(-U)
rm -f perf/out/testssl.json
# testssl.sh's own exit status also counts scan warnings (a probe that timed
# out on a loaded machine, say): judge its findings, not its status.
set +e
timeout "${TESTSSL_TIMEOUT:-600}" "$TESTSSL" --quiet --color 0 --warnings batch "${checks[@]}" \
  --jsonfile perf/out/testssl.json "$target" | tee perf/out/testssl.txt
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 124 ] || [ ! -s perf/out/testssl.json ]; then
  echo "testssl.sh gave no complete result (exit $rc)" >&2
  exit 1
fi
[ "$rc" -eq 0 ] || echo "note: testssl.sh exited $rc (scan warnings); judging its findings" >&2
# Weak = any of these offered: SSLv2/3, TLS 1.0/1.1, NULL/aNULL/EXPORT/LOW/3DES or
# obsolete CBC ciphers; no forward secrecy; or any finding rated MEDIUM or worse.
node -e '
const f = JSON.parse(require("fs").readFileSync("perf/out/testssl.json", "utf8"));
const weakIds = /^(SSLv2|SSLv3|TLS1|TLS1_1|cipherlist_NULL|cipherlist_aNULL|cipherlist_EXPORT|cipherlist_LOW|cipherlist_3DES_IDEA|cipherlist_AVERAGE|cipherlist_OBSOLETED)$/;
const bad = f.filter((x) => (weakIds.test(x.id) && /offered/i.test(x.finding) && !/not offered/i.test(x.finding)) || /^(MEDIUM|HIGH|CRITICAL)$/.test(x.severity));
const pfs = f.find((x) => x.id === "PFS");
if (pfs && !/offered/i.test(pfs.finding)) bad.push(pfs);
if (bad.length) { console.error("WEAK:", bad.map((x) => `${x.id}: ${x.finding}`).join("; ")); process.exit(1); }
console.log("testssl: no weak protocol or cipher offered");
'
