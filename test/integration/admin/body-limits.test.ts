/**
 * Admin request bodies against hostile clients, through `bin/lb4 --admin`:
 * a call refused for auth (401, 403) is answered without reading its body
 * and its connection is closed, so a 512 MiB upload without a token costs
 * lb4 nothing; bodies are at most 64 KiB (a larger Content-Length, or a
 * chunked body growing past it, is a 413 and the connection is closed);
 * smaller bodies are read and the connection stays usable.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { namedBackend } from '../../helpers/backends.js';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { rssBytes } from '../../helpers/l4-e2e.js';
import { RawClient, sleep } from '../l7/_util.js';

const TOKEN = 'tok-3d9a';

async function start(t: Test): Promise<Lb4Process> {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  return withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', TOKEN, '--backend', `${a.address},name=a`, '--health-check', 'off']);
}

/**
 * Send `head` and then stream zeros as fast as lb4 takes them, up to
 * `declared` bytes, while reading the answer; stops when lb4 closes.
 */
async function hostileUpload(port: number, head: string, declared: number): Promise<{ answer: string; ms: number; sent: number; closed: boolean }> {
  const s = net.connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  let answer = '';
  let closed = false;
  let answeredAt = 0;
  const started = Date.now();
  s.on('data', (d: Buffer) => {
    answer += d.toString('latin1');
    if (answeredAt === 0 && answer.includes('\r\n\r\n')) answeredAt = Date.now();
  });
  s.on('error', () => {});
  s.on('close', () => (closed = true));
  s.write(head);
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  while (!closed && sent < declared && Date.now() - started < 20_000) {
    if (!s.write(chunk)) {
      // (no events.once: it rejects on the EPIPE that ends a refused upload)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          s.off('drain', done);
          s.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, 100);
        s.on('drain', done);
        s.on('close', done);
      });
    }
    sent += chunk.length;
  }
  const deadline = Date.now() + 5000;
  while (!closed && Date.now() < deadline) await sleep(20);
  s.destroy();
  return { answer, ms: (answeredAt || Date.now()) - started, sent, closed };
}

t.test('an unauthenticated 512 MiB upload: 401 at once, body not read, connection closed, no memory', async (t) => {
  const lb = await start(t);
  const pid = lb.proc.pid!;
  await sleep(300);
  const before = rssBytes(pid);
  const size = 512 * 1024 * 1024;
  for (const [label, auth, status] of [
    ['no Authorization', '', 401],
    ['a wrong token', 'Authorization: Bearer nope\r\n', 403],
  ] as const) {
    const r = await hostileUpload(lb.adminPort!, `POST /backends/a/drain HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${size}\r\n\r\n`, size);
    t.match(r.answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${label}: ${status}`);
    t.match(r.answer, /\r\nConnection: close\r\n/i, `${label}: Connection: close`);
    t.ok(r.ms < 2000, `${label}: answered in ${r.ms} ms`);
    t.ok(r.closed, `${label}: lb4 closed the connection`);
    t.ok(r.sent < 64 * 1024 * 1024, `${label}: lb4 stopped taking the body (${(r.sent / 1048576).toFixed(1)} MiB sent of 512)`);
  }
  const after = rssBytes(pid);
  t.ok(after - before < 8 * 1024 * 1024, `lb4 RSS grew by ${((after - before) / 1048576).toFixed(1)} MiB`);
  const st = await RawClient.open(lb.adminPort!);
  t.teardown(() => st.close());
  const stats = await st.request('GET /stats HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(JSON.parse(stats.body.toString()).backends[0].state, 'up', 'nothing changed');
});

t.test('401 and 403 close the connection even without a body', async (t) => {
  const lb = await start(t);
  for (const [auth, status] of [
    ['', 401],
    ['Authorization: Bearer wrong\r\n', 403],
    ['Authorization: Basic dG9r\r\n', 403],
  ] as const) {
    const c = await RawClient.open(lb.adminPort!);
    t.teardown(() => c.close());
    const r = await c.request(`POST /backends/a/disable HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 0\r\n\r\n`);
    t.equal(r.status, status);
    t.equal(r.get('connection'), 'close', `${status}: Connection: close`);
    t.ok(await c.waitClose(3000), `${status}: the connection is closed`);
  }
  // an authorized call keeps its connection
  const c = await RawClient.open(lb.adminPort!);
  t.teardown(() => c.close());
  const ok = await c.request(`POST /backends/a/disable HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 2\r\n\r\n{}`);
  t.equal(ok.status, 200);
  t.equal(JSON.parse(ok.body.toString()).state, 'disabled');
  const again = await c.request(`POST /backends/a/enable HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
  t.equal(again.status, 200, 'the same connection serves the next call');
});

t.test('bodies above 64 KiB: 413 (declared or chunked), the connection closed', async (t) => {
  const lb = await start(t);
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  const big = 100 * 1024;

  // declared up front: answered without reading it
  const r1 = await hostileUpload(lb.adminPort!, `POST /backends/a/drain HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${big}\r\n\r\n`, big);
  t.match(r1.answer, /^HTTP\/1\.1 413 /, 'Content-Length 100 KiB: 413');
  t.match(r1.answer, /\r\nConnection: close\r\n/i);
  t.ok(r1.closed, 'closed');

  // chunked: 413 once it grows past the limit
  const c = await RawClient.open(lb.adminPort!);
  t.teardown(() => c.close());
  c.write(`POST /backends/a/drain HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n`);
  const piece = 'x'.repeat(8 * 1024);
  for (let i = 0; i < 9; i++) c.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
  const r2 = await c.read(5000);
  t.equal(r2.status, 413, 'chunked body growing past 64 KiB: 413');
  t.equal(r2.get('connection'), 'close');
  t.ok(await c.waitClose(3000), 'closed');

  // the read calls too
  const r3 = await hostileUpload(lb.adminPort!, `GET /stats HTTP/1.1\r\nHost: x\r\nContent-Length: ${big}\r\n\r\n`, big);
  t.match(r3.answer, /^HTTP\/1\.1 413 /, 'GET /stats with a 100 KiB body: 413');

  // nothing of it was applied; exactly 64 KiB is fine
  const ok = await RawClient.open(lb.adminPort!);
  t.teardown(() => ok.close());
  const stats = await ok.request('GET /stats HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(JSON.parse(stats.body.toString()).backends[0].state, 'up', 'the refused drain changed nothing');
  const limit = await ok.request(`POST /backends/a/drain HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 65536\r\n\r\n${' '.repeat(65536)}`);
  t.equal(limit.status, 200, 'a 64 KiB body is accepted');
  t.equal(JSON.parse(limit.body.toString()).state, 'draining');
});
