/**
 * L7 routing by Host (exact, *.suffix) and path prefix to pools defined in a
 * config file (first match wins, else the default pool), and --monitor-uri
 * (200 while a backend is up, 503 when none is; never forwarded).
 */
import t from 'tap';
import { configFile, withLb4 } from '../../helpers/lb4.js';
import { closedPort, httpBackend } from '../../helpers/backends.js';
import { RawClient } from './_util.js';

t.test('routes: Host exact and *.suffix, path prefix, first match wins, default pool', async (t) => {
  const api = await httpBackend('api');
  const web = await httpBackend('web');
  const stat = await httpBackend('static');
  for (const b of [api, web, stat]) t.teardown(() => b.close());
  const file = configFile(t, [
    'mode: l7',
    'pools:',
    '  api:',
    `    backends: [{address: "${api.address}", name: api1}]`,
    '  web:',
    `    backends: [{address: "${web.address}", name: web1}]`,
    '  static:',
    '    strategy: round-robin',
    `    backends: [{address: "${stat.address}", name: static1}]`,
    'defaultPool: web',
    'routes:',
    '  - {host: api.example.com, pool: api}',
    '  - {host: "*.example.org", path: /static/, pool: static}',
    '  - {path: /api/, pool: api}',
    '  - {host: "*.example.org", pool: api}',
  ]);
  const lb = await withLb4(t, ['--config', file, '--listen', '127.0.0.1:0', '--health-check', 'off', '--admin', '127.0.0.1:0']);
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const cases: Array<[string, string, string]> = [
    ['api.example.com', '/anything', 'api'],
    ['API.Example.COM:8080', '/x', 'api'],
    ['www.example.org', '/static/logo.png', 'static'],
    ['a.b.example.org', '/static/', 'static'],
    ['www.example.org', '/other', 'api'],
    ['example.org', '/static/x', 'web'],
    ['shop.test', '/api/v1?x=1', 'api'],
    ['shop.test', '/apiv1', 'web'],
    ['shop.test', '/', 'web'],
  ];
  for (const [host, path, want] of cases) {
    const r = await c.request(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    t.equal(r.body.toString(), want, `${host}${path} → ${want}`);
  }
  t.equal(api.requests, 4);
  t.equal(stat.requests, 2);
  t.equal(web.requests, 3);
});

t.test('--monitor-uri: answered by lb4 itself, 200 or 503', async (t) => {
  const b = await httpBackend('a');
  t.teardown(() => b.close());
  const lb = await withLb4(t, ['--mode', 'l7', '--listen', '127.0.0.1:0', '--health-check', 'off', '--backend', `${b.address},name=a`, '--monitor-uri', '/healthz']);
  const c = await RawClient.open(lb.ports[0]!);
  t.teardown(() => c.close());
  const r = await c.request('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(r.status, 200);
  const r2 = await c.request('GET /healthz?full=1 HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(r2.status, 200, 'query ignored');
  const r3 = await c.request('GET /other HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(r3.body.toString(), 'a', 'other paths are proxied');
  t.equal(b.requests, 1, 'the monitor requests never reached the backend');
  // pipelined monitor requests are answered in order on the same connection
  c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const p = [await c.read(), await c.read(), await c.read()];
  t.same(
    p.map((x) => [x.status, x.body.toString().trim()]),
    [
      [200, '200 OK'],
      [200, 'a'],
      [200, '200 OK'],
    ],
  );

  const dead = await closedPort();
  const lb2 = await withLb4(t, [
    '--mode', 'l7', '--listen', '127.0.0.1:0', '--backend', `127.0.0.1:${dead},name=dead`,
    '--health-check', 'tcp', '--health-interval', '100ms', '--health-timeout', '100ms', '--fall', '1', '--monitor-uri', '/healthz',
  ]);
  await lb2.waitForLog((l) => l.msg === 'backend down', 15_000);
  const c2 = await RawClient.open(lb2.ports[0]!);
  t.teardown(() => c2.close());
  const down = await c2.request('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(down.status, 503, 'no backend up');
});
