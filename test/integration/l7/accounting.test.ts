/**
 * L7 byte accounting against what a raw client really sent and received,
 * through `bin/lb4 --mode l7`: each request's access-log `bytes_in` is every
 * byte the client sent for it (the head as sent, not as rewritten; the body
 * with its framing) and `bytes_out` every byte it received for it (response
 * heads included, interim 100 Continue too); the backend's `bytes_in` /
 * `bytes_out` in /stats and /metrics are the sums over the requests it
 * served; lb4's own answers (--monitor-uri) count for the request and the
 * connection, not for any backend; an upgraded (101) connection counts its
 * tunnel bytes on the backend and the connection line.
 */
import t from 'tap';
import type http from 'node:http';
import { withLb4 } from '../../helpers/lb4.js';
import { httpBackend, tcpBackend } from '../../helpers/backends.js';
import { getJson } from '../../helpers/admin.js';
import { request } from '../../helpers/clients.js';
import { RawClient, l7Args } from './_util.js';

/** Counts every byte a RawClient writes and receives. */
function meter(c: RawClient): { sent: () => number; recv: () => number } {
  let sent = 0;
  let recv = 0;
  c.socket.on('data', (d: Buffer) => (recv += d.length));
  const write = c.socket.write.bind(c.socket) as (d: string | Buffer) => boolean;
  (c.socket as unknown as { write: (d: string | Buffer) => boolean }).write = (d: string | Buffer): boolean => {
    sent += typeof d === 'string' ? Buffer.byteLength(d, 'latin1') : d.length;
    return write(d);
  };
  return { sent: () => sent, recv: () => recv };
}

function metricValue(text: string, name: string, backend: string): number {
  const m = new RegExp(`^${name}\\{[^}]*backend="${backend}"[^}]*\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

t.test('per request, per backend and per connection bytes are exactly the client-side bytes', async (t) => {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part,');
        res.write('second part,');
        res.end('last');
        return;
      }
      const body = `answer to ${req.method} ${req.url}`;
      res.writeHead(201, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-pad': 'p'.repeat(100) });
      res.end(body);
    });
  };
  const b = await httpBackend('a', { handler });
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=a`], ['--access-log', '--admin', '127.0.0.1:0', '--monitor-uri', '/healthz']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const m = meter(c);

  // [path, bytes in, bytes out, via the backend]
  const seen: Array<[string, number, number, boolean]> = [];
  let s0 = 0;
  let r0 = 0;
  const mark = (path: string, backend: boolean): void => {
    seen.push([path, m.sent() - s0, m.recv() - r0, backend]);
    s0 = m.sent();
    r0 = m.recv();
  };

  let r = await c.request('GET /plain HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\nConnection: keep-alive, X-Hop\r\nX-Hop: dropped\r\n\r\n');
  t.equal(r.status, 201);
  mark('/plain', true);
  r = await c.request(`POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'L'.repeat(1000)}`);
  mark('/len', true);
  c.write('POST /chunked-up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  c.write('5\r\nhello\r\n');
  c.write('6;ext=1\r\n world\r\n0\r\n\r\n');
  r = await c.read();
  mark('/chunked-up', true);
  r = await c.request('GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(r.body.toString(), 'first part,second part,last');
  mark('/chunked', true);
  r = await c.request('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(r.status, 200, 'answered by lb4 itself');
  mark('/healthz', false);
  c.write('PUT /continue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  r = await c.read();
  t.equal(r.status, 100, 'interim 100 Continue');
  r = await c.request('data');
  t.equal(r.status, 201);
  mark('/continue', true);
  c.write('HEAD /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  r = await c.read(5000, true);
  t.equal(r.status, 201);
  mark('/head', true);
  t.ok(await c.waitClose(), 'closed after Connection: close');

  const conn = await lb.waitForLog((l) => l.msg === 'connection');
  const lines = lb.logsMatching((l) => l.msg === 'request');
  t.same(
    lines.map((l) => [l.path, l.bytes_in, l.bytes_out]),
    seen.map(([p, i, o]) => [p, i, o]),
    'each request: bytes_in = bytes the client sent for it, bytes_out = bytes it received (heads included)',
  );
  t.equal(lines.find((l) => l.path === '/healthz')!.backend, null, 'the local answer has no backend');
  t.equal(conn.bytes_in, m.sent(), 'connection bytes_in = everything the client sent');
  t.equal(conn.bytes_out, m.recv(), 'connection bytes_out = everything it received');

  const viaBackend = seen.filter((s) => s[3]);
  const wantIn = viaBackend.reduce((n, s) => n + s[1], 0);
  const wantOut = viaBackend.reduce((n, s) => n + s[2], 0);
  const st = (await getJson(lb.adminPort!, '/stats')).json;
  const be = st.backends.find((x: { name: string }) => x.name === 'a');
  t.equal(be.total, viaBackend.length, 'total: the requests the backend served');
  t.equal(be.bytes_in, wantIn, '/stats bytes_in: the bytes the client sent for those requests');
  t.equal(be.bytes_out, wantOut, '/stats bytes_out: the bytes the client received from them, heads included');
  const metrics = (await request(lb.adminPort!, '/metrics')).body;
  t.equal(metricValue(metrics, 'lb4_backend_bytes_in_total', 'a'), wantIn, '/metrics bytes in');
  t.equal(metricValue(metrics, 'lb4_backend_bytes_out_total', 'a'), wantOut, '/metrics bytes out');
});

t.test('an upgraded connection: the request counts its heads, the backend and the connection count everything', async (t) => {
  // a backend that answers 101 and then echoes raw bytes
  const server = await tcpBackend(t, (sock) => {
    let head = Buffer.alloc(0);
    let upgraded = false;
    sock.on('data', (d: Buffer) => {
      if (upgraded) {
        sock.write(d);
        return;
      }
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Extra: 1\r\n\r\n');
      if (head.length > end + 4) sock.write(head.subarray(end + 4));
    });
    sock.on('end', () => sock.end());
  });
  const lb = await withLb4(t, l7Args([`${server.address},name=ws`], ['--access-log', '--admin', '127.0.0.1:0']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const m = meter(c);
  const req = 'GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n';
  const r = await c.request(req);
  t.equal(r.status, 101);
  const headIn = m.sent();
  const headOut = m.recv();
  let echoed = 0;
  c.socket.on('data', (d: Buffer) => (echoed += d.length));
  for (let i = 0; i < 5; i++) c.write(`tunnel message ${i}\n`);
  const tunnelBytes = m.sent() - headIn;
  const deadline = Date.now() + 5000;
  while (echoed < tunnelBytes && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  t.equal(echoed, tunnelBytes, 'the tunnel echoed everything');
  c.socket.end();
  t.ok(await c.waitClose(), 'closed');

  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/up');
  t.equal(line.status, 101);
  t.equal(line.bytes_in, headIn, 'request bytes_in: the upgrade request as sent');
  t.equal(line.bytes_out, headOut, 'request bytes_out: the 101 head as received');
  const conn = await lb.waitForLog((l) => l.msg === 'connection');
  t.equal(conn.bytes_in, m.sent(), 'connection bytes_in: the request and the tunnel');
  t.equal(conn.bytes_out, m.recv(), 'connection bytes_out: the 101 head and the tunnel');
  const be = (await getJson(lb.adminPort!, '/stats')).json.backends[0];
  t.equal(be.bytes_in, m.sent(), '/stats bytes_in');
  t.equal(be.bytes_out, m.recv(), '/stats bytes_out');
});
