#!/usr/bin/env bash
# make perf: profile lb4 under load, in L4 and L7 modes.
#
# For each mode: a backend (nginx when installed, else perf/servers.mjs http)
# pinned to CPU 1, lb4 under `clinic flame` (NO_INSIGHT=1) pinned to CPU 0,
# autocannon (perf/node_modules) driving PERF_SECONDS (10) of keep-alive
# requests with PERF_CONNECTIONS (50) connections, then SIGINT to lb4 so clinic
# writes the flamegraph. The HTML lands under perf/out/flame-<mode>/. When
# clinic fails (or PERF_TOOL=cpu-prof), lb4 runs under `node --cpu-prof`
# instead and the top functions by self time are printed from the profile
# (perf/out/cpuprof-<mode>/*.cpuprofile; open it in Chrome DevTools).
# PERF_MODES="l4 l7" (add "tls" for TLS termination). Loopback only; every
# process started here is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/perf/out
SECONDS_=${PERF_SECONDS:-10}
CONNS=${PERF_CONNECTIONS:-50}
MODES=${PERF_MODES:-l4 l7}
TOOL=${PERF_TOOL:-clinic}
mkdir -p "$OUT"

[ -d perf/node_modules ] || npm --prefix perf ci --no-audit --no-fund >/dev/null
[ -f dist/cli.js ] || npm run --silent build
[ -f certs/server.crt ] || certs/make-dev-cert.sh
PIN0=(); PIN1=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then PIN0=(taskset -c 0); PIN1=(taskset -c 1); fi

TMP=$(mktemp -d /tmp/lb4-perf.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() { # PORT PID
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

BPORT=$(free_port)
if command -v nginx >/dev/null; then
  head -c 1048576 /dev/zero > "$TMP/1m"
  cat > "$TMP/nginx.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $TMP/nginx.pid; error_log $TMP/nginx.err error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; default_type text/plain;
  client_body_temp_path $TMP; proxy_temp_path $TMP; fastcgi_temp_path $TMP; uwsgi_temp_path $TMP; scgi_temp_path $TMP;
  server { listen 127.0.0.1:$BPORT; location = / { return 200 "hello world\n"; } location = /1m { alias $TMP/1m; } } }
NGX
  "${PIN1[@]}" nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx.err" & PIDS+=($!)
else
  "${PIN1[@]}" node perf/servers.mjs http "$BPORT" >/dev/null & PIDS+=($!)
fi
wait_port "$BPORT" "${PIDS[-1]}" || { echo "perf: backend did not start" >&2; exit 1; }

AUTOCANNON=$ROOT/perf/node_modules/.bin/autocannon
CLINIC=$ROOT/perf/node_modules/.bin/clinic

# thread_cpu PID: CPU seconds per thread name. The native relay's thread
# (lb4-relay) moves the bytes of L4 tunnels outside V8, so its time is in no
# flamegraph or .cpuprofile: this line says how the process's CPU splits.
thread_cpu() {
  local pid=$1 hz; hz=$(getconf CLK_TCK)
  for t in /proc/"$pid"/task/*; do
    [ -r "$t/stat" ] || continue
    printf '%s %s\n' "$(cat "$t/comm" 2>/dev/null)" "$(sed 's/^.*) //' "$t/stat" | awk '{print $12+$13}')"
  done | awk -v hz="$hz" '{n=$1; for(i=2;i<NF;i++) n=n" "$i; c[n]+=$NF} END {s=""; for (k in c) if (c[k] > 0) s=s sprintf("%s %.2f s, ", k, c[k]/hz); sub(/, $/, "", s); print s}'
}

# run_one MODE TOOL → 0 when the profile was written
run_one() {
  local mode=$1 tool=$2 port extra=() url
  port=$(free_port)
  case $mode in
    l4) extra=(--mode l4); url=http://127.0.0.1:$port/ ;;
    l7) extra=(--mode l7); url=http://127.0.0.1:$port/ ;;
    tls) extra=(--mode l4 --tls-cert certs/server.crt --tls-key certs/server.key); url=https://127.0.0.1:$port/ ;;
  esac
  local args=(bin/lb4 --listen 127.0.0.1:$port --backend 127.0.0.1:$BPORT --log-level warn --drain-timeout 1s "${extra[@]}")
  local dir pid
  if [ "$tool" = clinic ]; then
    dir=$OUT/flame-$mode; rm -rf "$dir"; mkdir -p "$dir"
    (cd "$dir" && NO_INSIGHT=1 exec "${PIN0[@]}" "$CLINIC" flame --dest "$dir" -- node "${args[@]/#bin/$ROOT/bin}") >"$TMP/clinic-$mode.log" 2>&1 &
  else
    dir=$OUT/cpuprof-$mode; rm -rf "$dir"; mkdir -p "$dir"
    "${PIN0[@]}" node --cpu-prof --cpu-prof-dir "$dir" "${args[@]}" >"$TMP/cpuprof-$mode.log" 2>&1 &
  fi
  pid=$!; PIDS+=($pid)
  if ! wait_port "$port" "$pid"; then echo "perf: lb4 ($mode, $tool) did not start:" >&2; tail -5 "$TMP/$tool-$mode.log" "$TMP/clinic-$mode.log" 2>/dev/null >&2; return 1; fi
  echo "perf: $mode under $tool: autocannon -c $CONNS -d $SECONDS_ $url" >&2
  NODE_TLS_REJECT_UNAUTHORIZED=0 "${PIN1[@]}" "$AUTOCANNON" -c "$CONNS" -d "$SECONDS_" "$url" 2>&1 | grep -E 'Req/Sec|Latency|requests in' | sed 's/^/  /' >&2 || true
  # SIGINT: clinic forwards it to lb4, which drains and exits; then clinic builds the HTML
  if [ "$tool" = clinic ]; then
    local child; child=$(pgrep -P "$pid" -f 'bin/lb4' | head -1 || true)
    [ -n "$child" ] && echo "perf: $mode lb4 CPU by thread: $(thread_cpu "$child")"
    [ -n "$child" ] && kill -INT "$child" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
  else
    echo "perf: $mode lb4 CPU by thread: $(thread_cpu "$pid")"
    kill -INT "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 1 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  if [ "$tool" = clinic ]; then
    local html; html=$(find "$dir" -name '*.html' | head -1)
    [ -n "$html" ] || { echo "perf: clinic flame wrote no HTML ($mode):" >&2; tail -5 "$TMP/clinic-$mode.log" >&2; return 1; }
    echo "perf: $mode flamegraph: $html"
  else
    local prof; prof=$(ls "$dir"/*.cpuprofile 2>/dev/null | head -1)
    [ -n "$prof" ] || { echo "perf: no .cpuprofile written ($mode)" >&2; return 1; }
    node perf/cpuprofile-top.mjs "$prof" 20
    echo "perf: $mode CPU profile: $prof (open in Chrome DevTools > Performance, or speedscope)"
  fi
}

for mode in $MODES; do
  if [ "$TOOL" = clinic ] && run_one "$mode" clinic; then continue; fi
  [ "$TOOL" = clinic ] && echo "perf: clinic failed for $mode; falling back to node --cpu-prof" >&2
  run_one "$mode" cpu-prof || echo "perf: $mode profile failed" >&2
done
echo "perf: output under $OUT"
