#!/usr/bin/env bash
# make bench: lb4 beside HAProxy and a direct baseline (perf/bench.mjs), then
# the picker microbenchmarks. Installs what is missing: haproxy, wrk, nginx,
# iperf3 (apt-get; nginx and iperf3 are optional: without nginx a node
# backend is used, without iperf3 that workload is skipped) and the perf/
# node deps. Env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_SMOKE=1, BENCH_WORKLOADS,
# MEM_CONNS (see perf/bench.mjs). Loopback only; every child is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for t in haproxy wrk nginx iperf3; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
  echo "bench: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
  pkgs=(); for t in "${missing[@]}"; do [ "$t" = nginx ] && pkgs+=(nginx-light) || pkgs+=("$t"); done
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1; } || echo "bench: could not install ${pkgs[*]}; going on without them" >&2
  # the nginx package starts a system nginx on :80; we run our own
  command -v systemctl >/dev/null 2>&1 && $SUDO systemctl stop nginx >/dev/null 2>&1 || true
fi
command -v wrk >/dev/null || { echo "bench: wrk is required" >&2; exit 1; }

[ -d perf/node_modules ] || npm --prefix perf ci --no-audit --no-fund >/dev/null
[ -f dist/cli.js ] || npm run --silent build
[ -f certs/server.crt ] || certs/make-dev-cert.sh

# 5,000 held connections need ~10,000 descriptors in the proxy
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

node perf/bench.mjs
if [ "${BENCH_SMOKE:-0}" != 1 ]; then
  node --expose-gc perf/bench-pick.mjs
fi
