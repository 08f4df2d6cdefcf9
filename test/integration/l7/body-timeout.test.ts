/**
 * --body-timeout through `bin/lb4 --mode l7`: while a request body arrives
 * the client must send a byte at least this often. A silent client gets 408
 * (nothing answered yet) and both connections are closed; once the response
 * has started, both are closed without an answer. A client that trickles
 * slower than that in total but never pauses that long is served; neither
 * the time spent in the queue (lb4 does not read the client then) nor a
 * backend that stops reading (backpressure) counts against the client.
 */
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { withLb4 } from '../../helpers/lb4.js';
import { httpBackend, tcpBackend } from '../../helpers/backends.js';
import { RawClient, delayedBackend, l7Args, sleep } from './_util.js';

/** A backend that reads request bytes and never answers; reports each connection's close. */
async function silentBackend(): Promise<{ address: string; bytes: () => number; closed: Promise<void>; close(): void }> {
  const sockets = new Set<net.Socket>();
  let bytes = 0;
  let onClosed: () => void = () => {};
  const closed = new Promise<void>((r) => (onClosed = r));
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('data', (d: Buffer) => (bytes += d.length));
    sock.on('error', () => {});
    sock.on('close', () => {
      sockets.delete(sock);
      onClosed();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    bytes: () => bytes,
    closed,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

t.test('a client silent in the middle of its body: 408, both sides closed', async (t) => {
  const be = await silentBackend();
  t.teardown(() => be.close());
  const lb = await withLb4(t, l7Args([`${be.address},name=s`], ['--body-timeout', '500ms', '--access-log']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  c.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
  const deadline = Date.now() + 5000;
  while (be.bytes() < 10 && Date.now() < deadline) await sleep(10);
  const started = Date.now();
  const r = await c.read(5000);
  const took = Date.now() - started;
  t.equal(r.status, 408);
  t.equal(r.get('connection'), 'close');
  t.ok(took >= 400 && took < 3000, `408 about 500 ms after the last body byte (${took} ms)`);
  t.ok(await c.waitClose(3000), 'the client connection is closed');
  await be.closed;
  t.pass('the backend connection is closed');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/up');
  t.equal(line.status, 408);
  t.equal(line.backend, 's');

  // a chunked body that stops after a chunk: the same
  const c2 = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c2.close());
  c2.write('POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  const r2 = await c2.read(5000);
  t.equal(r2.status, 408, 'chunked body: 408');
  t.ok(await c2.waitClose(3000));
});

t.test('a client that trickles its body (never silent that long) is served', async (t) => {
  const be = await httpBackend('a');
  t.teardown(() => be.close());
  const lb = await withLb4(t, l7Args([`${be.address},name=a`], ['--body-timeout', '500ms']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  c.write('POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n');
  // 12 bytes over about 2.4 s: far longer than the timeout in total, 200 ms apart
  for (let i = 0; i < 12; i++) {
    await sleep(200);
    t.equal(c.closed, false, `still open after byte ${i}`);
    c.write('x');
  }
  const r = await c.read(5000);
  t.equal(r.status, 200);
  t.equal(be.lastRequest!.body.toString(), 'x'.repeat(12), 'the whole body arrived');
});

t.test('once the response has started, a silent client is just closed (no 408)', async (t) => {
  // answers as soon as the head is in, with a body that never ends
  const be = await httpBackend('early', {
    handler: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('streaming...');
    },
  });
  t.teardown(() => be.close());
  const lb = await withLb4(t, l7Args([`${be.address},name=early`], ['--body-timeout', '400ms']));
  const s = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  t.teardown(() => s.destroy());
  await once(s, 'connect');
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  s.on('error', () => {});
  const closed = once(s, 'close');
  s.write('POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc');
  await closed;
  t.match(got, /^HTTP\/1\.1 200 OK\r\n/, 'the response had started');
  t.notMatch(got, /408/, 'no 408 after it');
});

t.test('time in the queue does not count: lb4 does not read the client then', async (t) => {
  const be = await delayedBackend('slow', 1200);
  t.teardown(() => be.close());
  const lb = await withLb4(t, l7Args([`${be.address},name=slow`], ['--body-timeout', '400ms', '--backend-max-conns', '1', '--queue-timeout', '10s']));
  const first = await RawClient.open(lb.ports[0]!);
  t.teardown(() => first.close());
  first.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
  await be.waitForRequests(1);
  // queued for about 1.2 s behind /hold, with half its body sent before and half during the wait
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  c.write('POST /queued HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234');
  await sleep(600);
  c.write('56789');
  const [r1, r2] = await Promise.all([first.read(5000), c.read(8000)]);
  t.equal(r1.status, 200);
  t.equal(r2.status, 200, 'the queued request is served, not 408');
});

t.test('a backend that stops reading holds the client: not the client’s silence', async (t) => {
  // the backend does not read for 1.5 s (the client stays blocked by backpressure), then reads all
  const SIZE = 32 * 1024 * 1024;
  let received = -1; // body bytes, once the head is in
  const server = await tcpBackend(t, (sock) => {
    sock.pause();
    let head = '';
    setTimeout(() => {
      sock.on('data', (d: Buffer) => {
        if (received < 0) {
          head += d.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          received = head.length - end - 4;
        } else received += d.length;
        if (received >= SIZE) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      });
      sock.resume();
    }, 1500);
  });
  const lb = await withLb4(t, l7Args([`${server.address},name=slowreader`], ['--body-timeout', '400ms']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const head = `POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${SIZE}\r\n\r\n`;
  c.write(head);
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  for (let sent = 0; sent < SIZE && !c.closed; sent += chunk.length) {
    if (!c.socket.write(chunk)) await once(c.socket, 'drain');
  }
  const r = await c.read(15_000);
  t.equal(r.status, 200, 'served once the backend read everything');
  t.equal(received, SIZE, 'the backend got the whole body');
});
