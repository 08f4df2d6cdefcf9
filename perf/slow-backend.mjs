// Does p2c-ewma predict? Three HTTP backends behind lb4; one of them turns
// slow for a while, then recovers; a steady open-loop load (one request per
// connection: keep-alive off, so in L4 every request is a new pick) runs
// through lb4 with round-robin, least-connections and p2c-ewma, side by
// side in each round (the order rotates), medians over the rounds.
//
//   make bench-slow                        # L4, both kinds of slowness
//   node perf/slow-backend.mjs --mode l7   # L7 (p2c-ewma needs the L7 exchange's time-to-first-byte samples)
//   options: --rounds N (3)  --rate R req/s (50)  --slow-ms D (50)
//            --kind response|accept (both in l4)  --strategies a,b,c
//
// What each strategy can see. In L4, p2c-ewma's latency sample is the
// connect time, and a backend that answers slowly still accepts at once:
// connect time cannot see a slow HTTP response. So the L4 run has two kinds
// of slowness:
//   - `response`: responses delayed by D ms, accepts as fast as ever. Only
//     the connection count can tell (least-connections and the (active + 1)
//     factor of p2c-ewma): this is the honest control.
//   - `accept`: an overloaded backend: accepting (here the TLS handshake,
//     lb4 speaking TLS to the backends) and responding both delayed by D ms.
//     Connect time sees it.
// In L7 the slowness is in the responses, and p2c-ewma's sample is the time
// to the response's first byte.
//
// Phases of one run: 2 s normal, 4 s with backend `b` slow, 4 s recovered.
// Reported per strategy: the share of requests sent to `b` and the p50/p99
// latency (client side: request start to response end) during the slow
// phase, and `b`'s share after it recovered. Writes perf/out/slow-backend.md.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const LB4 = join(here, '..', 'bin', 'lb4');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const MODE = arg('mode', 'l4');
const ROUNDS = Number(arg('rounds', '3'));
const RATE = Number(arg('rate', '50'));
const SLOW_MS = Number(arg('slow-ms', '50'));
const STRATEGIES = arg('strategies', 'round-robin,least-connections,p2c-ewma').split(',');
const KINDS = arg('kind', MODE === 'l4' ? 'response,accept' : 'response').split(',');
const PHASES = { warm: 2000, slow: 4000, recovered: 4000 };

if (MODE !== 'l4' && MODE !== 'l7') throw new Error('--mode l4|l7');

/** A self-signed certificate for the TLS backends (L4 `accept` runs). */
function makeCert() {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-slow-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('openssl failed');
  const out = { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) };
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/**
 * An HTTP backend answering its name. `state.slow` delays responses by
 * SLOW_MS; with `tlsCert` it speaks TLS, and while slow it also waits
 * SLOW_MS before starting each handshake (an overloaded accept).
 */
async function backend(name, tlsCert) {
  const state = { slow: false, slowAccept: false };
  const body = Buffer.from(`${name}\n`);
  const onRequest = (req, res) => {
    req.resume();
    const send = () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, connection: 'close' });
      res.end(body);
    };
    if (state.slow) setTimeout(send, SLOW_MS);
    else send();
  };
  let server;
  if (tlsCert) {
    const inner = http.createServer(onRequest);
    const secure = new tls.Server({ ...tlsCert }, (s) => inner.emit('connection', s));
    secure.on('tlsClientError', () => {});
    server = net.createServer((raw) => {
      raw.on('error', () => {});
      if (state.slowAccept) setTimeout(() => secure.emit('connection', raw), SLOW_MS);
      else secure.emit('connection', raw);
    });
  } else {
    server = http.createServer(onRequest);
  }
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { name, state, port: server.address().port, close: () => new Promise((r) => server.close(() => r())) };
}

/** Start bin/lb4; resolves with its port once it logged `listening`. */
function startLb4(args) {
  const p = spawn(process.execPath, [LB4, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LB_LOG_LEVEL: 'warn' } });
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let l;
        try {
          l = JSON.parse(line);
        } catch {
          continue;
        }
        if (l.msg === 'listening') {
          p.stdout.removeAllListeners('data');
          p.stdout.resume();
          resolve({ port: l.port, stop: () => new Promise((r) => { p.once('close', r); p.kill('SIGTERM'); }) });
          return;
        }
      }
    });
    p.once('close', (code) => reject(new Error(`lb4 exited ${code}: ${err}`)));
  });
}

/** One request on a new connection: resolves {name, ms} or {error}. */
function request(port) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ name: data.trim(), ms: performance.now() - t0, at: t0 }));
      res.on('error', () => resolve({ error: true, at: t0 }));
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve({ error: true, at: t0 }));
    req.end();
  });
}

const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);

/** One run: load through lb4 with `strategy` while backend b turns slow and recovers. */
async function run(strategy, kind, bs, tlsOn) {
  const args = ['--listen', '127.0.0.1:0', '--mode', MODE, '--strategy', strategy, '--health-check', 'off', '--connect-timeout', '5s'];
  if (tlsOn) args.push('--backend-tls', '--backend-tls-insecure');
  for (const b of bs) args.push('--backend', `127.0.0.1:${b.port},name=${b.name}`);
  const lb = await startLb4(args);
  const results = [];
  const start = performance.now();
  const total = PHASES.warm + PHASES.slow + PHASES.recovered;
  const slowFrom = start + PHASES.warm;
  const slowTo = slowFrom + PHASES.slow;
  const b = bs[1];
  const timers = [
    setTimeout(() => {
      b.state.slow = true;
      b.state.slowAccept = kind === 'accept';
    }, PHASES.warm),
    setTimeout(() => {
      b.state.slow = false;
      b.state.slowAccept = false;
    }, PHASES.warm + PHASES.slow),
  ];
  const pending = [];
  // open loop: requests leave on schedule whatever the answers do
  const interval = 1000 / RATE;
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (start + sent * interval <= now && sent * interval < total) {
        pending.push(request(lb.port).then((r) => results.push(r)));
        sent++;
      }
      if (sent * interval >= total) return resolve();
      setTimeout(tick, Math.max(1, start + sent * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  for (const t of timers) clearTimeout(t);
  b.state.slow = false;
  b.state.slowAccept = false;
  await lb.stop();
  const inSlow = results.filter((r) => r.at >= slowFrom && r.at < slowTo);
  const after = results.filter((r) => r.at >= slowTo);
  const ok = inSlow.filter((r) => !r.error);
  return {
    share: ok.filter((r) => r.name === b.name).length / Math.max(1, ok.length),
    p50: pct(ok.map((r) => r.ms), 50),
    p99: pct(ok.map((r) => r.ms), 99),
    errors: results.filter((r) => r.error).length,
    after: after.filter((r) => !r.error && r.name === b.name).length / Math.max(1, after.filter((r) => !r.error).length),
  };
}

const lines = [];
const out = (s = '') => {
  lines.push(s);
  console.log(s);
};

out(`# Slow backend: which strategy notices (${MODE})`);
out();
out(`node ${process.version}, ${new Date().toISOString()}; ${RATE} req/s open loop, one request per connection; backend b slow by ${SLOW_MS} ms for ${PHASES.slow / 1000} s after ${PHASES.warm / 1000} s, then recovered for ${PHASES.recovered / 1000} s; ${ROUNDS} rounds, medians.`);
const cert = MODE === 'l4' && KINDS.includes('accept') ? makeCert() : null;
for (const kind of KINDS) {
  const tlsOn = MODE === 'l4' && kind === 'accept';
  const bs = [];
  for (const n of ['a', 'b', 'c']) bs.push(await backend(n, tlsOn ? cert : null));
  const per = Object.fromEntries(STRATEGIES.map((s) => [s, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = STRATEGIES.map((_, i) => STRATEGIES[(i + round) % STRATEGIES.length]);
    for (const s of order) {
      const r = await run(s, kind, bs, tlsOn);
      per[s].push(r);
      console.error(`round ${round + 1} ${kind} ${s}: b ${(100 * r.share).toFixed(1)}%, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, after ${(100 * r.after).toFixed(1)}%, errors ${r.errors}`);
    }
  }
  for (const b of bs) await b.close();
  out();
  out(kind === 'accept'
    ? `## ${MODE}: b slow to accept (TLS handshake +${SLOW_MS} ms) and to respond (+${SLOW_MS} ms)`
    : `## ${MODE}: b slow to respond (+${SLOW_MS} ms), accepting as fast as ever`);
  out();
  out('| strategy | requests to b while slow (fair: 33.3%) | p50 ms | p99 ms | to b after it recovered | errors |');
  out('|---|---:|---:|---:|---:|---:|');
  for (const s of STRATEGIES) {
    const rs = per[s];
    out(`| ${s} | ${(100 * median(rs.map((r) => r.share))).toFixed(1)}% | ${median(rs.map((r) => r.p50)).toFixed(1)} | ${median(rs.map((r) => r.p99)).toFixed(1)} | ${(100 * median(rs.map((r) => r.after))).toFixed(1)}% | ${rs.reduce((a, r) => a + r.errors, 0)} |`);
  }
}
mkdirSync(join(here, 'out'), { recursive: true });
writeFileSync(join(here, 'out', 'slow-backend.md'), lines.join('\n') + '\n');
console.error(`slow-backend: wrote ${join(here, 'out', 'slow-backend.md')}`);
