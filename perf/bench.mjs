// `make bench` driver: lb4 beside HAProxy and a direct baseline, on loopback.
//
// Proxies (each pinned to CPU 0 with taskset when there are 2+ cores; the
// load generators and the backends run on CPU 1):
//   direct        the backend itself (nginx, or perf/servers.mjs http when nginx is missing)
//   lb4-l4        bin/lb4 --mode l4                 haproxy-tcp   HAProxy mode tcp
//   lb4-l7        bin/lb4 --mode l7                 haproxy-http  HAProxy mode http
//   lb4-tls       bin/lb4 --mode l4 + --tls-cert    haproxy-tls   HAProxy mode tcp, bind ssl
// lb4 runs with its features on (admin server, active tcp health checks,
// passive health, retries) and the access log off; HAProxy runs one thread
// with health checks, `option forwardfor` in mode http. (Health checks are
// off for both in front of iperf3, which mistakes a probe for a test.)
//
// Workloads (interleaved: each round runs every proxy once per workload):
//   ka       small HTTP keep-alive requests (wrk, 50 connections)      µs CPU per request
//   conn     a new connection per request (wrk, Connection: close)     µs CPU per connection
//   bulk     1 MiB downloads (wrk, 8 connections)                      CPU-s per GB
//   tls-ka   TLS keep-alive requests (wrk https)                       µs CPU per request
//   tls-hs   TLS full handshakes (node client, no session reuse)       µs CPU per connection
//   iperf    iperf3 single stream (when iperf3 is installed)           CPU-s per GB
// Proxy CPU cost = utime+stime delta of the proxy process (/proc/PID/stat)
// over the run, divided by the work done. Then the memory test: RSS per idle
// proxied connection with MEM_CONNS (5000) held connections, plain and TLS,
// lb4 beside HAProxy on fresh processes, and RSS after they close.
//
// A/B of an optimisation: LB4_BASE=/path/to/other/bin/lb4 also runs that
// build, as base-l4, base-l7 and base-tls, interleaved beside lb4-l4, lb4-l7
// and lb4-tls; LB4_BASE_NODE_ARGS adds node options to the base build only.
// Env: BENCH_SECONDS (5) per run, BENCH_ROUNDS (3), BENCH_WORKLOADS and
// BENCH_PROXIES (comma lists, to run a subset),
// BENCH_SMOKE=1 (1-second runs, one round, one workload per proxy, 100 held
// connections), MEM_CONNS (0: no memory test), BENCH_OUT (perf/out). Writes BENCH_OUT/RESULTS.md
// and results.json. Every child is killed on exit (SIGINT/SIGTERM included),
// and the whole run has a hard time cap.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const SMOKE = process.env.BENCH_SMOKE === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? (SMOKE ? 1 : 5));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (SMOKE ? 1 : 3));
const MEM_CONNS = Number(process.env.MEM_CONNS ?? (SMOKE ? 100 : 5000));
const OUT = process.env.BENCH_OUT ?? join(here, 'out');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const PIN = os.cpus().length >= 2 && has('taskset');
const HAVE = { nginx: has('nginx'), iperf3: has('iperf3'), haproxy: has('haproxy'), wrk: has('wrk') };
const tmp = mkdtempSync(join(os.tmpdir(), 'lb4-bench-'));
const log = (...a) => console.error('[bench]', ...a);

if (!HAVE.wrk) {
  console.error('bench: wrk is not installed; install with: make bench-deps');
  process.exit(1);
}

// ---------- processes ----------
const children = new Set();
function cleanup() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {}
  }
  children.clear();
  try {
    rmSync(tmp, { recursive: true, force: true });
  } catch {}
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));
const CAP_S = Number(process.env.BENCH_CAP_SECONDS ?? (SMOKE ? 120 : 1200));
setTimeout(() => {
  console.error(`bench: over the ${CAP_S} s cap, giving up`);
  process.exit(1);
}, CAP_S * 1000).unref();

/** Spawn `cmd args` pinned to `cpu` (taskset execs, so the pid is the command's). */
function start(name, cpu, cmd, args, opts = {}) {
  const full = PIN && cpu !== null ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const child = spawn(full[0], full[1], { cwd: root, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) } });
  child.name = name;
  child.out = '';
  child.stdout?.on('data', (d) => (child.out += d));
  child.stderr?.on('data', (d) => (child.out += d));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGKILL');
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

async function waitPort(port, child, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${child.name} exited (${child.exitCode}): ${child.out.slice(-2000)}`);
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${child?.name ?? 'port'} ${port} not listening after ${ms} ms: ${child?.out.slice(-2000) ?? ''}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** utime+stime of `pid`, seconds. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident set size of `pid`, KB. */
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ---------- load generators ----------
function parseTime(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec((s ?? '').trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60000 : v;
}
function parseBytes(s) {
  const m = /^([\d.]+)([KMGT]?B)$/.exec((s ?? '').trim());
  if (!m) return NaN;
  return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2]];
}

function runChild(cmd, args, cpu, timeoutMs) {
  return new Promise((resolve) => {
    const c = start(cmd, cpu, cmd, args);
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out: c.out });
    });
  });
}

async function wrk(url, conns, seconds, close) {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  const { code, out } = await runChild('wrk', args, 1, (seconds + 30) * 1000);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${out}`);
  const m = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const requests = Number(m?.[1] ?? NaN);
  const secs = parseTime(m?.[2]) / 1000;
  const bytes = parseBytes(m?.[3]);
  // with Connection: close, wrk counts the server's close after each response as a read "error"
  const errors = non2xx + (sock ? Number(sock[1]) + Number(sock[3]) + Number(sock[4]) + (close ? 0 : Number(sock[2])) : 0);
  return { requests, bytes, seconds: secs, p50: parseTime(/\s50%\s+(\S+)/.exec(out)?.[1]), p99: parseTime(/\s99%\s+(\S+)/.exec(out)?.[1]), errors };
}

async function tlsHandshakes(port, seconds) {
  const { code, out } = await runChild(process.execPath, [join(here, 'servers.mjs'), 'tlshs', String(port), String(seconds), '8'], 1, (seconds + 30) * 1000);
  if (code !== 0) throw new Error(`tlshs exited ${code}: ${out}`);
  const r = JSON.parse(out.trim().split('\n').pop());
  return { requests: r.requests, bytes: NaN, seconds: r.seconds, p50: r.p50, p99: r.p99, errors: r.errors };
}

async function iperf(port, seconds) {
  const { code, out } = await runChild('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J'], 1, (seconds + 30) * 1000);
  let j = null;
  try {
    j = JSON.parse(out);
  } catch {}
  if (code !== 0 || !j?.end?.sum_received) throw new Error(`iperf3 exited ${code}: ${j?.error ?? out.slice(0, 500)}`);
  const r = j.end.sum_received;
  return { requests: NaN, bytes: r.bytes, seconds: r.seconds, p50: NaN, p99: NaN, errors: 0 };
}

// ---------- setup ----------
const certDir = join(root, 'certs');
if (!existsSync(join(certDir, 'server.crt'))) spawnSync(join(certDir, 'make-dev-cert.sh'), [], { stdio: 'inherit' });
const CRT = join(certDir, 'server.crt');
const KEY = join(certDir, 'server.key');
const PEM = join(tmp, 'server.pem');
writeFileSync(PEM, readFileSync(CRT, 'utf8') + '\n' + readFileSync(KEY, 'utf8'));
writeFileSync(join(tmp, '1m'), Buffer.alloc(1 << 20, 120));

const ports = {};
for (const k of ['backend', 'backendTls', 'iperf', 'echo', 'l4', 'l7', 'tls', 'l4i', 'hTcp', 'hHttp', 'hTls', 'hIperf', 'admin1', 'admin2', 'admin3', 'admin4', 'bl4', 'btls', 'bl4i', 'bl7', 'admin5', 'admin6', 'admin7', 'admin8']) ports[k] = await freePort();

async function startBackends() {
  const procs = [];
  if (HAVE.nginx) {
    const conf = `daemon off; master_process off; worker_processes 1; pid ${tmp}/nginx.pid;
error_log ${tmp}/nginx-error.log error; worker_rlimit_nofile 20000;
events { worker_connections 10000; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s; default_type text/plain;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen 127.0.0.1:${ports.backend} backlog=4096; listen 127.0.0.1:${ports.backendTls} ssl backlog=4096;
    ssl_certificate ${CRT}; ssl_certificate_key ${KEY};
    location = / { return 200 "hello world\\n"; }
    location = /1m { alias ${tmp}/1m; }
  }
}
`;
    writeFileSync(join(tmp, 'nginx.conf'), conf);
    const n = start('nginx', 1, 'nginx', ['-p', tmp, '-c', join(tmp, 'nginx.conf'), '-e', join(tmp, 'nginx-error.log')]);
    await waitPort(ports.backend, n);
    procs.push(n);
  } else {
    const n = start('http-backend', 1, process.execPath, [join(here, 'servers.mjs'), 'http', String(ports.backend)]);
    await waitPort(ports.backend, n);
    procs.push(n);
  }
  const e = start('echo', 1, process.execPath, [join(here, 'servers.mjs'), 'echo', String(ports.echo)]);
  await waitPort(ports.echo, e);
  if (HAVE.iperf3 && !SMOKE) {
    // no probe connection: iperf3 -s takes any connection for a test's (no timeout on its cookie read)
    start('iperf3-server', 1, 'iperf3', ['-s', '-p', String(ports.iperf)]);
    await sleep(300);
  }
}

const LB4 = join(root, 'bin', 'lb4');
async function startLb4(name, listenPort, backendPort, extra, adminPort, bin = LB4) {
  const args = ['--listen', `127.0.0.1:${listenPort}`, '--backend', `127.0.0.1:${backendPort}`, '--log-level', 'warn', '--admin', `127.0.0.1:${adminPort}`, ...extra];
  // LB4_BASE_NODE_ARGS: node options for the base build only (an A/B of a V8 flag)
  const nodeArgs = bin === LB4 ? [] : (process.env.LB4_BASE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const c = start(name, 0, process.execPath, [...nodeArgs, bin, ...args]);
  // wait for the start-up line rather than probing the port: a probe would be proxied to the backend
  const end = Date.now() + 15_000;
  while (!/"msg":"listening"/.test(c.out)) {
    if (c.exitCode !== null || c.signalCode !== null || Date.now() > end) throw new Error(`${name} did not start: ${c.out.slice(-2000)}`);
    await sleep(50);
  }
  return c;
}

function haproxyConfig(fronts) {
  let s = `global
  nbthread 1
  maxconn 9500
  tune.ssl.default-dh-param 2048
defaults
  timeout connect 5s
  timeout client 5m
  timeout server 5m
  timeout http-keep-alive 5m
  timeout http-request 10s
`;
  for (const f of fronts) {
    s += `frontend fe_${f.name}
  mode ${f.mode}
  bind 127.0.0.1:${f.port}${f.tls ? ` ssl crt ${PEM}` : ''}
${f.mode === 'http' ? '  option forwardfor\n' : ''}  default_backend be_${f.name}
backend be_${f.name}
  mode ${f.mode}
  server s1 127.0.0.1:${f.backend}${f.noCheck ? '' : ' check inter 2s'}
`;
  }
  return s;
}

async function startHaproxy(name, fronts) {
  const file = join(tmp, `${name}.cfg`);
  writeFileSync(file, haproxyConfig(fronts));
  const c = start(name, 0, 'haproxy', ['-db', '-f', file]);
  for (const f of fronts) await waitPort(f.port, c);
  return c;
}

// ---------- the matrix ----------
const WORKLOADS = {
  ka: { title: 'small HTTP keep-alive requests', unit: 'µs/req', rateUnit: 'req/s', run: (p, s = SECONDS) => wrk(`http://127.0.0.1:${p}/`, 50, s, false) },
  conn: { title: 'new connection per request', unit: 'µs/conn', rateUnit: 'conn/s', run: (p, s = SECONDS) => wrk(`http://127.0.0.1:${p}/`, 20, s, true) },
  bulk: { title: '1 MiB downloads', unit: 'CPU-s/GB', rateUnit: 'MB/s', bytes: true, run: (p, s = SECONDS) => wrk(`http://127.0.0.1:${p}/1m`, 8, s, false) },
  'tls-ka': { title: 'TLS keep-alive requests', unit: 'µs/req', rateUnit: 'req/s', run: (p, s = SECONDS) => wrk(`https://127.0.0.1:${p}/`, 50, s, false) },
  'tls-hs': { title: 'TLS full handshakes (no resumption)', unit: 'µs/conn', rateUnit: 'conn/s', run: (p, s = SECONDS) => tlsHandshakes(p, s) },
  iperf: { title: 'iperf3 single stream', unit: 'CPU-s/GB', rateUnit: 'MB/s', bytes: true, run: (p, s = SECONDS) => iperf(p, s) },
};
/** Which proxies run each workload, and the HAProxy each lb4 is compared with. */
const PEER = { 'lb4-l4': 'haproxy-tcp', 'lb4-l7': 'haproxy-http', 'lb4-tls': 'haproxy-tls', 'base-l4': 'haproxy-tcp', 'base-l7': 'haproxy-http', 'base-tls': 'haproxy-tls' };
/** A/B: LB4_BASE=/path/to/other/bin/lb4 runs that build too, as base-l4, base-l7 and base-tls beside lb4-l4, lb4-l7 and lb4-tls. */
const BASE = process.env.LB4_BASE ?? null;
let plan = {
  ka: ['direct', 'lb4-l4', 'haproxy-tcp', 'lb4-l7', 'haproxy-http'],
  conn: ['direct', 'lb4-l4', 'haproxy-tcp', 'lb4-l7', 'haproxy-http'],
  bulk: ['direct', 'lb4-l4', 'haproxy-tcp', 'lb4-l7', 'haproxy-http'],
  'tls-ka': ['direct', 'lb4-tls', 'haproxy-tls'],
  'tls-hs': ['direct', 'lb4-tls', 'haproxy-tls'],
  iperf: ['direct', 'lb4-l4', 'haproxy-tcp'],
};
if (!HAVE.iperf3 || SMOKE) delete plan.iperf;
if (!HAVE.nginx) {
  plan['tls-ka'] = plan['tls-ka'].filter((p) => p !== 'direct');
  plan['tls-hs'] = plan['tls-hs'].filter((p) => p !== 'direct');
}
if (BASE) {
  for (const w of Object.keys(plan)) {
    const i = plan[w].indexOf('lb4-l4');
    if (i >= 0) plan[w].splice(i + 1, 0, 'base-l4');
    const j = plan[w].indexOf('lb4-tls');
    if (j >= 0) plan[w].splice(j + 1, 0, 'base-tls');
    const k = plan[w].indexOf('lb4-l7');
    if (k >= 0) plan[w].splice(k + 1, 0, 'base-l7');
  }
}
if (!HAVE.haproxy) for (const w of Object.keys(plan)) plan[w] = plan[w].filter((p) => !p.startsWith('haproxy'));
if (SMOKE) plan = { ka: plan.ka, 'tls-ka': plan['tls-ka'].filter((p) => p !== 'direct') };
if (process.env.BENCH_PROXIES) {
  const keep = process.env.BENCH_PROXIES.split(',');
  for (const w of Object.keys(plan)) plan[w] = plan[w].filter((p) => keep.includes(p));
}
if (process.env.BENCH_WORKLOADS) {
  const keep = process.env.BENCH_WORKLOADS.split(',');
  plan = Object.fromEntries(Object.entries(plan).filter(([w]) => keep.includes(w)));
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const t0 = Date.now();
  log(`pinning: ${PIN ? 'proxies on CPU 0, load and backends on CPU 1' : 'off (fewer than 2 cores or no taskset)'}; backend: ${HAVE.nginx ? 'nginx' : 'node http'}; ${SECONDS}s x ${ROUNDS} rounds`);
  await startBackends();
  const proc = {};
  const target = {};
  proc['lb4-l4'] = await startLb4('lb4-l4', ports.l4, ports.backend, ['--mode', 'l4'], ports.admin1);
  proc['lb4-l7'] = await startLb4('lb4-l7', ports.l7, ports.backend, ['--mode', 'l7'], ports.admin2);
  proc['lb4-tls'] = await startLb4('lb4-tls', ports.tls, ports.backend, ['--mode', 'l4', '--tls-cert', CRT, '--tls-key', KEY], ports.admin3);
  if (plan.iperf) proc['lb4-l4-iperf'] = await startLb4('lb4-l4-iperf', ports.l4i, ports.iperf, ['--mode', 'l4', '--health-check', 'off'], ports.admin4);
  if (BASE) {
    proc['base-l4'] = await startLb4('base-l4', ports.bl4, ports.backend, ['--mode', 'l4'], ports.admin5, BASE);
    proc['base-tls'] = await startLb4('base-tls', ports.btls, ports.backend, ['--mode', 'l4', '--tls-cert', CRT, '--tls-key', KEY], ports.admin6, BASE);
    proc['base-l7'] = await startLb4('base-l7', ports.bl7, ports.backend, ['--mode', 'l7'], ports.admin8, BASE);
    if (plan.iperf) proc['base-l4-iperf'] = await startLb4('base-l4-iperf', ports.bl4i, ports.iperf, ['--mode', 'l4', '--health-check', 'off'], ports.admin7, BASE);
  }
  if (HAVE.haproxy) {
    const fronts = [
      { name: 'tcp', mode: 'tcp', port: ports.hTcp, backend: ports.backend },
      { name: 'http', mode: 'http', port: ports.hHttp, backend: ports.backend },
      { name: 'tls', mode: 'tcp', port: ports.hTls, backend: ports.backend, tls: true },
    ];
    if (plan.iperf) fronts.push({ name: 'iperf', mode: 'tcp', port: ports.hIperf, backend: ports.iperf, noCheck: true });
    const h = await startHaproxy('haproxy', fronts);
    proc['haproxy-tcp'] = proc['haproxy-http'] = proc['haproxy-tls'] = h;
  }
  target['direct'] = { ka: ports.backend, conn: ports.backend, bulk: ports.backend, 'tls-ka': ports.backendTls, 'tls-hs': ports.backendTls, iperf: ports.iperf };
  const same = (p) => ({ ka: p, conn: p, bulk: p, 'tls-ka': p, 'tls-hs': p });
  target['lb4-l4'] = { ...same(ports.l4), iperf: ports.l4i };
  target['lb4-l7'] = same(ports.l7);
  target['lb4-tls'] = same(ports.tls);
  target['base-l4'] = { ...same(ports.bl4), iperf: ports.bl4i };
  target['base-tls'] = same(ports.btls);
  target['base-l7'] = same(ports.bl7);
  target['haproxy-tcp'] = { ...same(ports.hTcp), iperf: ports.hIperf };
  target['haproxy-http'] = same(ports.hHttp);
  target['haproxy-tls'] = same(ports.hTls);
  const procFor = (p, w) => (p === 'direct' ? null : w === 'iperf' && (p === 'lb4-l4' || p === 'base-l4') ? proc[`${p}-iperf`] : proc[p]);

  // warm-up: JIT and pools, not measured
  log('warm-up');
  for (const [w, proxies] of Object.entries(plan)) {
    if (w === 'iperf') continue;
    for (const p of proxies) if (p !== 'direct') await WORKLOADS[w].run(target[p][w], Math.min(2, SECONDS)).catch(() => {});
    if (SMOKE) break;
  }

  const results = {}; // results[w][p] = [{...}]
  for (let r = 1; r <= ROUNDS; r++) {
    log(`round ${r}/${ROUNDS} (${Math.round((Date.now() - t0) / 1000)} s so far)`);
    for (const [w, proxies] of Object.entries(plan)) {
      results[w] ??= {};
      // rotate the order every round so no proxy always runs first
      const order = proxies.map((_, i) => proxies[(i + r - 1) % proxies.length]);
      for (const p of order) {
        const pr = procFor(p, w);
        const c0 = pr ? cpuSeconds(pr.pid) : 0;
        let res;
        try {
          res = await WORKLOADS[w].run(target[p][w]);
        } catch (e) {
          log(`${w} ${p}: ${e.message.split('\n')[0]}`);
          if (w === 'iperf') {
            await sleep(1000); // iperf3 -s may still be finishing a test: once more
            try {
              res = await WORKLOADS[w].run(target[p][w]);
            } catch {}
          }
          if (!res) continue;
        }
        const cpu = pr ? cpuSeconds(pr.pid) - c0 : NaN;
        const work = WORKLOADS[w].bytes ? res.bytes / 1e9 : res.requests;
        res.cpu = cpu;
        res.cost = WORKLOADS[w].bytes ? cpu / work : (cpu / work) * 1e6;
        res.rate = WORKLOADS[w].bytes ? res.bytes / 1e6 / res.seconds : res.requests / res.seconds;
        (results[w][p] ??= []).push(res);
        log(`  ${w.padEnd(6)} ${p.padEnd(12)} ${fmt(res.rate)} ${WORKLOADS[w].rateUnit}  p50 ${fmt(res.p50)} ms  p99 ${fmt(res.p99)} ms  cost ${fmt(res.cost)} ${WORKLOADS[w].unit}${res.errors ? `  errors ${res.errors}` : ''}`);
      }
    }
  }

  for (const c of Object.values(proc)) await stop(c);
  // MEM_CONNS=0 skips the memory test (CPU-only A/B runs)
  if (MEM_CONNS > 0) log('memory test');
  const mem = MEM_CONNS > 0 ? await memoryTest() : [];
  const md = report(results, mem, Math.round((Date.now() - t0) / 1000));
  writeFileSync(join(OUT, 'RESULTS.md'), md);
  writeFileSync(join(OUT, 'results.json'), JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, rounds: ROUNDS, pin: PIN, smoke: SMOKE, results, mem }, null, 1));
  console.log(md);
  console.log(`written: ${join(OUT, 'RESULTS.md')}`);
}

// ---------- memory ----------
async function holdConns(port, n, useTls) {
  const c = start('hold', 1, process.execPath, [join(here, 'servers.mjs'), 'hold', String(port), String(n), useTls ? '1' : '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const end = Date.now() + 120_000;
  while (!/held/.test(c.out)) {
    if (c.exitCode !== null || c.signalCode !== null || Date.now() > end) throw new Error(`hold client: ${c.out}`);
    await sleep(50);
  }
  const info = JSON.parse(/\{.*held.*\}/.exec(c.out)[0]);
  return {
    info,
    close: async () => {
      c.stdin.write('close\n');
      while (!/closed/.test(c.out) && c.exitCode === null && c.signalCode === null) await sleep(50);
      await stop(c);
    },
  };
}

async function memoryTest() {
  const out = [];
  const setups = [
    { name: 'lb4-l4', tls: false, mk: async () => startLb4('lb4-mem', ports.l4, ports.echo, ['--mode', 'l4'], ports.admin1), port: ports.l4 },
    ...(BASE ? [{ name: 'base-l4', tls: false, mk: async () => startLb4('base-mem', ports.bl4, ports.echo, ['--mode', 'l4'], ports.admin5, BASE), port: ports.bl4 }] : []),
    { name: 'haproxy-tcp', tls: false, port: ports.hTcp },
    { name: 'lb4-tls', tls: true, mk: async () => startLb4('lb4-mem-tls', ports.tls, ports.echo, ['--mode', 'l4', '--tls-cert', CRT, '--tls-key', KEY], ports.admin3), port: ports.tls },
    ...(BASE ? [{ name: 'base-tls', tls: true, mk: async () => startLb4('base-mem-tls', ports.btls, ports.echo, ['--mode', 'l4', '--tls-cert', CRT, '--tls-key', KEY], ports.admin6, BASE), port: ports.btls }] : []),
    { name: 'haproxy-tls', tls: true, port: ports.hTls },
  ].filter((s) => HAVE.haproxy || !s.name.startsWith('haproxy'));
  for (const s of setups) {
    let pr;
    try {
      pr = s.name.startsWith('haproxy')
        ? await startHaproxy('haproxy-mem', [s.tls ? { name: 'tls', mode: 'tcp', port: ports.hTls, backend: ports.echo, tls: true } : { name: 'tcp', mode: 'tcp', port: ports.hTcp, backend: ports.echo }])
        : await s.mk();
      // a few connections first so lazily built things (TLS contexts, pools) count in the baseline
      const warm = await holdConns(s.port, 20, s.tls);
      await warm.close();
      await sleep(1000);
      const base = rssKb(pr.pid);
      const h = await holdConns(s.port, MEM_CONNS, s.tls);
      // lb4 hands idle tunnels to its relay once they are 1 s old, on a 1 s
      // tick, and collects on the tick after (src/reclaim.ts): 5 s covers it
      await sleep(SMOKE ? 1000 : 5000);
      const held = rssKb(pr.pid);
      await h.close();
      // and collects after the drop; V8's own memory reducer then shrinks
      // the young generation about 10 s later
      await sleep(SMOKE ? 2000 : 12000);
      const after = rssKb(pr.pid);
      const perConn = (held - base) / Math.max(1, h.info.held);
      out.push({ proxy: s.name, tls: s.tls, conns: h.info.held, failed: h.info.failed, baseKb: base, heldKb: held, afterKb: after, perConnKb: perConn });
      log(`  mem ${s.name.padEnd(12)} ${h.info.held} held: base ${base} KB, held ${held} KB (${perConn.toFixed(1)} KB/conn), after close ${after} KB`);
    } catch (e) {
      log(`  mem ${s.name}: ${e.message.split('\n')[0]}`);
    } finally {
      await stop(pr);
    }
  }
  return out;
}

// ---------- report ----------
function median(xs) {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}
function fmt(x) {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 100 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}
function spread(xs) {
  const a = xs.filter((x) => Number.isFinite(x));
  if (a.length < 2) return '';
  const m = median(a);
  return ` ±${((100 * (Math.max(...a) - Math.min(...a))) / 2 / m).toFixed(0)}%`;
}

function report(results, mem, took) {
  const L = [];
  L.push('# lb4 benchmark results');
  L.push('');
  L.push(`${new Date().toISOString()} · ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}) · Node ${process.version} · ${spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? 'no haproxy'} · backend ${HAVE.nginx ? 'nginx' : 'node http'}`);
  L.push(`${SECONDS} s per run, ${ROUNDS} round(s), interleaved; ${PIN ? 'proxy pinned to CPU 0, load generator and backend on CPU 1' : 'no CPU pinning'}; took ${took} s${SMOKE ? ' (SMOKE run: numbers are not meaningful)' : ''}.`);
  L.push('Cost = proxy process utime+stime (/proc/PID/stat) per unit of work, median over rounds (± half the min–max spread). Lower is better. Rate and latency come from the load generator.');
  L.push('');
  L.push('## lb4 ÷ HAProxy (CPU cost ratio, median; target from the performance issue)');
  L.push('');
  const targets = { 'ka/lb4-l4': 1.25, 'conn/lb4-l4': 1.6, 'bulk/lb4-l4': 1.2, 'iperf/lb4-l4': 1.2, 'tls-ka/lb4-tls': 1.3, 'tls-hs/lb4-tls': 1.1, 'ka/lb4-l7': 2.0 };
  L.push('| workload | lb4 | vs | lb4 cost | HAProxy cost | ratio | target | |');
  L.push('|---|---|---|---|---|---|---|---|');
  for (const [w, byP] of Object.entries(results)) {
    for (const p of Object.keys(byP)) {
      if (!PEER[p] || !byP[PEER[p]]) continue;
      const a = median(byP[p].map((r) => r.cost));
      const b = median(byP[PEER[p]].map((r) => r.cost));
      const t = targets[`${w}/${p}`];
      const ratio = a / b;
      L.push(`| ${w} | ${p} | ${PEER[p]} | ${fmt(a)} | ${fmt(b)} | ${fmt(ratio)}× | ${t ? `≤ ${t}×` : '—'} | ${t ? (ratio <= t ? 'met' : 'not met') : ''} |`);
    }
  }
  if (BASE) {
    L.push('');
    L.push(`## A/B: this build (lb4-*) ÷ LB4_BASE build (base-*), CPU cost, same run`);
    L.push('');
    L.push('| workload | pair | this | base | ratio |');
    L.push('|---|---|---|---|---|');
    for (const [w, byP] of Object.entries(results)) {
      for (const [a, b] of [['lb4-l4', 'base-l4'], ['lb4-l7', 'base-l7'], ['lb4-tls', 'base-tls']]) {
        if (!byP[a] || !byP[b]) continue;
        const x = median(byP[a].map((r) => r.cost));
        const y = median(byP[b].map((r) => r.cost));
        L.push(`| ${w} | ${a} / ${b} | ${fmt(x)} | ${fmt(y)} | ${fmt(x / y)}× |`);
      }
    }
  }
  for (const [w, byP] of Object.entries(results)) {
    const W = WORKLOADS[w];
    L.push('');
    L.push(`## ${w}: ${W.title}`);
    L.push('');
    L.push(`| proxy | ${W.rateUnit} | p50 ms | p99 ms | cost ${W.unit} | cost ÷ HAProxy | rate ÷ direct | errors |`);
    L.push('|---|---|---|---|---|---|---|---|');
    const directRate = byP.direct ? median(byP.direct.map((r) => r.rate)) : NaN;
    for (const [p, rs] of Object.entries(byP)) {
      const rate = median(rs.map((r) => r.rate));
      const cost = median(rs.map((r) => r.cost));
      const peer = PEER[p] && byP[PEER[p]] ? median(byP[PEER[p]].map((r) => r.cost)) : NaN;
      const errors = rs.reduce((s, r) => s + (r.errors || 0), 0);
      L.push(
        `| ${p} | ${fmt(rate)}${spread(rs.map((r) => r.rate))} | ${fmt(median(rs.map((r) => r.p50)))} | ${fmt(median(rs.map((r) => r.p99)))} | ${p === 'direct' ? '(no proxy)' : fmt(cost) + spread(rs.map((r) => r.cost))} | ${Number.isFinite(peer) ? fmt(cost / peer) + '×' : ''} | ${p !== 'direct' && Number.isFinite(directRate) ? fmt(rate / directRate) + '×' : ''} | ${errors} |`,
      );
    }
  }
  L.push('');
  L.push(`## Memory: idle proxied connections (client + backend socket), ${MEM_CONNS} held, fresh processes`);
  L.push('');
  L.push('| proxy | held | RSS before | RSS held | KB per connection | RSS after close | target |');
  L.push('|---|---|---|---|---|---|---|');
  for (const m of mem) {
    const t = m.proxy.startsWith('haproxy') ? '' : m.tls ? '≤ 25 KB' : '≤ 8 KB';
    L.push(`| ${m.proxy} | ${m.conns}${m.failed ? ` (${m.failed} failed)` : ''} | ${(m.baseKb / 1024).toFixed(1)} MB | ${(m.heldKb / 1024).toFixed(1)} MB | ${m.perConnKb.toFixed(1)} | ${(m.afterKb / 1024).toFixed(1)} MB | ${t} |`);
  }
  L.push('');
  return L.join('\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('bench failed:', e.stack ?? e);
    process.exit(1);
  },
);
