#!/usr/bin/env bash
# make bench: lb4 beside HAProxy and a direct baseline (perf/bench.mjs), then
# the picker microbenchmarks. Installs nothing and touches no system service:
# perf/deps.sh checks the tools (wrk and haproxy required; without nginx a
# node backend is used, without iperf3 that workload is skipped) and names
# `make bench-deps` when one is missing. Env: BENCH_SECONDS, BENCH_ROUNDS,
# BENCH_SMOKE=1, BENCH_WORKLOADS, MEM_CONNS (see perf/bench.mjs). Loopback
# only; every child is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${LB4_BENCH_DEPS_CHECKED:-0}" = 1 ] || perf/deps.sh check bench
[ -f dist/cli.js ] || npm run --silent build
[ -f certs/server.crt ] || certs/make-dev-cert.sh

# 5,000 held connections need ~10,000 descriptors in the proxy
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

node perf/bench.mjs
if [ "${BENCH_SMOKE:-0}" != 1 ]; then
  node --expose-gc perf/bench-pick.mjs
fi
