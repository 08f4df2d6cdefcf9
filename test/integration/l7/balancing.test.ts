/**
 * L7 per-request balancing end to end: round-robin over three backends on
 * ONE client keep-alive connection gives a b c a b c; pipelined requests
 * (one write) are answered in order although the backends answer at
 * different speeds; upstream connections are reused (1,000 sequential
 * requests open a handful of backend connections); /stats counts requests
 * and responses by class and has a latency summary.
 */
import t, { type Test } from 'tap';
import { httpBackend, type HttpBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';
import { RawClient, delayedBackend, l7Args } from './_util.js';

async function three(t: Test, make: (n: string) => Promise<HttpBackend>): Promise<HttpBackend[]> {
  const bs = await Promise.all(['a', 'b', 'c'].map((n) => make(n)));
  for (const b of bs) t.teardown(() => b.close());
  return bs;
}

t.test('round-robin per request on one keep-alive connection: a b c a b c', async (t) => {
  const bs = await three(t, (n) => httpBackend(n));
  const lb = await withLb4(t, l7Args(bs.map((b) => `${b.address},name=${b.name}`)));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const got: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await c.request(`GET /r${i} HTTP/1.1\r\nHost: example.test\r\n\r\n`);
    t.equal(r.status, 200);
    t.equal(r.get('connection'), undefined, 'no Connection header toward a keep-alive HTTP/1.1 client');
    got.push(r.body.toString());
  }
  t.same(got, ['a', 'b', 'c', 'a', 'b', 'c']);
  t.notOk(c.closed, 'the client connection stayed open');
});

t.test('pipelined requests in one write are answered in order', async (t) => {
  const bs = await three(t, (n) => delayedBackend(n, n === 'a' ? 300 : n === 'b' ? 10 : 100));
  const lb = await withLb4(t, l7Args(bs.map((b) => `${b.address},name=${b.name}`)));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  let batch = '';
  for (let i = 0; i < 6; i++) batch += `GET /p${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
  c.write(batch);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) got.push((await c.read(15_000)).body.toString());
  t.same(got, ['a', 'b', 'c', 'a', 'b', 'c']);
  // a POST with a body pipelined between GETs
  c.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\nPOST /y HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const r1 = await c.read();
  const r2 = await c.read();
  const r3 = await c.read();
  t.same([r1.body.toString(), r2.body.toString(), r3.body.toString()], ['a', 'b', 'c']);
  t.equal(r3.get('connection'), 'close');
  t.ok(await c.waitClose(15_000), 'closed after Connection: close');
  t.equal(bs[1]!.requestLog.at(-1)!.method, 'POST');
});

t.test('upstream reuse: 1,000 sequential requests open a handful of backend connections', async (t) => {
  const b = await httpBackend('a');
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=a`]));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  for (let i = 0; i < 1000; i++) {
    const r = await c.request(`GET /n${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    if (r.status !== 200) t.fail(`request ${i}: ${r.status}`);
  }
  t.equal(b.requests, 1000);
  t.ok(b.accepted <= 3, `backend accepted ${b.accepted} connections (<= 3)`);
});

t.test('/stats: total counts requests, responses by class, latency summary; access log lines', async (t) => {
  const ok = await httpBackend('ok');
  const nf = await httpBackend('nf', { status: 404 });
  t.teardown(() => ok.close());
  t.teardown(() => nf.close());
  const lb = await withLb4(t, l7Args([`${ok.address},name=ok`, `${nf.address},name=nf`], ['--admin', '127.0.0.1:0', '--access-log']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  for (let i = 0; i < 10; i++) await c.request(`GET /s${i}?q=1 HTTP/1.1\r\nHost: x\r\n\r\n`);
  const st = await getJson(lb.adminPort!, '/stats');
  t.equal(st.status, 200);
  t.equal(st.json.mode, 'l7');
  const by = Object.fromEntries(st.json.backends.map((b: { name: string }) => [b.name, b]));
  t.equal(by.ok.total, 5, 'ok: 5 requests');
  t.equal(by.nf.total, 5, 'nf: 5 requests');
  t.same(by.ok.responses, { '1xx': 0, '2xx': 5, '3xx': 0, '4xx': 0, '5xx': 0 });
  t.same(by.nf.responses, { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 5, '5xx': 0 });
  t.equal(by.ok.latency_ms.count, 5);
  t.ok(by.ok.latency_ms.p50 > 0 && by.ok.latency_ms.p99 >= by.ok.latency_ms.p50 && by.ok.latency_ms.max >= by.ok.latency_ms.p99);
  t.equal(by.ok.active, 0, 'no request in flight');
  t.equal(st.json.connections.total, 1, 'one client connection');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/s9?q=1');
  t.equal(line.method, 'GET');
  t.equal(line.status, 404);
  t.equal(line.backend, 'nf');
  t.match(line.client, /^127\.0\.0\.1:\d+$/);
  t.equal(line.client_ip, '127.0.0.1');
  t.ok(line.bytes_in > 0 && line.bytes_out > 0);
  t.type(line.duration_ms, 'number');
  t.equal(line.retries, 0);
  c.close();
  const conn = await lb.waitForLog((l) => l.msg === 'connection');
  t.equal(conn.backend, 'nf', 'connection line: the last backend used');
  t.equal(conn.end, 'client-close');
});

t.test('SIGTERM: idle keep-alive clients are closed at once, a request in flight finishes with Connection: close', async (t) => {
  const slow = await delayedBackend('slow', 400);
  t.teardown(() => slow.close());
  const lb = await withLb4(t, l7Args([`${slow.address},name=slow`], ['--access-log']));
  const idle = await RawClient.open(lb.ports[0]!);
  const busy = await RawClient.open(lb.ports[0]!);
  t.teardown(() => idle.close());
  t.teardown(() => busy.close());
  t.equal((await idle.request('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n')).status, 200);
  busy.write('GET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
  await slow.waitForRequests(2);
  lb.kill('SIGTERM');
  t.ok(await idle.waitClose(15_000), 'the idle client is closed');
  const r = await busy.read(15_000);
  t.equal(r.status, 200, 'the request in flight is answered');
  t.equal(r.get('connection'), 'close');
  const exit = await lb.exited;
  t.equal(exit.code, 0);
});
