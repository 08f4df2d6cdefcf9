/**
 * Choosing by who the client is, in L7 mode through bin/lb4: per-client
 * limits answer 429 with Retry-After (README "Per-client limits"), routing
 * by client network applies per request after trusted X-Forwarded-For
 * (README "Routing by client"), and p2c-ewma learns from each response's
 * time to first byte.
 */
import net from 'node:net';
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { stats, tempDir } from '../../helpers/ops.js';

/** Raw HTTP/1.1 exchanges on one connection from `localAddress`; returns each response head and body. */
async function rawRequests(port: number, localAddress: string, heads: string[]): Promise<{ heads: string[]; closed: boolean }> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  let buf = '';
  let closed = false;
  s.on('data', (d: Buffer) => (buf += d.toString('latin1')));
  s.on('close', () => (closed = true));
  s.on('error', () => {});
  const out: string[] = [];
  for (const h of heads) {
    const start = buf.length;
    s.write(h);
    const deadline = Date.now() + 20_000;
    // one whole response: head + Content-Length body
    for (;;) {
      const part = buf.slice(start);
      const end = part.indexOf('\r\n\r\n');
      if (end >= 0) {
        const m = /content-length: *(\d+)/i.exec(part.slice(0, end));
        if (part.length >= end + 4 + Number(m ? m[1] : 0)) {
          out.push(part.slice(0, end));
          break;
        }
      }
      if (closed || Date.now() > deadline) throw new Error(`no whole response to ${JSON.stringify(h)}: ${JSON.stringify(part)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  s.end();
  await new Promise<void>((r) => (closed ? r() : s.once('close', () => r())));
  return { heads: out, closed };
}

const get = (path = '/'): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

t.test('--client-rate in l7: requests per client IP; over it 429 with Retry-After, the connection stays', async (t) => {
  const a = await httpBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, ['--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--client-rate', '3', '--backend', `${a.address},name=a`]);
  const port = lb.ports[0]!;
  const r = await rawRequests(port, '127.0.0.21', [get(), get(), get(), get(), get()]);
  const statuses = r.heads.map((h) => Number(h.split(' ')[1]));
  t.same(statuses.slice(0, 3), [200, 200, 200], 'three within the rate');
  t.ok(statuses.slice(3).every((s) => s === 429), 'then 429');
  const refused = r.heads[3]!;
  t.match(refused, /\r\nretry-after: [1-9]\d*\r\n/i, 'Retry-After, a whole number of seconds >= 1');
  t.match(refused, /\r\nconnection: keep-alive/i, 'the connection stays');
  t.equal(a.requests, 3, 'the refused requests never reached the backend');
  // another client IP is not affected
  const other = await rawRequests(port, '127.0.0.22', [get()]);
  t.match(other.heads[0]!, /^HTTP\/1\.1 200 /);
  const s = await stats(lb.adminPort!);
  t.equal(s.clients.limited, 2);
  const log = lb.logsMatching((l) => l.msg === 'request' && l.status === 429);
  t.equal(log.length, 2, 'refusals are logged as requests with status 429');
});

t.test('--client-max-conns in l7: the connection counts under its first request\'s client; over it 429 and close', async (t) => {
  const a = await httpBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, ['--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--client-max-conns', '1', '--backend', `${a.address},name=a`]);
  const port = lb.ports[0]!;
  // one connection held open with a request answered
  const held = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.31' });
  t.teardown(() => held.destroy());
  await new Promise<void>((r) => held.once('connect', () => r()));
  held.write(get());
  await new Promise<void>((r) => held.once('data', () => r()));
  const second = await rawRequests(port, '127.0.0.31', [get()]);
  t.match(second.heads[0]!, /^HTTP\/1\.1 429 /, 'a second connection from the same client: 429');
  t.match(second.heads[0]!, /\r\nconnection: close/i, 'and closed');
  await lb.waitForLog((l) => l.msg === 'connection' && l.end === 'client-limit', 20_000);
  const other = await rawRequests(port, '127.0.0.32', [get()]);
  t.match(other.heads[0]!, /^HTTP\/1\.1 200 /, 'another client is served');
});

t.test('clientRoutes in l7: per request, by the client IP after trusted X-Forwarded-For', async (t) => {
  const a = await httpBackend('a');
  const b = await httpBackend('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, [
    'mode: l7',
    'healthCheck: off',
    'trustProxy: ["127.0.0.0/8"]',
    'pools:',
    `  main: {backends: ["${a.address}"]}`,
    `  office: {backends: ["${b.address}"]}`,
    'defaultPool: main',
    'clientRoutes:',
    '  - {cidr: "203.0.113.0/24", pool: office}',
    '',
  ].join('\n'));
  const lb = await withLb4(t, ['--config', file, '--listen', '127.0.0.1:0']);
  const port = lb.ports[0]!;
  const xff = (ip: string): string => `GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${ip}\r\n\r\n`;
  // one connection, requests from different clients behind the trusted proxy
  const r = await rawRequests(port, '127.0.0.1', [xff('203.0.113.9'), xff('198.51.100.7'), xff('203.0.113.200'), get()]);
  const names = r.heads.map((h) => /x-backend: (\w+)/i.exec(h)?.[1]);
  t.same(names, ['b', 'a', 'b', 'a'], 'each request routed by its own client');
});

t.test('p2c-ewma in l7: a backend slow to answer gets fewer requests', async (t) => {
  const fast = await httpBackend('fast');
  const slow = await httpBackend('slow', { handler: (_req, res) => setTimeout(() => res.end('slow'), 60) });
  t.teardown(() => Promise.all([fast.close(), slow.close()]));
  const lb = await withLb4(t, ['--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--strategy', 'p2c-ewma', '--backend', `${fast.address},name=fast`, '--backend', `${slow.address},name=slow`]);
  const port = lb.ports[0]!;
  const heads: string[] = [];
  for (let i = 0; i < 60; i++) heads.push(get(`/${i}`));
  await rawRequests(port, '127.0.0.1', heads);
  t.ok(slow.requests <= 15, `the slow backend got ${slow.requests} of 60 (time-to-first-byte samples steer away from it)`);
  const s = await stats(lb.adminPort!);
  t.equal(s.strategy, 'p2c-ewma');
});
