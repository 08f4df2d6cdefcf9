#!/usr/bin/env node
// make soak: does lb4's memory grow under a long, mixed load? Bounded in
// time (SOAK_SECONDS, default 600), loopback only, every process cleaned up.
//
// One node HTTP backend (perf/servers.mjs http) and lb4 in L4 mode. Cycles
// of: small keep-alive requests (wrk -c50), a new connection per request
// (wrk, Connection: close), 1 MiB downloads (wrk -c8), 2,000 idle
// connections held then closed, then a quiet pause long enough for lb4's
// reclaimer (src/reclaim.ts). lb4's RSS is read after the load phases (the
// peak) and at the end of every quiet pause, when it holds nothing; the first
// cycle is the warm-up (JIT, pools), and the verdict compares the peaks of
// the last cycles with the second's.
//
// Env: SOAK_SECONDS (600), SOAK_OUT (perf/out). Prints and writes
// SOAK_OUT/SOAK.md. Uses taskset when there are 2+ cores (lb4 on CPU 0).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const OUT = process.env.SOAK_OUT ?? join(here, 'out');
const PIN = os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const children = new Set();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => console.log(`[soak] ${m}`);

function start(cpu, cmd, args) {
  const full = PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const c = spawn(full[0], full[1], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  c.out = '';
  c.stdout.on('data', (d) => (c.out = (c.out + d).slice(-20000)));
  c.stderr.on('data', (d) => (c.out = (c.out + d).slice(-20000)));
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

function stopAll() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function waitFor(c, re, what, ms = 15_000) {
  const end = Date.now() + ms;
  while (!re.test(c.out)) {
    if (c.exitCode !== null || Date.now() > end) throw new Error(`${what} did not start: ${c.out.slice(-500)}`);
    await sleep(50);
  }
}

function run(cpu, cmd, args, ms) {
  return new Promise((resolve) => {
    const c = start(cpu, cmd, args);
    const t = setTimeout(() => c.kill('SIGKILL'), ms);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out: c.out });
    });
  });
}

async function wrk(port, path, conns, seconds, close) {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}${path}`);
  const r = await run(1, 'wrk', args, (seconds + 20) * 1000);
  return Number(/(\d+) requests in/.exec(r.out)?.[1] ?? 0);
}

async function hold(port, n, seconds) {
  const c = start(1, process.execPath, [join(here, 'servers.mjs'), 'hold', String(port), String(n), '0']);
  await waitFor(c, /held/, 'hold client', 120_000);
  const held = JSON.parse(/\{.*held.*\}/.exec(c.out)[0]).held;
  await sleep(seconds * 1000);
  c.stdin.write('close\n');
  const end = Date.now() + 10_000;
  while (c.exitCode === null && Date.now() < end) await sleep(50);
  return held;
}

async function main() {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed; install with: make bench-deps');
  mkdirSync(OUT, { recursive: true });
  const backendPort = await freePort();
  const lbPort = await freePort();
  const adminPort = await freePort();
  const backend = start(1, process.execPath, [join(here, 'servers.mjs'), 'http', String(backendPort)]);
  await waitFor(backend, /ready/, 'backend');
  const lb = start(0, process.execPath, [join(root, 'bin', 'lb4'), '--listen', `127.0.0.1:${lbPort}`, '--backend', `127.0.0.1:${backendPort}`, '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'warn', '--health-check', 'off']);
  await waitFor(lb, /"msg":"listening"/, 'lb4');
  const startKb = rssKb(lb.pid);
  log(`lb4 pid ${lb.pid} on :${lbPort}, ${SECONDS} s; RSS at start ${startKb} KB`);
  const rows = [];
  const t0 = Date.now();
  for (let cycle = 1; Date.now() - t0 < SECONDS * 1000; cycle++) {
    const ka = await wrk(lbPort, '/', 50, 15, false);
    const conn = await wrk(lbPort, '/', 20, 10, true);
    const bulk = await wrk(lbPort, '/1m', 8, 10, false);
    const peakKb = rssKb(lb.pid);
    const held = await hold(lbPort, 2000, 5);
    await sleep(7000); // lb4's reclaimer runs at most every 2 s, on a 1 s tick
    const stats = await fetch(`http://127.0.0.1:${adminPort}/stats`).then((r) => r.json());
    const row = { cycle, s: Math.round((Date.now() - t0) / 1000), ka, conn, bulk, held, peakKb, quietKb: rssKb(lb.pid), open: stats.connections.active };
    rows.push(row);
    log(`cycle ${cycle} at ${row.s} s: ${ka} keep-alive, ${conn} new-conn, ${bulk} x 1 MiB, ${held} held; RSS peak ${peakKb} KB, quiet ${row.quietKb} KB; open ${row.open}`);
  }
  // Growth is judged on the peak after each cycle's load phases: the quiet
  // value depends on whether the reclaimer has run yet (src/reclaim.ts), the
  // peak does not.
  const ref = rows[Math.min(1, rows.length - 1)];
  const tail = rows.slice(-3);
  const lastPeak = tail.reduce((a, r) => a + r.peakKb, 0) / tail.length;
  const growth = lastPeak - ref.peakKb;
  const verdict = growth <= Math.max(5000, ref.peakKb * 0.1) ? 'no growth' : 'GROWS';
  const quietMax = Math.max(...rows.slice(1).map((r) => r.quietKb));
  const L = [];
  L.push('# lb4 soak');
  L.push('');
  L.push(`${new Date().toISOString()} · ${os.cpus().length} CPUs · Node ${process.version} · ${SECONDS} s · lb4 --mode l4 (relay: ${(await fetch(`http://127.0.0.1:${adminPort}/stats`).then((r) => r.json())).relay.mode})`);
  L.push('');
  L.push('Each cycle: 15 s keep-alive (wrk -c50), 10 s new connection per request (-c20), 10 s of 1 MiB downloads (-c8), 2,000 idle connections held 5 s then closed, 7 s quiet. RSS "quiet" is read at the end of the quiet pause, with nothing open.');
  L.push('');
  L.push('| cycle | at s | keep-alive req | new-conn req | 1 MiB req | held | RSS peak KB | RSS quiet KB | open after |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) L.push(`| ${r.cycle} | ${r.s} | ${r.ka} | ${r.conn} | ${r.bulk} | ${r.held} | ${r.peakKb} | ${r.quietKb} | ${r.open} |`);
  L.push('');
  L.push(`Peak RSS, cycle 2 (after warm-up): ${ref.peakKb} KB; mean of the last ${tail.length}: ${Math.round(lastPeak)} KB; change ${Math.round(growth)} KB → **${verdict}** (tolerance: 10% or 5 MB). Quiet RSS after the warm-up stayed at or under ${quietMax} KB (lb4 started at ${startKb} KB).`);
  const text = L.join('\n') + '\n';
  writeFileSync(join(OUT, 'SOAK.md'), text);
  console.log(text);
  log(`wrote ${join(OUT, 'SOAK.md')}`);
  if (rows.some((r) => r.open !== 0)) throw new Error('connections left open after a cycle');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`soak failed: ${e.stack ?? e}`);
    process.exit(1);
  },
);
