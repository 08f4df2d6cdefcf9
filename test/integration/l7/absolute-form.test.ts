/**
 * Request targets in absolute form (RFC 9112 section 3.2.2) through
 * `bin/lb4 --mode l7`: the request is routed by the target's authority, not
 * by Host, and reaches the backend in origin form with Host replaced by the
 * authority (port kept, empty path → `/`, query kept, http or https scheme);
 * `--hash-key host` hashes the authority; the access log's `path` is the
 * origin-form target; a malformed absolute URI is a 400 and reaches no
 * backend.
 */
import t from 'tap';
import { configFile, withLb4 } from '../../helpers/lb4.js';
import { httpBackend } from '../../helpers/backends.js';
import { RawClient, headEchoBackend, type Echo, l7Args, rawBackend, rawExchange, statusOf } from './_util.js';

/** The Host lines a backend received, as [name, value] pairs. */
function hostLines(e: Echo): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < e.rawHeaders.length; i += 2) if (e.rawHeaders[i]!.toLowerCase() === 'host') out.push([e.rawHeaders[i]!, e.rawHeaders[i + 1]!]);
  return out;
}

t.test('routed by the authority, forwarded in origin form with Host: authority', async (t) => {
  const a = await headEchoBackend('a');
  const web = await headEchoBackend('web');
  const api = await headEchoBackend('api');
  for (const b of [a, web, api]) t.teardown(() => b.close());
  const file = configFile(t, [
    'mode: l7',
    'pools:',
    '  a:',
    `    backends: [{address: "${a.address}", name: a1}]`,
    '  web:',
    `    backends: [{address: "${web.address}", name: web1}]`,
    '  api:',
    `    backends: [{address: "${api.address}", name: api1}]`,
    'defaultPool: web',
    'routes:',
    '  - {host: a.test, pool: a}',
    '  - {path: /api/, pool: api}',
  ]);
  const lb = await withLb4(t, ['--config', file, '--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log']);
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const cases: Array<[string, string, string, string]> = [
    // request, backend, url it receives, Host it receives
    ['GET http://a.test/x HTTP/1.1\r\nHost: public.example\r\n\r\n', 'a', '/x', 'a.test'],
    ['GET http://a.test:8080/x/y?q=1&r=%20 HTTP/1.1\r\nHost: public.example\r\n\r\n', 'a', '/x/y?q=1&r=%20', 'a.test:8080'],
    ['GET http://a.test HTTP/1.1\r\nHost: public.example\r\n\r\n', 'a', '/', 'a.test'],
    ['GET http://a.test?only=query HTTP/1.1\r\nHost: a.test\r\n\r\n', 'a', '/?only=query', 'a.test'],
    ['GET HTTPS://A.Test/s HTTP/1.1\r\nHost: public.example\r\n\r\n', 'a', '/s', 'A.Test'],
    ['GET http://a.test:/p HTTP/1.1\r\nHost: x\r\n\r\n', 'a', '/p', 'a.test'],
    // the authority wins over Host, both ways
    ['GET http://public.example/x HTTP/1.1\r\nHost: a.test\r\n\r\n', 'web', '/x', 'public.example'],
    // path routes see the origin-form path
    ['GET http://shop.test/api/v1?k=v HTTP/1.1\r\nHost: shop.test\r\n\r\n', 'api', '/api/v1?k=v', 'shop.test'],
    ['GET http://[::1]:9/v6 HTTP/1.1\r\nHost: x\r\n\r\n', 'web', '/v6', '[::1]:9'],
  ];
  for (const [req, want, url, host] of cases) {
    const r = await c.request(req);
    t.equal(r.status, 200, `${req.split('\r\n')[0]}: 200`);
    const e = JSON.parse(r.body.toString()) as Echo;
    t.equal(e.name, want, `${req.split('\r\n')[0]} → ${want}`);
    t.equal(e.url, url, `origin form ${url}`);
    t.same(hostLines(e), [['Host', host]], `exactly one Host: ${host}`);
  }
  // the client's Host line keeps its place and name case; HTTP/1.0 without Host gets one
  let r = await c.request('POST http://a.test/form HTTP/1.1\r\nX-First: 1\r\nhOsT: public.example\r\nContent-Length: 3\r\n\r\nabc');
  let e = JSON.parse(r.body.toString()) as Echo;
  t.same(e.rawHeaders.slice(0, 6), ['X-First', '1', 'hOsT', 'a.test', 'Content-Length', '3']);
  t.equal(e.method, 'POST');
  r = await c.request('GET http://a.test/old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  e = JSON.parse(r.body.toString()) as Echo;
  t.equal(e.name, 'a');
  t.equal(e.url, '/old');
  t.same(e.rawHeaders.slice(0, 2), ['Host', 'a.test'], 'HTTP/1.0 without Host: Host added first');
  t.equal(r.get('connection'), 'keep-alive');

  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/x/y?q=1&r=%20');
  t.equal(line.backend, 'a1', 'the access log path is the origin-form target');
  t.equal(lb.logsMatching((l) => l.msg === 'request' && String(l.path).startsWith('http')).length, 0, 'no absolute URI in path');
});

t.test('malformed absolute URIs: 400, Connection: close, nothing forwarded', async (t) => {
  const b = await rawBackend();
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=raw`], ['--access-log']));
  const bad = [
    'ftp://a.test/x',
    'http:/a.test/x',
    'http:///x',
    'http://:80/x',
    'http://user@a.test/x',
    'http://user:pw@a.test/x',
    'http://a.test:8o/x',
    'http://a.test:65536/x',
    'http://[::1/x',
    'http://a.test/x#frag',
  ];
  for (const target of bad) {
    const raw = await rawExchange(lb.ports[0]!, `GET ${target} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
    t.equal(statusOf(raw), 400, `${target}: 400`);
    t.match(raw, /\r\nConnection: close\r\n/i, `${target}: Connection: close`);
  }
  t.equal(b.accepted, 0, 'no backend connection was opened');
  t.equal(b.bytes, 0, 'the backend received nothing');
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === 'http://user@a.test/x');
  t.equal(line.status, 400, 'a malformed target is logged as sent');
});

t.test('--hash-key host hashes the authority of an absolute-form target', async (t) => {
  const bs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => httpBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args(bs.map((b) => `${b.address},name=${b.name}`), ['--strategy', 'ip-hash', '--hash-key', 'host']));
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const used = new Set<string>();
  for (let i = 0; i < 24; i++) {
    const viaTarget = (await c.request(`GET http://k${i}.test:81/ HTTP/1.1\r\nHost: fixed.example\r\n\r\n`)).body.toString();
    const viaHost = (await c.request(`GET / HTTP/1.1\r\nHost: K${i}.test\r\n\r\n`)).body.toString();
    t.equal(viaTarget, viaHost, `k${i}.test: the same backend by authority as by Host`);
    used.add(viaTarget);
  }
  t.ok(used.size >= 2, `authorities spread over ${used.size} backends (the Host header was the same for all)`);
});
