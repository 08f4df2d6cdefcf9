// L4 small-request throughput through lb4 with --workers 1 and --workers 2,
// side by side in one run (issue 5 "Multi-core"). Build first:
//
//   npx tsc -p tsconfig.json && node perf/bench-workers.mjs [--seconds 6] [--rounds 3] [--threads 2] [--connections 64]
//
// Setup: one node:http backend (keep-alive, 2-byte body) in its own process;
// two lb4 instances in L4 mode in front of it, one with 1 worker and one with
// 2, both started before measuring (an idle lb4 costs nothing). The load is
// keep-alive HTTP/1.1 GETs over 64 connections: `wrk` when it is on PATH,
// else a small raw-socket loop in this script (one process, pipelined one
// request at a time per connection). Rounds are interleaved (1, 2, 1, 2...)
// so drift in the machine hits both alike; the table shows every round and
// the median. A direct (no lb4) round is measured too, as the ceiling.
//
// Everything shares the machine's cores: on a 2-core box the load
// generator, the backend and lb4's workers compete, so the gain of a second
// worker is bounded by what is left over. Bounded to about a minute.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 6);
const ROUNDS = arg('rounds', 3);
const CONNS = arg('connections', 64);
const THREADS = arg('threads', 2);
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

const hasWrk = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).status === 0;

/** Start a child process; resolve with it once `ready(line)` matches a stdout line. */
function start(cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(p);
    let buf = '';
    const found = [];
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: not ready`)), 15000);
    p.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const v = ready(line);
        if (v !== undefined && found.length === 0) {
          found.push(v);
          clearTimeout(timer);
          resolve({ proc: p, value: v });
        }
      }
    });
    p.once('exit', (code) => {
      if (found.length === 0) reject(new Error(`${cmd} exited ${code}`));
    });
  });
}

const BACKEND = `
  const http = require('node:http');
  const s = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
    res.end('ok');
  });
  s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));
`;

async function lb4(workers, backendPort) {
  const { proc, value } = await start(process.execPath, [
    'bin/lb4', '--listen', '127.0.0.1:0', '--backend', `127.0.0.1:${backendPort}`, '--workers', String(workers),
    '--log-level', 'warn', '--health-check', 'off',
  ], (line) => {
    const m = /"msg":"listening"/.test(line) ? /"port":(\d+)/.exec(line) : null;
    return m ? Number(m[1]) : undefined;
  });
  return { proc, port: value };
}

/** wrk: requests/s and p99 latency (ms). */
function runWrk(port) {
  const r = spawnSync('wrk', [`-t${THREADS}`, `-c${CONNS}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const p99m = /99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const p99 = p99m ? Number(p99m[1]) * (p99m[2] === 'us' ? 0.001 : p99m[2] === 's' ? 1000 : 1) : NaN;
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout)?.[0] ?? '';
  return { rps, p99, errors };
}

/** The fallback load loop: CONNS keep-alive connections, one request in flight each. */
function runLoop(port) {
  return new Promise((resolve) => {
    const req = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
    const end = Date.now() + SECONDS * 1000;
    let done = 0;
    let open = CONNS;
    const lat = [];
    for (let i = 0; i < CONNS; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      let buf = '';
      let t0 = 0;
      const send = () => {
        if (Date.now() >= end) return s.end();
        t0 = performance.now();
        s.write(req);
      };
      s.on('connect', send);
      s.setEncoding('latin1');
      s.on('data', (d) => {
        buf += d;
        // each response: head + "ok"
        let i;
        while ((i = buf.indexOf('\r\n\r\n')) >= 0 && buf.length >= i + 6) {
          buf = buf.slice(i + 6);
          done++;
          if (done % 16 === 0) lat.push(performance.now() - t0);
          send();
        }
      });
      s.on('close', () => {
        if (--open === 0) {
          lat.sort((a, b) => a - b);
          resolve({ rps: done / SECONDS, p99: lat[Math.floor(lat.length * 0.99)] ?? NaN, errors: '' });
        }
      });
      s.on('error', () => {});
    }
  });
}

const measure = (port) => (hasWrk ? Promise.resolve(runWrk(port)) : runLoop(port));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const t0 = Date.now();
const backend = await start(process.execPath, ['-e', BACKEND], (line) => (line.startsWith('port ') ? Number(line.slice(5)) : undefined));
const one = await lb4(1, backend.value);
const two = await lb4(2, backend.value);
const targets = [
  { name: 'direct (no lb4)', port: backend.value, runs: [] },
  { name: 'lb4 --workers 1', port: one.port, runs: [] },
  { name: 'lb4 --workers 2', port: two.port, runs: [] },
];
// warm-up (JIT, connection pools), not counted
for (const tg of targets.slice(1)) {
  await measure(tg.port);
}
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? [1, 2] : [2, 1];
  for (const i of order) targets[i].runs.push(await measure(targets[i].port));
}
targets[0].runs.push(await measure(targets[0].port));

const lines = [];
lines.push(`# lb4 L4 throughput, small keep-alive HTTP requests`);
lines.push('');
lines.push(`${availableParallelism()} cores, node ${process.version}, load: ${hasWrk ? `wrk -t${THREADS} -c${CONNS}` : `in-script loop, ${CONNS} connections`}, ${SECONDS} s per round, ${ROUNDS} interleaved rounds, median shown`);
lines.push('');
lines.push('| target | req/s per round | median req/s | median p99 ms |');
lines.push('|---|---|---|---|');
for (const tg of targets) {
  const rps = tg.runs.map((x) => x.rps);
  lines.push(`| ${tg.name} | ${rps.map((x) => Math.round(x)).join(', ')} | ${Math.round(median(rps))} | ${median(tg.runs.map((x) => x.p99)).toFixed(2)} |`);
}
const m1 = median(targets[1].runs.map((x) => x.rps));
const m2 = median(targets[2].runs.map((x) => x.rps));
lines.push('');
lines.push(`--workers 2 / --workers 1: ${(m2 / m1).toFixed(2)}x (${Math.round((Date.now() - t0) / 1000)} s total)`);
const report = lines.join('\n');
console.log(report);
mkdirSync(join(here, 'out'), { recursive: true });
writeFileSync(join(here, 'out', 'bench-workers.md'), `${report}\n`);
for (const c of [one.proc, two.proc, backend.proc]) c.kill('SIGTERM');
