/**
 * L7 head edits (docs/reference.md, "L7 rules") end to end: X-Forwarded-For appended to the
 * last such line or added; X-Forwarded-Proto set (http, https over TLS, a
 * client-sent one replaced); hop-by-hop headers removed while header order
 * and case are kept; --trust-proxy (a spoofed header from an untrusted peer
 * changes nothing but the appended list; a trusted peer's list gives the
 * client IP); --hash-key cookie:NAME sticks.
 */
import t from 'tap';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { withLb4 } from '../../helpers/lb4.js';
import { makeCerts } from '../../helpers/certs.js';
import { httpBackend } from '../../helpers/backends.js';
import { RawClient, headEchoBackend, type Echo, l7Args } from './_util.js';

function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

t.test('X-Forwarded-For appended to the last line or added; proto set; hop-by-hop removed; order and case kept', async (t) => {
  const b = await headEchoBackend('a');
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=a`], ['--access-log']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());

  // no XFF: one is added
  let r = await c.request('GET /one HTTP/1.1\r\nhOsT: example.test\r\nX-Custom-B: 2\r\nx-custom-a: 1\r\n\r\n');
  let e = JSON.parse(r.body.toString()) as Echo;
  t.same(pairs(e.rawHeaders), [
    ['hOsT', 'example.test'],
    ['X-Custom-B', '2'],
    ['x-custom-a', '1'],
    ['X-Forwarded-For', '127.0.0.1'],
    ['X-Forwarded-Proto', 'http'],
  ]);

  // two XFF lines: appended to the LAST one; the client's proto replaced; hop-by-hop gone
  r = await c.request(
    'GET /two HTTP/1.1\r\nHost: x\r\nx-forwarded-for: 10.0.0.1\r\nConnection: keep-alive, X-Drop-Me\r\nX-Drop-Me: yes\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n' +
      'Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Forwarded-Proto: https\r\nX-FORWARDED-FOR: 10.0.0.2 , 10.0.0.3  \r\nX-Last: z\r\n\r\n',
  );
  e = JSON.parse(r.body.toString()) as Echo;
  t.same(pairs(e.rawHeaders), [
    ['Host', 'x'],
    ['x-forwarded-for', '10.0.0.1'],
    ['X-FORWARDED-FOR', '10.0.0.2 , 10.0.0.3, 127.0.0.1'],
    ['X-Last', 'z'],
    ['X-Forwarded-Proto', 'http'],
  ]);

  // Transfer-Encoding and Content-Length stay as sent
  r = await c.request('POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  e = JSON.parse(r.body.toString()) as Echo;
  t.same(pairs(e.rawHeaders).slice(0, 2), [
    ['Host', 'x'],
    ['Transfer-Encoding', 'chunked'],
  ]);
  r = await c.request('PUT /four HTTP/1.1\r\nContent-Length: 3\r\nHost: x\r\n\r\nabc');
  e = JSON.parse(r.body.toString()) as Echo;
  t.same(pairs(e.rawHeaders).slice(0, 2), [
    ['Content-Length', '3'],
    ['Host', 'x'],
  ]);
  t.equal(e.method, 'PUT');
  t.equal(e.url, '/four');
});

t.test('HTTP/1.0 client: keep-alive managed per side', async (t) => {
  const b = await headEchoBackend('a');
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=a`]));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const r1 = await c.request('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  t.equal(r1.status, 200);
  t.equal(r1.get('connection'), 'keep-alive');
  const r2 = await c.request('GET /b HTTP/1.0\r\n\r\n');
  t.equal(r2.status, 200);
  t.equal(r2.get('connection'), 'close');
  t.ok(await c.waitClose(), 'closed after an HTTP/1.0 request without keep-alive');
  t.equal(b.accepted, 1, 'the backend connection was reused for the second request');
});

t.test('X-Forwarded-Proto: https over TLS', async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.cleanup());
  const b = await headEchoBackend('a');
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=a`], ['--tls-cert', certs.cert, '--tls-key', certs.key]));
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: lb.ports[0], path: '/tls', servername: 'localhost', ca: readFileSync(certs.ca), rejectUnauthorized: true, headers: { 'X-Forwarded-Proto': 'http' }, agent: false },
      (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => resolve(s));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const e = JSON.parse(body) as Echo;
  const p = pairs(e.rawHeaders);
  t.same(
    p.filter(([k]) => k.toLowerCase() === 'x-forwarded-proto'),
    [['X-Forwarded-Proto', 'https']],
  );
});

t.test('trust-proxy: untrusted peer with a spoofed XFF; trusted peer gives the client IP', async (t) => {
  const b = await headEchoBackend('a');
  t.teardown(() => b.close());
  // 127.0.0.2 is trusted, 127.0.0.1 (our peer address) is not
  const lb = await withLb4(t, l7Args([`${b.address},name=a`], ['--trust-proxy', '127.0.0.2/32', '--trust-proxy', '10.0.0.0/8', '--access-log']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const r = await c.request('GET /spoof HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n');
  const e = JSON.parse(r.body.toString()) as Echo;
  t.same(
    pairs(e.rawHeaders).filter(([k]) => k === 'X-Forwarded-For'),
    [['X-Forwarded-For', '6.6.6.6, 127.0.0.1']],
    'only the appended list changes',
  );
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/spoof');
  t.equal(line.client_ip, '127.0.0.1', 'the untrusted peer stays the client IP');

  // from a trusted peer: the rightmost untrusted XFF entry
  const c2 = await RawClient.open(lb.ports[0]!, '127.0.0.1');
  t.teardown(() => c2.close());
  // connect from 127.0.0.2 (trusted)
  const net = await import('node:net');
  const s = net.connect({ port: lb.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.2' });
  t.teardown(() => s.destroy());
  await new Promise((res) => s.once('connect', res));
  s.write('GET /trusted HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.1.2.3\r\n\r\n');
  const l2 = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/trusted');
  t.equal(l2.client_ip, '203.0.113.7', 'rightmost address that is not trusted');
  s.write('GET /alltrusted HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9, 10.1.2.3\r\n\r\n');
  const l3 = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/alltrusted');
  t.equal(l3.client_ip, '10.9.9.9', 'leftmost when all are trusted');
});

t.test('hash-key cookie:NAME sticks per cookie value, absent cookie hashes the client IP', async (t) => {
  const bs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => httpBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args(bs.map((b) => `${b.address},name=${b.name}`), ['--strategy', 'ip-hash', '--hash-key', 'cookie:sid']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (let u = 0; u < 20; u++) {
      const r = await c.request(`GET /h HTTP/1.1\r\nHost: x\r\nCookie: theme=dark; sid=user${u}; x=1\r\n\r\n`);
      const set = seen.get(`user${u}`) ?? new Set<string>();
      set.add(r.body.toString());
      seen.set(`user${u}`, set);
    }
  }
  for (const [u, set] of seen) t.equal(set.size, 1, `${u} always on one backend`);
  const used = new Set([...seen.values()].map((s) => [...s][0]));
  t.ok(used.size >= 2, `keys spread over ${used.size} backends`);
  const noCookie = new Set<string>();
  for (let i = 0; i < 5; i++) noCookie.add((await c.request('GET /h HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString());
  t.equal(noCookie.size, 1, 'no cookie: the client IP is hashed');
});
