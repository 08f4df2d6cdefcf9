#!/usr/bin/env bash
# The system tools of `make bench` and `make soak`: check them, or install
# them when asked.
#
#   perf/deps.sh check bench    wrk and haproxy are required, nginx and iperf3
#                               optional; exit 1 when a required one is missing
#   perf/deps.sh check soak     wrk is required
#   perf/deps.sh install        apt-get install haproxy wrk nginx-light iperf3
#                               (what `make bench-deps` runs)
#
# `check` only looks: it never installs, and never starts, stops or
# reconfigures a system service. When something is missing it prints the one
# command that installs it, `make bench-deps`. `install` runs apt-get (as
# root, or through `sudo -n`) with a policy-rc.d that forbids starting
# services, so that the nginx package does not start a system nginx on :80
# (the benchmarks run their own nginx on a free loopback port); it stops
# nothing, and leaves an existing /usr/sbin/policy-rc.d alone.
#
# LB4_BENCH_ASSUME_MISSING="wrk nginx" makes `check` treat those tools as
# absent, and LB4_POLICY_RC_D moves the policy file (both for
# test/integration/ops/bench-deps.test.ts).
set -euo pipefail

PACKAGES=(haproxy wrk nginx-light iperf3)

has() {
  local t=$1
  for m in ${LB4_BENCH_ASSUME_MISSING:-}; do [ "$m" = "$t" ] && return 1; done
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ]
}

check() {
  local what=$1 required optional missing=() absent=()
  case $what in
    bench) required=(wrk haproxy); optional=(nginx iperf3) ;;
    soak) required=(wrk); optional=() ;;
    *) echo "perf/deps.sh: unknown target '$what' (bench or soak)" >&2; exit 2 ;;
  esac
  for t in "${required[@]}"; do has "$t" || missing+=("$t"); done
  for t in "${optional[@]}"; do has "$t" || absent+=("$t"); done
  for t in "${absent[@]}"; do
    case $t in
      nginx) echo "$what: nginx is not installed: a node HTTP server stands in as the backend (make bench-deps installs nginx)" >&2 ;;
      iperf3) echo "$what: iperf3 is not installed: the iperf3 workload is skipped (make bench-deps installs it)" >&2 ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$what: ${missing[*]} not installed; install with: make bench-deps   (apt-get install ${PACKAGES[*]}; nothing is started or stopped)" >&2
    exit 1
  fi
}

install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      echo "bench-deps: needs root (or sudo) to run apt-get install ${PACKAGES[*]}" >&2
      exit 1
    fi
  fi
  local policy=${LB4_POLICY_RC_D:-/usr/sbin/policy-rc.d} ours=0
  if [ ! -e "$policy" ]; then
    # exit 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke then
    # start no service while the packages are installed
    printf '#!/bin/sh\n# written by lb4 perf/deps.sh during apt-get install; removed after\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    ours=1
  fi
  local status=0
  export DEBIAN_FRONTEND=noninteractive
  echo "bench-deps: apt-get install ${PACKAGES[*]}" >&2
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" || {
    "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
  } || status=$?
  [ "$ours" = 1 ] && "${sudo[@]}" rm -f "$policy"
  return "$status"
}

case ${1:-} in
  check) check "${2:-bench}" ;;
  install) install ;;
  *) echo "usage: perf/deps.sh check bench|soak | perf/deps.sh install" >&2; exit 2 ;;
esac
