/**
 * Per-backend connection cap and the wait queue (docs/reference.md, "Settings"; README "Health and failover"):
 * with every up backend full, a client waits (accepted by lb4, nothing
 * reaches a backend) and is served as soon as a slot frees, oldest first;
 * `--queue-timeout` closes a waiting client (end `queue-timeout`);
 * `--max-queue 0` closes it at once (end `queue-full`).
 */
import t, { type Test } from 'tap';
import { namedBackend, type NamedBackend } from '../../helpers/backends.js';
import { connect, type TestSocket } from '../../helpers/clients.js';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { statsUntil } from '../../helpers/ops.js';
import { sleep } from './_util.js';

/** lb4 has `n` clients waiting in its queue (an event seen through /stats, not a delay). */
async function queued(lb: Lb4Process, n: number): Promise<void> {
  await statsUntil(lb.adminPort!, (s) => s.pool.queued === n, 15_000, `${n} client(s) queued`);
}

async function setup(t: Test, extra: string[]): Promise<{ a: NamedBackend; b: NamedBackend; lb: Lb4Process; port: number }> {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${a.address},name=a`,
    '--backend', `${b.address},name=b`,
    '--backend-max-conns', '1',
    // no active checks: a check is a connection the backends would count
    '--health-check', 'off',
    '--access-log',
    '--admin', '127.0.0.1:0',
    ...extra,
  ]);
  return { a, b, lb, port: lb.ports[0]! };
}

/** Two clients holding a tunnel each (a and b are now full). */
async function fill(t: Test, port: number): Promise<[TestSocket, TestSocket]> {
  const c1 = await connect(port);
  const c2 = await connect(port);
  t.teardown(() => c1.destroy());
  t.teardown(() => c2.destroy());
  t.same([await c1.readLine(), await c2.readLine()].sort(), ['a', 'b'], 'both backends hold one tunnel');
  return [c1, c2];
}

t.test('a third client waits, then is served when a slot frees', async (t) => {
  const { a, b, lb, port } = await setup(t, []);
  const [c1] = await fill(t, port);
  const firstName = 'a'; // round robin: the first client got a

  const c3 = await connect(port); // accepted by lb4
  t.teardown(() => c3.destroy());
  c3.write('hello\n');
  await queued(lb, 1);
  await sleep(300); // an observation window: nothing reaches a backend while it waits
  t.equal(a.accepted, 1, 'nothing more reached a');
  t.equal(b.accepted, 1, 'nothing more reached b');
  t.equal(c3.buffered().length, 0, 'the waiting client got nothing yet');
  t.equal(c3.destroyed, false, 'still open');

  const freed = Date.now();
  c1.end();
  t.equal(await c3.readLine(), firstName, 'served by the backend that freed');
  t.comment(`served ${Date.now() - freed} ms after the slot freed`);
  t.equal(await c3.readLine(), 'hello', 'its early bytes were kept and echo');
  c3.write('more\n');
  t.equal(await c3.readLine(), 'more');
  c3.end();
  await c3.waitClose();
  const log = await lb.waitForLog((l) => l.msg === 'connection' && l.backend === firstName && l.bytes_in === 11, 15_000);
  t.equal(log.end, 'client-close');
  t.equal(log.retries, 0);
});

t.test('queued clients are served oldest first; one that leaves loses its place', async (t) => {
  const { lb, port } = await setup(t, []);
  const [c1, c2] = await fill(t, port);
  const w1 = await connect(port);
  t.teardown(() => w1.destroy());
  await queued(lb, 1);
  const w2 = await connect(port);
  t.teardown(() => w2.destroy());
  await queued(lb, 2);
  const w3 = await connect(port);
  t.teardown(() => w3.destroy());
  await queued(lb, 3);
  // w2 gives up while waiting. A reset, not a FIN: a FIN may be a TCP
  // half-close (request sent, reply awaited), so lb4 keeps such a client
  // queued, as HAProxy does without abortonclose.
  w2.resetAndDestroy();
  const gone = await lb.waitForLog((l) => l.msg === 'connection' && l.backend === null, 15_000);
  t.equal(gone.end, 'client-error', 'the reset client left the queue');
  c1.end();
  t.equal(await w1.readLine(), 'a', 'the oldest waiting client first');
  c2.end();
  t.equal(await w3.readLine(), 'b', 'then the next one still waiting');
});

t.test('--queue-timeout closes a waiting client', async (t) => {
  const { a, b, lb, port } = await setup(t, ['--queue-timeout', '300ms']);
  await fill(t, port);
  const c3 = await connect(port);
  const t0 = Date.now();
  await c3.waitClose(15_000);
  const waited = Date.now() - t0;
  t.comment(`closed after ${waited} ms in the queue`);
  t.ok(waited >= 250, `waited about the queue timeout (${waited} ms)`);
  t.ok(waited < 10_000, 'closed by the queue timeout');
  const log = await lb.waitForLog((l) => l.msg === 'connection' && l.end === 'queue-timeout', 15_000);
  t.equal(log.backend, null);
  t.equal(log.bytes_in, 0);
  t.ok(log.duration_ms >= 250);
  t.equal(a.accepted + b.accepted, 2, 'it never reached a backend');
});

t.test('--max-queue 0: no waiting, closed at once', async (t) => {
  // a long queue timeout, so that "at once" cannot be mistaken for it
  const { a, b, lb, port } = await setup(t, ['--max-queue', '0', '--queue-timeout', '60s']);
  await fill(t, port);
  const c3 = await connect(port);
  const t0 = Date.now();
  await c3.waitClose(15_000);
  t.ok(Date.now() - t0 < 10_000, 'closed at once, not after the queue timeout');
  const log = await lb.waitForLog((l) => l.msg === 'connection' && l.end === 'queue-full', 15_000);
  t.equal(log.backend, null);
  t.equal(a.accepted + b.accepted, 2);
});

t.test('--max-queue 1: the second waiting client is closed with queue-full', async (t) => {
  const { lb, port } = await setup(t, ['--max-queue', '1']);
  const [c1] = await fill(t, port);
  const w1 = await connect(port);
  t.teardown(() => w1.destroy());
  await queued(lb, 1);
  const w2 = await connect(port);
  await w2.waitClose(15_000);
  await lb.waitForLog((l) => l.msg === 'connection' && l.end === 'queue-full', 15_000);
  c1.end();
  t.equal(await w1.readLine(), 'a', 'the one in the queue is still served');
});
