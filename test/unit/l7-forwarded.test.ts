/**
 * Unit tests of src/l7/forwarded.ts (head rewriting, client IP from a
 * trusted X-Forwarded-For), src/l7/target.ts (absolute-form targets),
 * src/l7/router.ts (Host / path routes) and src/core/latency.ts (the /stats
 * latency summary).
 */
import t from 'tap';
import { isIP } from 'node:net';
import { HttpParser, type ParsedHead } from '../../src/l7/parser.js';
import { clientIpFrom, CONN_CLOSE, PROTO_HTTPS, rewriteHead } from '../../src/l7/forwarded.js';
import { normalizeHost, Router } from '../../src/l7/router.js';
import { RequestTarget } from '../../src/l7/target.js';
import { LatencyHistogram } from '../../src/core/latency.js';
import { CidrSet } from '../../src/core/cidr.js';
import type { Pool } from '../../src/core/pool.js';

function parse(kind: 'request' | 'response', text: string): { head: ParsedHead; raw: Buffer } {
  let head: ParsedHead | null = null;
  const p = new HttpParser(kind, {
    onMessageBegin() {},
    onHeadersComplete(h) {
      head = h;
      return 0;
    },
    onBody() {},
    onMessageComplete() {},
  }, { maxHeaders: 1000 });
  const buf = Buffer.from(text, 'latin1');
  p.execute(buf);
  p.destroy();
  if (head === null) throw new Error('no head');
  const h = head as ParsedHead;
  return { head: h, raw: buf.subarray(h.headStart, h.headEnd) };
}

const edits = (over: Partial<{ xff: string; protoLine: string; upgrading: boolean; connectionLine: string; target: string; host: string }> = {}) => ({
  xff: '192.0.2.1',
  protoLine: 'X-Forwarded-Proto: http\r\n',
  upgrading: false,
  connectionLine: '',
  target: '',
  host: '',
  ...over,
});

t.test('rewriteHead: untouched heads keep their bytes; XFF and proto added at the end', async (t) => {
  const { head, raw } = parse('request', 'GET /a?b=1 HTTP/1.1\r\nHost: x\r\nx-ONE:  spaced value  \r\n\r\n');
  const out = rewriteHead(raw, head, edits()).toString('latin1');
  t.equal(out, 'GET /a?b=1 HTTP/1.1\r\nHost: x\r\nx-ONE:  spaced value  \r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n\r\n');
});

t.test('rewriteHead: appends to the last XFF line, drops hop-by-hop and what Connection names', async (t) => {
  const { head, raw } = parse(
    'request',
    'POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nConnection: X-A, close, Content-Length\r\nX-A: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n' +
      'Upgrade: h2c\r\nProxy-Connection: x\r\nx-forwarded-proto: ftp\r\nX-Forwarded-For: 2.2.2.2 \t\r\nContent-Length: 0\r\n\r\n',
  );
  const out = rewriteHead(raw, head, edits({ protoLine: PROTO_HTTPS, connectionLine: CONN_CLOSE })).toString('latin1');
  t.equal(
    out,
    'POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 192.0.2.1\r\nContent-Length: 0\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n',
  );
});

t.test('rewriteHead: Upgrade kept when upgrading; empty XFF value', async (t) => {
  const { head, raw } = parse('request', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Forwarded-For:\r\n\r\n');
  const out = rewriteHead(raw, head, edits({ upgrading: true, connectionLine: 'Connection: upgrade\r\n' })).toString('latin1');
  t.equal(out, 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nConnection: upgrade\r\n\r\n');
});

t.test('rewriteHead on a response: no XFF/proto edits', async (t) => {
  const { head, raw } = parse('response', 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: keep\r\nContent-Length: 2\r\n\r\nok');
  const out = rewriteHead(raw, head, { xff: '', protoLine: '', upgrading: false, connectionLine: '', target: '', host: '' }).toString('latin1');
  t.equal(out, 'HTTP/1.1 200 OK\r\nX-Forwarded-For: keep\r\nContent-Length: 2\r\n\r\n');
});

t.test('rewriteHead: absolute form goes out in origin form, Host replaced in place or added first', async (t) => {
  let { head, raw } = parse('request', 'GET http://a.test:8080/x?q=1 HTTP/1.1\r\nX-Before: 1\r\nhOST: public.example\r\nX-After: 2\r\n\r\n');
  let out = rewriteHead(raw, head, edits({ target: '/x?q=1', host: 'a.test:8080' })).toString('latin1');
  t.equal(out, 'GET /x?q=1 HTTP/1.1\r\nX-Before: 1\r\nhOST: a.test:8080\r\nX-After: 2\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n\r\n');
  ({ head, raw } = parse('request', 'POST https://B.test HTTP/1.0\r\nContent-Length: 0\r\n\r\n'));
  out = rewriteHead(raw, head, edits({ target: '/', host: 'B.test', connectionLine: 'Connection: keep-alive\r\n' })).toString('latin1');
  t.equal(out, 'POST / HTTP/1.0\r\nHost: B.test\r\nContent-Length: 0\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n', 'no Host sent: added first');
});

t.test('RequestTarget: origin, asterisk and absolute forms; malformed absolute URIs', async (t) => {
  const tg = new RequestTarget();
  const ok: Array<[string, string, string]> = [
    // url, authority, path forwarded
    ['/x?y', '', '/x?y'],
    ['*', '', '*'],
    ['http://a.test/x', 'a.test', '/x'],
    ['HTTP://a.test/x', 'a.test', '/x'],
    ['https://a.test/x/y?z=1&w', 'a.test', '/x/y?z=1&w'],
    ['http://a.test', 'a.test', '/'],
    ['http://a.test?q', 'a.test', '/?q'],
    ['http://A.Test:8080/p', 'A.Test:8080', '/p'],
    ['http://a.test:/p', 'a.test', '/p'],
    ['http://127.0.0.1:80/', '127.0.0.1:80', '/'],
    ['http://[::1]:8080/v6', '[::1]:8080', '/v6'],
    ['http://[2001:db8::1]', '[2001:db8::1]', '/'],
  ];
  for (const [url, authority, path] of ok) {
    t.equal(tg.parse(url), true, `${url} accepted`);
    t.same([tg.authority, tg.path], [authority, path], url);
  }
  const bad = [
    'ftp://a.test/x', 'ws://a.test/', 'http:/a.test/x', 'http:a.test', 'http://', 'http:///x', 'http://:80/x',
    'http://user@a.test/x', 'http://user:pw@a.test/', 'http://a.test:8o/x', 'http://a.test:65536/', 'http://[::1/x',
    'http://[]/x', 'http://a.test/x#frag', 'http://a b/', 'example.com:443', 'a.test/x', 'httpx://a.test/',
  ];
  for (const url of bad) {
    t.equal(tg.parse(url), false, `${url} rejected`);
    t.same([tg.authority, tg.path], ['', url], `${url}: logged as sent`);
  }
});

t.test('rewriteHead handles many headers (scratch arrays grow)', async (t) => {
  let text = 'GET / HTTP/1.1\r\nHost: x\r\n';
  for (let i = 0; i < 300; i++) text += `X-${i}: ${i}\r\n`;
  const { head, raw } = parse('request', text + '\r\n');
  const out = rewriteHead(raw, head, edits()).toString('latin1');
  t.ok(out.startsWith(text));
  t.ok(out.endsWith('X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n\r\n'));
});

t.test('clientIpFrom: trusted peers only, rightmost untrusted, leftmost when all trusted', async (t) => {
  const trusted = new CidrSet(['10.0.0.0/8', '127.0.0.1/32']);
  const isIp = (s: string): boolean => isIP(s) !== 0;
  const h = (xff: string[]): ParsedHead => parse('request', `GET / HTTP/1.1\r\nHost: x\r\n${xff.map((v) => `X-Forwarded-For: ${v}\r\n`).join('')}\r\n`).head;
  t.equal(clientIpFrom('192.0.2.9', h(['6.6.6.6']), trusted, isIp), '192.0.2.9', 'untrusted peer: header ignored');
  t.equal(clientIpFrom('127.0.0.1', h(['6.6.6.6, 203.0.113.5, 10.1.1.1']), trusted, isIp), '203.0.113.5');
  t.equal(clientIpFrom('127.0.0.1', h(['203.0.113.5', '10.2.2.2']), trusted, isIp), '203.0.113.5', 'across lines');
  t.equal(clientIpFrom('127.0.0.1', h(['10.3.3.3, 10.1.1.1']), trusted, isIp), '10.3.3.3', 'all trusted: leftmost');
  t.equal(clientIpFrom('127.0.0.1', h(['203.0.113.5, garbage, 10.1.1.1']), trusted, isIp), '10.1.1.1', 'garbage stops the walk');
  t.equal(clientIpFrom('127.0.0.1', h([]), trusted, isIp), '127.0.0.1', 'no header');
  t.equal(clientIpFrom('127.0.0.1', h(['6.6.6.6']), null, isIp), '127.0.0.1', 'no trust list');
});

t.test('Router: exact and wildcard hosts, path prefixes, first match, default', async (t) => {
  const pools = new Map<string, Pool>(['a', 'b', 'c', 'def'].map((n) => [n, { name: n } as unknown as Pool]));
  const r = new Router(
    [
      { host: 'api.example.com', path: null, pool: 'a' },
      { host: '*.example.org', path: '/s/', pool: 'b' },
      { host: null, path: '/api', pool: 'c' },
      { host: null, path: null, pool: 'missing' },
    ],
    pools,
    () => pools.get('def')!,
  );
  t.equal(r.route('API.example.com:443', '/x').name, 'a');
  t.equal(r.route('w.example.org', '/s/1').name, 'b');
  t.equal(r.route('example.org', '/s/1').name, 'def', '*.suffix does not match the bare suffix (falls to the catch-all of a missing pool → default)');
  t.equal(r.route('x', '/api?x').name, 'c');
  t.equal(r.route('x', '/ap?i').name, 'def', 'the query is not part of the path');
  t.equal(new Router([], pools, () => pools.get('def')!).route('x', '/').name, 'def');
  t.equal(normalizeHost('[::1]:8080'), '[::1]');
  t.equal(normalizeHost('Example.COM'), 'example.com');
});

t.test('LatencyHistogram: quantiles within the bucket resolution', async (t) => {
  const h = new LatencyHistogram();
  t.same(h.summary(), { count: 0, p50: 0, p90: 0, p99: 0, max: 0 });
  for (let i = 1; i <= 1000; i++) h.record(i * 1000); // 1..1000 ms
  const s = h.summary();
  t.equal(s.count, 1000);
  t.ok(Math.abs(s.p50 - 500) / 500 < 0.15, `p50 ${s.p50}`);
  t.ok(Math.abs(s.p90 - 900) / 900 < 0.15, `p90 ${s.p90}`);
  t.ok(Math.abs(s.p99 - 990) / 990 < 0.15, `p99 ${s.p99}`);
  t.equal(s.max, 1000);
  h.record(0.2);
  t.equal(h.count, 1001);
});
