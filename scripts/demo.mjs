#!/usr/bin/env node
/**
 * `make demo`: three HTTP backends in this process, lb4 in front of them
 * terminating TLS on 127.0.0.1:4443, and the admin server on 127.0.0.1:9090.
 * Everything binds the loopback address only: nothing of the demo is
 * reachable from another machine.
 *
 *     node scripts/demo.mjs [extra lb4 flags...]
 *     make demo ARGS="--strategy least-connections"
 *
 * The backends listen on 127.0.0.1:8081..8083, or on free ports when those
 * are taken. lb4's JSON logs are passed through to stdout as they are.
 * Ctrl-C (SIGINT) or SIGTERM stops lb4 (it drains, see --drain-timeout) and
 * the backends; a second Ctrl-C kills lb4 at once.
 *
 * Env: LB4_DEMO_PORTS=free takes free ports for everything (lb4's listener,
 * the admin server, the backends) instead of 4443, 9090 and 8081..8083;
 * LB4_DEMO_CERT_DIR is where the dev certificate is kept (default certs/).
 * test/integration/ops/demo.test.ts uses both.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'lb4');
const certDir = process.env.LB4_DEMO_CERT_DIR || join(root, 'certs');
const certFile = join(certDir, 'server.crt');
const keyFile = join(certDir, 'server.key');
const FREE = process.env.LB4_DEMO_PORTS === 'free';
const HOST = '127.0.0.1';
const extraArgs = process.argv.slice(2);

function say(msg) {
  process.stderr.write(`[demo] ${msg}\n`);
}

/** Listens on 127.0.0.1:port, or on a free port when that one is taken. */
function listen(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (err) => {
      if (err.code === 'EADDRINUSE' && port !== 0) {
        say(`port ${port} is in use, backend takes a free port instead`);
        server.listen(0, '127.0.0.1');
        return;
      }
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address().port);
    };
    server.on('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

async function startBackend(n) {
  const name = `backend-${n}`;
  const body = `hello from ${name}\n`;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-backend': name,
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5_000;
  const port = await listen(server, FREE ? 0 : 8080 + n);
  return { name, port, server };
}

function closeBackends(backends) {
  return Promise.all(
    backends.map(
      (b) =>
        new Promise((resolve) => {
          b.server.close(() => resolve());
          b.server.closeAllConnections();
        }),
    ),
  );
}

function ensureCert() {
  if (existsSync(certFile) && existsSync(keyFile)) return;
  say('no dev certificate yet, making one with certs/make-dev-cert.sh');
  const r = spawnSync('bash', [join(root, 'certs', 'make-dev-cert.sh'), certDir], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    say('could not make the dev certificate (is openssl installed?)');
    process.exit(1);
  }
}

function countListen(args) {
  let n = 0;
  for (const a of args) if (a === '--listen' || a.startsWith('--listen=')) n++;
  return n;
}

async function main() {
  if (!existsSync(bin)) {
    say(`${relative(process.cwd(), bin) || bin} not found; run \`make build\` first`);
    process.exit(1);
  }
  ensureCert();

  const backends = [];
  try {
    for (const n of [1, 2, 3]) backends.push(await startBackend(n));
  } catch (err) {
    say(`cannot start the demo backends: ${err.message}`);
    await closeBackends(backends);
    process.exit(1);
  }
  for (const b of backends) say(`${b.name} on ${HOST}:${b.port}`);

  const args = [
    '--listen', `${HOST}:${FREE ? 0 : 4443}`,
    '--tls-cert', certFile,
    '--tls-key', keyFile,
    '--admin', `${HOST}:${FREE ? 0 : 9090}`,
    ...backends.flatMap((b) => ['--backend', `${HOST}:${b.port},name=${b.name}`]),
    ...extraArgs,
  ];
  const expectListeners = countListen(args);
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });

  let stopping = false;
  let listening = 0;
  let adminPort;
  const listenPorts = [];
  let ready = false;
  let partial = '';

  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    if (ready) return;
    partial += chunk;
    let i;
    while ((i = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      let log;
      try {
        log = JSON.parse(line);
      } catch {
        continue;
      }
      if (log?.msg === 'listening') {
        listening++;
        if (typeof log.port === 'number') listenPorts.push(log.port);
      } else if (log?.msg === 'admin listening') {
        adminPort = log.port;
      }
    }
    if (!ready && listening >= expectListeners && adminPort !== undefined) {
      ready = true;
      partial = '';
      printHelp(listenPorts[0] ?? 4443, adminPort);
    }
  });

  const stop = (signal) => {
    if (stopping) {
      say(`${signal} again: killing lb4`);
      child.kill('SIGKILL');
      return;
    }
    stopping = true;
    say(`${signal}: stopping lb4 (it lets open connections finish; Ctrl-C again to kill it)`);
    child.kill('SIGTERM');
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  child.on('error', async (err) => {
    say(`cannot run lb4: ${err.message}`);
    await closeBackends(backends);
    process.exit(1);
  });
  child.on('exit', async (code, signal) => {
    await closeBackends(backends);
    if (stopping) {
      say('lb4 stopped, backends closed');
      process.exit(0);
    }
    say(`lb4 exited on its own (${signal ? `signal ${signal}` : `code ${code}`}), backends closed`);
    process.exit(code ?? 1);
  });
}

function printHelp(port, adminPort) {
  const row = (cmd, what) => `    ${cmd.padEnd(48)} ${what}`;
  const lines = [
    '',
    `  lb4 demo is running: TLS on ${HOST}:${port} in front of three backends, admin on ${HOST}:${adminPort}`,
    '',
    row(`curl -k https://${HOST}:${port}/`, 'run it a few times to watch the rotation'),
    row(`openssl s_client -connect ${HOST}:${port} -quiet`, 'raw TLS tunnel: then type `GET / HTTP/1.0`'),
    row('', 'and press Enter twice'),
    row(`curl ${HOST}:${adminPort}/stats`, 'counters per backend (JSON)'),
    row(`curl ${HOST}:${adminPort}/metrics`, 'Prometheus metrics'),
    row(`open http://${HOST}:${adminPort}/`, 'for the dashboard'),
    '',
    '  Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  say(err?.stack ?? String(err));
  process.exit(1);
});
