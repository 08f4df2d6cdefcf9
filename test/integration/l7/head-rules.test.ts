/**
 * Two rules of the request head's life in L7 mode:
 * - --header-timeout counts from the head's first byte (docs/reference.md, "Settings"): a
 *   client idle before it is under the keep-alive rule, not answered 408;
 * - an HTTP/1.0 client never receives a 1xx interim response (RFC 9110
 *   section 15.2): lb4 drops it and forwards the final response.
 */
import t from 'tap';
import { withLb4 } from '../../helpers/lb4.js';
import { httpBackend } from '../../helpers/backends.js';
import { RawClient, l7Args, rawBackend, sleep } from './_util.js';

t.test('--header-timeout starts at the first byte of the head', async (t) => {
  const b = await httpBackend('x');
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=x`], ['--header-timeout', '300ms', '--keepalive-timeout', '5s']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  await sleep(700); // idle, before any byte: more than the header timeout
  t.equal(c.closed, false, 'an idle new connection is not cut at --header-timeout');
  const r = await c.request('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(r.status, 200, 'a head sent quickly after the idle wait is served');

  // a head that starts but does not finish in time is answered 408
  const slow = await RawClient.open(lb.ports[0]!);
  t.teardown(() => slow.close());
  slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const r408 = await slow.read(15_000);
  t.equal(r408.status, 408);
});

t.test('no 1xx to an HTTP/1.0 client; HTTP/1.1 clients get it', async (t) => {
  const early = '103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n';
  const be = await rawBackend((sock, all) => {
    if (all.includes('\r\n\r\n')) sock.write(`HTTP/1.1 ${early}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
  });
  t.teardown(() => be.close());
  const lb = await withLb4(t, l7Args([`${be.address},name=r`]));
  const c10 = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c10.close());
  c10.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n');
  const r10 = await c10.read(15_000);
  t.equal(r10.status, 200, 'HTTP/1.0: the first thing received is the final response');
  t.equal(r10.body.toString(), 'ok');

  const c11 = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c11.close());
  c11.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const interim = await c11.read(15_000);
  t.equal(interim.status, 103, 'HTTP/1.1: the interim response passes through');
  const fin = await c11.read(15_000);
  t.equal(fin.status, 200);
});
