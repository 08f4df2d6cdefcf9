/**
 * Connect retries (README "Health and failover", `--retries`): a failed connect is retried
 * on another backend and the client sees nothing of it (access log
 * `retries`); with `--retries 0` a client that lands on a dead backend is
 * closed with end `no-backend`.
 */
import t, { type Test } from 'tap';
import { closedPort, namedBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { backendStats, hit } from './_util.js';

async function setup(t: Test, extra: string[]) {
  const alive = await namedBackend('alive');
  t.teardown(() => alive.close());
  const dead = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    // round robin: the first client lands on the dead one
    '--backend', `127.0.0.1:${dead},name=dead`,
    '--backend', `${alive.address},name=alive`,
    // neither active nor passive health takes it out: every client meets it
    '--health-check', 'off',
    '--max-fails', '0',
    '--access-log',
    ...extra,
  ]);
  return { alive, lb, port: lb.ports[0]!, admin: lb.adminPort! };
}

t.test('--retries 0: a client on a dead backend is closed with no-backend', async (t) => {
  const { lb, port, admin } = await setup(t, ['--retries', '0']);
  t.equal(await hit(port), null, 'first client (on dead) is closed');
  const l1 = await lb.waitForLog((l) => l.msg === 'connection', 15_000);
  t.equal(l1.end, 'no-backend');
  t.equal(l1.retries, 0);
  t.equal(l1.backend, null);
  t.equal(l1.bytes_in, 0);
  t.equal(l1.bytes_out, 0);
  t.equal(await hit(port), 'alive', 'second client (on alive) is served');
  const l2 = await lb.waitForLog((l) => l.msg === 'connection' && l.backend === 'alive', 15_000);
  t.equal(l2.retries, 0);
  t.equal(l2.end, 'client-close');
  const d = await backendStats(admin, 'dead');
  t.equal(d.failures, 1);
  t.equal(d.total, 0, 'a failed connect is not in total');
  t.equal(d.state, 'up', 'no health rule took it out');
});

t.test('default retries: served through the other backend, retries 1', async (t) => {
  const { lb, port, admin } = await setup(t, []);
  t.equal(await hit(port), 'alive', 'the client sees nothing of the failed connect');
  const l1 = await lb.waitForLog((l) => l.msg === 'connection', 15_000);
  t.equal(l1.retries, 1);
  t.equal(l1.backend, 'alive');
  t.equal(l1.end, 'client-close');
  t.ok(l1.bytes_out >= 'alive\n'.length);
  const d = await backendStats(admin, 'dead');
  t.equal(d.failures, 1);
  t.equal(d.total, 0);
  const a = await backendStats(admin, 'alive');
  t.equal(a.total, 1);
  t.equal(a.failures, 0);
});

t.test('retries are bounded: every backend dead, first try + --retries attempts', async (t) => {
  const d1 = await closedPort();
  const d2 = await closedPort();
  const d3 = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `127.0.0.1:${d1},name=d1`,
    '--backend', `127.0.0.1:${d2},name=d2`,
    '--backend', `127.0.0.1:${d3},name=d3`,
    '--health-check', 'off',
    '--max-fails', '0',
    '--retries', '4',
    '--access-log',
  ]);
  t.equal(await hit(lb.ports[0]!), null);
  const l = await lb.waitForLog((x) => x.msg === 'connection', 15_000);
  t.equal(l.end, 'no-backend');
  t.equal(l.retries, 4);
  let failures = 0;
  for (const n of ['d1', 'd2', 'd3']) failures += (await backendStats(lb.adminPort!, n)).failures;
  t.equal(failures, 5, 'one connect per try, no more');
});
