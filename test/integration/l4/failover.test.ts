/**
 * Connect failures (README "Health and failover"): a dead backend among three. Every
 * client still reaches a live backend (retries on another one), the dead
 * one's failures are counted and its total stays 0, the access log shows the
 * retries, and with nothing alive at all the client is closed (`no-backend`).
 */
import t from 'tap';
import { closedPort, namedBackend } from '../../helpers/backends.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';
import { nameOf, tracked, waitAccess } from '../../helpers/l4-e2e.js';

t.test('one dead backend among three: 30 connections all succeed', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const c = await namedBackend('c');
  t.teardown(() => c.close());
  const dead = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--access-log',
    '--backend', `${a.address},name=a`,
    '--backend', `127.0.0.1:${dead},name=dead`,
    '--backend', `${c.address},name=c`,
  ]);
  const got: string[] = [];
  for (let i = 0; i < 30; i++) got.push(await nameOf(lb.ports[0]!));
  t.equal(got.length, 30);
  t.same([...new Set(got)].sort(), ['a', 'c'], 'every connection got a live backend');

  const lines = await waitAccess(lb, 30);
  t.equal(lines.length, 30, 'one access line per connection');
  t.ok(lines.every((l) => l.backend === 'a' || l.backend === 'c'), 'access log names only live backends');
  t.ok(lines.every((l) => l.end === 'client-close'));
  const retried = lines.filter((l) => l.retries >= 1);
  t.ok(retried.length >= 1, `some connections were retried (${retried.length})`);
  t.ok(lines.every((l) => l.retries <= 1), 'one retry is always enough with one dead backend');

  const stats = (await getJson(lb.adminPort!, '/stats')).json;
  const byName = Object.fromEntries(stats.backends.map((b: { name: string }) => [b.name, b]));
  t.ok(byName.dead.failures > 0, `dead backend failures counted (${byName.dead.failures})`);
  t.equal(byName.dead.failures, retried.length, 'one failure per retried connection');
  t.equal(byName.dead.total, 0, 'failed connects are not in total');
  t.equal(byName.dead.last_used, null, 'never used');
  t.equal(byName.a.total + byName.c.total, 30);
  t.equal(byName.a.failures, 0);
  t.equal(byName.c.failures, 0);
  t.equal(stats.connections.total, 30);
  t.equal(stats.connections.active, 0);
});

t.test('every backend dead: the client is closed, logged no-backend', async (t) => {
  const p1 = await closedPort();
  const p2 = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--access-log',
    '--health-check', 'off',
    '--backend', `127.0.0.1:${p1},name=d1`,
    '--backend', `127.0.0.1:${p2},name=d2`,
  ]);
  const s = await tracked(t, lb.ports[0]!);
  s.on('error', () => {});
  await s.waitClose();
  t.equal(s.bytesRead, 0, 'nothing received');
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.end, 'no-backend');
  t.equal(l!.backend, null);
  t.equal(l!.retries, 2, 'the default --retries 2 were all used');
  t.equal(lb.hasExited, false);
});

t.test('giving up on a client is logged without --access-log, rate-limited', async (t) => {
  const p1 = await closedPort();
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--max-fails', '0', '--backend', `127.0.0.1:${p1},name=d1`]);
  for (let i = 0; i < 5; i++) {
    const s = await tracked(t, lb.ports[0]!);
    s.on('error', () => {});
    await s.waitClose();
  }
  const w = await lb.waitForLog((l) => l.msg === 'no backend available');
  t.equal(w.level, 40, 'a warning');
  t.match(w.client, /^127\.0\.0\.1:\d+$/);
  t.equal(w.retries, 0, 'one backend: nothing else to retry on');
  t.equal(lb.logsMatching((l) => l.msg === 'no backend available').length, 1, 'five in a burst give one line');
  t.equal(lb.logsMatching((l) => l.msg === 'connection').length, 0, 'no access log without --access-log');
});
