/**
 * The test helpers against each other, without lb4: if these fail, an
 * end-to-end failure is not lb4's fault.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { closedPort, echoBackend, httpBackend, namedBackend, sinkBackend } from '../helpers/backends.js';
import { connect, request, tlsConnect } from '../helpers/clients.js';
import { makeCerts } from '../helpers/certs.js';
import { flagValues } from '../helpers/lb4.js';
import { getJson, post } from '../helpers/admin.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

t.test('echo round trip, half-close', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  t.equal(echo.address, `${echo.host}:${echo.port}`);
  const c = await connect(echo.port, echo.host);
  c.write('hello\n');
  t.equal(await c.readLine(), 'hello');
  const big = randomBytes(1024 * 1024);
  c.write(big);
  t.same(sha(await c.readBytes(big.length)), sha(big), '1 MiB echoed in order');
  c.end('bye');
  t.equal((await c.readUntilEnd()).toString(), 'bye', 'echo ends after the client ends');
  const closed = await c.waitClose();
  t.equal(closed.hadError, false);
  t.equal(echo.accepted, 1);
  await echo.waitForConnections(0);
  t.equal(echo.connections, 0);
  t.equal(echo.bytesReceived, 6 + big.length + 3);
});

t.test('named backend speaks first, then echoes', async (t) => {
  const b = await namedBackend('alpha');
  t.teardown(() => b.close());
  const c = await connect(b.port, b.host);
  t.equal(await c.readLine(), 'alpha', 'name arrives before we send anything');
  c.write('ping\r\nsecond\n');
  t.equal(await c.readLine(), 'ping');
  t.equal(await c.readLine(), 'second');
  t.same(b.lastLines, ['ping', 'second']);
  await b.waitForConnections(1);
  t.equal(b.connections, 1);
  c.end();
  await c.readUntilEnd();
  await b.waitForConnections(0);
});

t.test('close() destroys open connections', async (t) => {
  const b = await namedBackend('x');
  const c1 = await connect(b.port, b.host);
  const c2 = await connect(b.port, b.host);
  await b.waitForAccepted(2);
  t.equal(b.connections, 2);
  await b.close();
  await c1.waitClose();
  await c2.waitClose();
  t.equal(b.connections, 0);
  await t.rejects(connect(b.port, b.host), { code: 'ECONNREFUSED' }, 'port closed after close()');
});

t.test('http backend answers and records the request', async (t) => {
  const b = await httpBackend('web-1');
  t.teardown(() => b.close());
  const r = await request(b.port, '/a/b?c=1', {
    host: b.host,
    method: 'POST',
    headers: { 'X-Custom-Thing': 'v1', 'content-type': 'text/plain' },
    body: 'payload',
  });
  t.equal(r.status, 200);
  t.equal(r.body, 'web-1');
  t.equal(r.headers['x-backend'], 'web-1');
  t.equal(b.requests, 1);
  t.equal(b.lastRequest?.method, 'POST');
  t.equal(b.lastRequest?.url, '/a/b?c=1');
  t.equal(b.lastRequest?.headers['x-custom-thing'], 'v1');
  t.ok(b.lastRequest?.rawHeaders.includes('X-Custom-Thing'), 'raw header case kept');
  t.equal(b.lastRequest?.body.toString(), 'payload');

  const s = await httpBackend('web-2', { status: 503, headers: { 'retry-after': '1' } });
  t.teardown(() => s.close());
  const r2 = await request(s.port, '/', { host: s.host });
  t.equal(r2.status, 503);
  t.equal(r2.headers['retry-after'], '1');
  t.equal(r2.body, 'web-2');

  const h = await httpBackend('web-3', {
    handler: (req, res) => {
      res.statusCode = 201;
      res.end(`custom ${req.url}`);
    },
  });
  t.teardown(() => h.close());
  const r3 = await request(h.port, '/x', { host: h.host });
  t.equal(r3.status, 201);
  t.equal(r3.body, 'custom /x');
  await h.waitForRequests(1);
});

t.test('http backend keeps connections alive', async (t) => {
  const b = await httpBackend('ka');
  t.teardown(() => b.close());
  const c = await connect(b.port, b.host);
  c.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
  await b.waitForRequests(2);
  t.equal(b.accepted, 1, 'both requests on one connection');
  t.same(
    b.requestLog.map((r) => r.url),
    ['/1', '/2'],
  );
  c.destroy();
});

t.test('sink hashes what it receives', async (t) => {
  const sink = await sinkBackend();
  t.teardown(() => sink.close());
  const c = await connect(sink.port, sink.host);
  const data = randomBytes(3 * 1024 * 1024 + 17);
  c.end(data);
  t.equal((await c.readUntilEnd()).length, 0, 'sink ends after the client ends');
  const r = await sink.waitForDone(0);
  t.equal(r.bytesReceived, data.length);
  t.equal(r.sha256Received, sha(data));
  t.equal(sink.sha256, sha(data));
  t.equal(sink.bytesReceived, data.length);
});

t.test('sink streams random data with backpressure', async (t) => {
  // Large enough that loopback socket buffers (several MiB with autotuning)
  // cannot absorb it all while the client is paused.
  const n = 48 * 1024 * 1024 + 5;
  const sink = await sinkBackend({ writeOnConnect: n });
  t.teardown(() => sink.close());
  const c = await connect(sink.port, sink.host);
  // A slow reader first: the sink must wait (backpressure), not buffer it all.
  c.pause();
  const conn = await sink.waitForDone(0, 300).catch(() => sink.conns[0]);
  t.ok(conn, 'connection recorded');
  t.ok(conn!.bytesSent < n, `sink held back while the client did not read (${conn!.bytesSent} of ${n})`);
  c.resume();
  const got = await c.readUntilEnd(10_000);
  t.equal(got.length, n);
  c.end();
  const done = await sink.waitForDone(0);
  t.equal(done.sha256Sent, sha(got), 'sent hash matches received bytes');
  t.equal(sink.sentSha256, sha(got));

  const fixed = Buffer.from('fixed payload');
  const sink2 = await sinkBackend({ writeOnConnect: fixed });
  t.teardown(() => sink2.close());
  const c2 = await connect(sink2.port, sink2.host);
  t.equal((await c2.readUntilEnd()).toString(), 'fixed payload');
  c2.end();
  t.equal((await sink2.waitForDone()).sha256Sent, sha(fixed));
});

t.test('half-open client keeps sending after the backend ends', async (t) => {
  const sink = await sinkBackend({ writeOnConnect: Buffer.from('server first and last\n') });
  t.teardown(() => sink.close());
  const c = await connect(sink.port, sink.host, { allowHalfOpen: true });
  t.equal(await c.readLine(), 'server first and last');
  await c.readUntilEnd();
  t.equal(c.readEnded, true);
  const more = randomBytes(200_000);
  c.end(more);
  const r = await sink.waitForDone(0);
  t.equal(r.sha256Received, sha(more), 'bytes sent after the backend FIN arrive');
  t.equal((await c.waitClose()).hadError, false);
});

t.test('paused sink does not read', async (t) => {
  const sink = await sinkBackend({ paused: true });
  t.teardown(() => sink.close());
  const c = await connect(sink.port, sink.host);
  c.write(randomBytes(64 * 1024));
  await sink.waitForAccepted(1);
  t.equal(sink.bytesReceived, 0);
  sink.resume();
  c.end();
  const r = await sink.waitForDone(0);
  t.equal(r.bytesReceived, 64 * 1024);
});

t.test('closedPort refuses connections', async (t) => {
  const port = await closedPort();
  t.ok(port > 0);
  await t.rejects(connect(port), { code: 'ECONNREFUSED' });
  await t.rejects(request(port, '/'), { code: 'ECONNREFUSED' });
});

t.test('reads time out instead of hanging', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const c = await connect(echo.port, echo.host);
  t.teardown(() => c.destroy());
  await t.rejects(c.readLine(50), /timed out/);
  await t.rejects(c.readBytes(1, 50), /timed out/);
});

t.test('readBytes rejects when the stream ends early', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const c = await connect(echo.port, echo.host);
  c.end('abc');
  await t.rejects(c.readBytes(10), /ended/);
});

t.test('makeCerts: a TLS handshake verifies with the CA for localhost', async (t) => {
  const certs = await makeCerts({ names: ['example.test', '10.9.8.7'] });
  t.teardown(() => certs.cleanup());
  for (const f of [certs.cert, certs.key, certs.ca]) t.ok(existsSync(f), `${f} exists`);
  t.not(readFileSync(certs.ca, 'utf8'), readFileSync(certs.cert, 'utf8'), 'CA differs from the server cert');

  const server = tls.createServer(
    { cert: readFileSync(certs.cert), key: readFileSync(certs.key), allowHalfOpen: true },
    (s) => s.pipe(s),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  t.teardown(() => server.close());

  for (const servername of ['localhost', 'example.test', '127.0.0.1']) {
    const c = await tlsConnect(port, { ca: readFileSync(certs.ca), servername });
    t.equal(c.authorized, true, `verified for ${servername}`);
    c.end('over tls\n');
    t.equal(await c.readLine(), 'over tls');
    await c.readUntilEnd();
  }
  const viaPath = await tlsConnect(port, { ca: certs.ca });
  t.equal(viaPath.authorized, true, 'ca given as a path');
  viaPath.destroy();

  await t.rejects(tlsConnect(port, { ca: certs.ca, servername: 'other.test' }), /other\.test/, 'wrong name fails');
  await t.rejects(tlsConnect(port, { ca: certs.cert, servername: 'localhost' }), 'untrusted CA fails');
});

t.test('request over https with the test CA', async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.cleanup());
  const { createServer } = await import('node:https');
  const server = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (_req, res) => res.end('secure'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const r = await request(port, '/', { tls: { ca: certs.ca } });
  t.equal(r.status, 200);
  t.equal(r.body, 'secure');
});

t.test('admin helpers against a stand-in server', async (t) => {
  const b = await httpBackend('admin', {
    handler: (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, auth: req.headers.authorization ?? null }));
    },
  });
  t.teardown(() => b.close());
  const g = await getJson(b.port, '/stats', { host: b.host });
  t.same(g.json, { method: 'GET', url: '/stats', auth: null });
  const p = await post(b.port, '/backends/a/drain', 's3cret', { host: b.host });
  t.equal(p.status, 200);
  t.same(p.json, { method: 'POST', url: '/backends/a/drain', auth: 'Bearer s3cret' });
  const n = await post(b.port, '/backends/a/enable', undefined, { host: b.host });
  t.equal(n.json.auth, null);
});

t.test('flagValues reads both flag forms', async (t) => {
  t.same(flagValues(['--listen', '127.0.0.1:0', '--listen=9000', '--admin', 'x'], '--listen'), ['127.0.0.1:0', '9000']);
});
