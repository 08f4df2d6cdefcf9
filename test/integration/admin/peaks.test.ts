/**
 * /stats counters an operator reads beside the documented core (README
 * "Admin API"): peaks and limits of sessions, per-second rates, error and
 * warning classes (connect failures, response errors, redispatches),
 * downtime and the time of the last state change — through bin/lb4 over
 * real sockets.
 */
import t from 'tap';
import net from 'node:net';
import { withLb4 } from '../../helpers/lb4.js';
import { closedPort, echoBackend, httpBackend } from '../../helpers/backends.js';
import { connect, request } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function stats(port: number): Promise<Json> {
  const r = await getJson(port, '/stats');
  return r.json;
}

/** Poll /stats until `pred` holds (generous bound for a loaded machine). */
async function until(port: number, pred: (s: Json) => boolean, what: string, timeoutMs = 20_000): Promise<Json> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await stats(port);
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('L4: session peaks, limits and rates; redispatches on another backend', async (t) => {
  const good = await echoBackend();
  t.teardown(() => good.close());
  const dead = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off',
    '--backend', `127.0.0.1:${dead},name=dead`, '--backend', `${good.address},name=good`,
    '--max-conns', '50', '--backend-max-conns', '20', '--max-fails', '100',
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;
  const held: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await connect(port);
    c.write('x');
    await c.readBytes(1);
    held.push(c);
  }
  const during = await until(admin, (s) => s.sessions.current >= 3, 'three sessions');
  t.equal(during.sessions.limit, 50, 'the --max-conns limit');
  const g = during.backends.find((b: Json) => b.name === 'good');
  t.equal(g.limit, 20, 'the --backend-max-conns limit');
  t.equal(g.max_active, 3, 'peak of the good backend');
  const d = during.backends.find((b: Json) => b.name === 'dead');
  t.ok(d.failures >= 1, 'round robin tried the dead backend first at least once');
  t.equal(d.redispatches, d.failures, 'each failed connect sent its client to the other backend');
  for (const c of held) c.destroy();
  const after = await until(admin, (s) => s.sessions.current === 0 && s.sessions.max_rate >= 3, 'sessions closed and the rate counted');
  t.equal(after.sessions.max, 3, 'the peak stays after they close');
  t.equal(after.backends.find((b: Json) => b.name === 'good').max_active, 3);
  t.ok(after.listeners[0].max_active >= 3, 'listener peak');
  t.ok(after.listeners[0].max_rate >= 3, 'listener rate peak');
  t.ok(after.backends.find((b: Json) => b.name === 'good').max_rate >= 3, 'backend rate peak');
  t.equal(after.pools[0].queue_limit, 1024, 'the --max-queue limit');
  t.equal(after.pools[0].max_queued, 0, 'nobody queued');
});

t.test('downtime and the last state change follow health', async (t) => {
  const b = await echoBackend();
  t.teardown(() => b.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0',
    '--backend', `${b.address},name=a`, '--health-interval', '100ms', '--health-timeout', '200ms', '--fall', '1', '--rise', '1',
  ]);
  const admin = lb.adminPort!;
  const first = await stats(admin);
  t.equal(first.backends[0].last_change, null, 'no change yet');
  t.equal(first.backends[0].downtime_s, 0);
  await b.close();
  const down = await until(admin, (s) => s.backends[0].state === 'down', 'a down');
  t.type(down.backends[0].last_change, 'string', 'the change is dated');
  const changedAt = Date.parse(down.backends[0].last_change);
  t.ok(Math.abs(Date.now() - changedAt) < 30_000, 'recently');
  await until(admin, (s) => s.backends[0].downtime_s >= 1, 'downtime grows while down');
});

t.test('L7: response errors and the session peak of requests', async (t) => {
  // a backend that answers garbage: a response error (502), not a connect failure
  const bad = net.createServer((s) => s.on('data', () => s.end('NOT HTTP\r\n\r\n')));
  await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => bad.close(() => r())));
  const badPort = (bad.address() as net.AddressInfo).port;
  const good = await httpBackend('good');
  t.teardown(() => good.close());
  const lb = await withLb4(t, [
    '--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off',
    '--backend', `127.0.0.1:${badPort},name=bad`, '--backend', `${good.address},name=good`,
  ]);
  const port = lb.ports[0]!;
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await request(port, '/x')).status);
  t.same(statuses.sort(), [200, 200, 502, 502], 'round robin: the bad backend answers 502 twice');
  const s = await until(lb.adminPort!, (s) => s.backends.find((b: Json) => b.name === 'bad').response_errors === 2, 'two response errors');
  const bd = s.backends.find((b: Json) => b.name === 'bad');
  t.equal(bd.failures, 0, 'not connect failures');
  t.equal(bd.max_active, 1, 'one request at a time');
  t.equal(s.backends.find((b: Json) => b.name === 'good').response_errors, 0);
});
