// L7 benchmark scenario: lb4 --mode l7 in front of one node http backend,
// N keep-alive client connections for ~10 s. Reports req/s, latency p50/p99
// and lb4's CPU time per request (utime+stime of the lb4 process from
// /proc/PID/stat, before/after), beside the same load sent straight to the
// backend for reference. Uses the compiled output, so build first:
//
//   npx tsc -p tsconfig.json && node perf/bench-l7.mjs
//
// Load generator: `wrk` when it is on PATH (one thread), else a small
// built-in one (N raw sockets, one request in flight each, responses framed
// by Content-Length). Force the built-in one with LB4_BENCH_CLIENT=builtin.
// Settings (env): DURATION seconds (10), CONNECTIONS (50), BODY bytes of the
// response (64). Bounded: every child is killed at the end or on error, and
// the whole run is capped at DURATION * 3 + 30 s. Prints a markdown report
// and writes it to perf/out/l7.md.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const BODY = Number(process.env.BODY ?? 64);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const useWrk = process.env.LB4_BENCH_CLIENT !== 'builtin' && spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).status === 0;

const children = new Set();
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', cleanup);
const cap = setTimeout(() => {
  console.error(`bench-l7: took longer than ${DURATION * 3 + 30} s, giving up`);
  process.exit(1);
}, (DURATION * 3 + 30) * 1000);
cap.unref();

/** Start a child and resolve with it and the first port number its stdout prints (regex group 1). */
function startChild(args, portRe) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let out = '';
    const t = setTimeout(() => reject(new Error(`child ${args.join(' ')} did not start`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = portRe.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
  });
}

/** utime + stime of `pid`, in microseconds. */
function cpuUs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat (1-based); after the comm field the list starts at field 3
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

function parseWrkTime(s) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** Run wrk; resolve { requests, rps, p50, p99 } (latencies in ms). */
function runWrk(port, seconds) {
  return new Promise((resolve, reject) => {
    const w = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(w);
    let out = '';
    w.stdout.on('data', (d) => (out += d));
    w.on('exit', (code) => {
      children.delete(w);
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out}`));
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const p50 = parseWrkTime(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
      const p99 = parseWrkTime(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
      const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
      resolve({ requests, rps, p50, p99, errors: Number(errors) + Number(/Socket errors: .*/.exec(out) ? 1 : 0) });
    });
  });
}

/** Built-in load: CONNECTIONS raw keep-alive sockets, one request in flight each. */
async function runBuiltin(port, seconds) {
  const req = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
  const lat = new Float64Array(4_000_000);
  let n = 0;
  let errors = 0;
  let running = true;
  const conns = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise((r, j) => s.once('connect', r).once('error', j));
    let buf = Buffer.alloc(0);
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      s.write(req);
    };
    s.on('data', (d) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        const e = buf.indexOf('\r\n\r\n');
        if (e < 0) return;
        const head = buf.toString('latin1', 0, e);
        const cl = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < e + 4 + cl) return;
        if (!head.startsWith('HTTP/1.1 200')) errors++;
        buf = buf.subarray(e + 4 + cl);
        if (n < lat.length) lat[n] = performance.now() - sentAt;
        n++;
        if (running) send();
      }
    });
    s.on('error', () => errors++);
    conns.push({ s, send });
  }
  const t0 = performance.now();
  for (const c of conns) c.send();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  for (const c of conns) c.s.destroy();
  const sorted = lat.slice(0, Math.min(n, lat.length)).sort();
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { requests: n, rps: n / elapsed, p50: q(0.5), p99: q(0.99), errors };
}

const load = useWrk ? runWrk : runBuiltin;

const backendSrc = `
const http = require('node:http');
const body = Buffer.alloc(${BODY}, 'x');
const s = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => console.log('port=' + s.address().port));
`;

async function main() {
  const { port: bport } = await startChild(['-e', backendSrc], /port=(\d+)/);
  const { child: lb, port: lport } = await startChild(
    [join(root, 'bin/lb4'), '--mode', 'l7', '--listen', '127.0.0.1:0', '--health-check', 'off', '--log-level', 'warn', '--backend', `127.0.0.1:${bport},name=b1`],
    /"port":(\d+)[^\n]*"msg":"listening"/,
  );
  // warm-up (JIT, wasm tier-up, upstream pool)
  await load(lport, 1);
  const cpu0 = cpuUs(lb.pid);
  const viaLb = await load(lport, DURATION);
  const cpu1 = cpuUs(lb.pid);
  const direct = await load(bport, Math.max(3, Math.round(DURATION / 2)));
  const usPerReq = (cpu1 - cpu0) / viaLb.requests;
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${lb.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [
    `# lb4 L7 benchmark`,
    '',
    `node ${process.version}, ${useWrk ? 'wrk -t1' : 'built-in client'}, ${CONNECTIONS} keep-alive connections, ${DURATION} s, ${BODY}-byte responses, one node http backend; lb4 --mode l7 (one process).`,
    '',
    '| target | requests | req/s | p50 ms | p99 ms | errors | lb4 CPU µs/req |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| via lb4 --mode l7 | ${viaLb.requests} | ${f(viaLb.rps, 0)} | ${f(viaLb.p50)} | ${f(viaLb.p99)} | ${viaLb.errors} | ${f(usPerReq, 1)} |`,
    `| backend direct | ${direct.requests} | ${f(direct.rps, 0)} | ${f(direct.p50)} | ${f(direct.p99)} | ${direct.errors} | – |`,
    '',
    `lb4 RSS after the run: ${f(rss, 1)} MiB. CPU from /proc/${'{pid}'}/stat utime+stime (CLK_TCK ${CLK_TCK}) over the measured run.`,
    '',
  ];
  const report = lines.join('\n');
  console.log(report);
  mkdirSync(join(here, 'out'), { recursive: true });
  writeFileSync(join(here, 'out', 'l7.md'), report);
  cleanup();
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench-l7: ${err.stack ?? err}`);
  cleanup();
  process.exit(1);
});
