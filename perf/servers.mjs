// Small helper processes for perf/bench.mjs (each runs as its own process so
// it can be pinned to a CPU with taskset):
//
//   node perf/servers.mjs http PORT         HTTP/1.1 backend: GET / → 12-byte body, GET /1m → 1 MiB
//                                           (the fallback when nginx is missing)
//   node perf/servers.mjs echo PORT         TCP echo server (the backend of the memory test)
//   node perf/servers.mjs hold PORT N TLS   open N connections (TLS when TLS=1), one echo round trip
//                                           each so the proxy holds both sides; prints "held", then
//                                           closes them all when a line arrives on stdin, prints "closed"
//   node perf/servers.mjs tlshs PORT SECONDS CONC
//                                           TLS full handshakes: CONC loops of connect (no session
//                                           reuse), GET / with Connection: close, read to the end;
//                                           prints one JSON line {requests, seconds, p50, p99, errors}
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { createInterface } from 'node:readline';

const [mode, portArg, a3, a4] = process.argv.slice(2);
const port = Number(portArg);

if (mode === 'http') {
  const small = Buffer.from('hello world\n');
  const big = Buffer.alloc(1 << 20, 120);
  const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
    const body = req.url === '/1m' ? big : small;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 300_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.listen(port, '127.0.0.1', () => console.log('ready'));
} else if (mode === 'echo') {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.maxConnections = 100_000;
  server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => console.log('ready'));
} else if (mode === 'hold') {
  const n = Number(a3);
  const useTls = a4 === '1';
  const socks = [];
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = useTls ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect({ port, host: '127.0.0.1' });
      s.on('error', () => {
        failed++;
        resolve();
      });
      s.once(useTls ? 'secureConnect' : 'connect', () => s.write('x'));
      s.once('data', () => {
        socks.push(s);
        resolve();
      });
    });
  const conc = 100;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  console.log(JSON.stringify({ held: socks.length, failed }));
  const rl = createInterface({ input: process.stdin });
  rl.once('line', async () => {
    for (const s of socks) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    console.log('closed');
    process.exit(0);
  });
} else if (mode === 'tlshs') {
  const seconds = Number(a3);
  const conc = Number(a4 ?? 8);
  const req = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
  const lat = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const one = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      let got = 0;
      const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' });
      s.once('secureConnect', () => s.write(req));
      s.on('data', (d) => (got += d.length));
      s.on('error', () => {
        errors++;
        resolve();
      });
      s.on('close', () => {
        if (got > 0) lat.push(performance.now() - t0);
        else errors++;
        resolve();
      });
    });
  const worker = async () => {
    while (performance.now() < end) await one();
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  console.log(JSON.stringify({ requests: lat.length, seconds: elapsed, p50: q(0.5), p99: q(0.99), errors }));
  process.exit(0);
} else {
  console.error('usage: servers.mjs http|echo|hold|tlshs PORT ...');
  process.exit(2);
}
