/**
 * src/admin/body.ts on its own, over real sockets (an in-process HTTP
 * server whose one route reads a JSON body the way admin calls that take
 * one do): the parsed value, an empty body, 400 for invalid JSON, 413 above
 * the limit (declared or chunked) with the connection closed, and a client
 * that goes away mid-body.
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { ADMIN_BODY_LIMIT, readJson } from '../../../src/admin/body.js';
import { RawClient, sleep } from '../l7/_util.js';

t.test('readJson: value, empty, 400, 413, client gone', async (t) => {
  const outcomes: string[] = [];
  const server = http.createServer((req, res) => {
    void readJson(req, res).then((body) => {
      if (body === null) {
        outcomes.push('answered');
        return;
      }
      outcomes.push(JSON.stringify(body.value) ?? 'undefined');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ got: body.value ?? null }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const c = await RawClient.open(port);
  t.teardown(() => c.close());

  let r = await c.request('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\n{"weight": 3.5}');
  t.same(JSON.parse(r.body.toString()), { got: { weight: 3.5 } }, 'parsed JSON');
  r = await c.request('POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n');
  t.same(JSON.parse(r.body.toString()), { got: [1, 2] }, 'chunked JSON');
  r = await c.request('POST /x HTTP/1.1\r\nHost: a\r\n\r\n');
  t.same(JSON.parse(r.body.toString()), { got: null }, 'no body: value undefined');
  r = await c.request('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n{oops');
  t.equal(r.status, 400, 'not JSON: 400');
  t.match(JSON.parse(r.body.toString()).error, /not JSON/);
  r = await c.request(`POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${ADMIN_BODY_LIMIT}\r\n\r\n"${'x'.repeat(ADMIN_BODY_LIMIT - 2)}"`);
  t.equal(r.status, 200, 'exactly the limit is fine, and the connection served 5 calls');

  r = await c.request(`POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${ADMIN_BODY_LIMIT + 1}\r\n\r\n`);
  t.equal(r.status, 413, 'declared above the limit: 413 before any body byte');
  t.equal(r.get('connection'), 'close');
  t.ok(await c.waitClose(5000), 'and the connection is closed');

  const c2 = await RawClient.open(port);
  t.teardown(() => c2.close());
  c2.write('POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let i = 0; i < 5; i++) c2.write(`4000\r\n${'y'.repeat(0x4000)}\r\n`);
  r = await c2.read(5000);
  t.equal(r.status, 413, 'chunked past the limit: 413');
  t.ok(await c2.waitClose(5000));

  const s = net.connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  s.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
  await sleep(100);
  s.destroy();
  const deadline = Date.now() + 5000;
  while (outcomes.length < 8 && Date.now() < deadline) await sleep(20);
  t.same(outcomes, ['{"weight":3.5}', '[1,2]', 'undefined', 'answered', JSON.stringify('x'.repeat(ADMIN_BODY_LIMIT - 2)), 'answered', 'answered', 'answered'], 'each call resolved once; a client gone mid-body resolves null');
});
