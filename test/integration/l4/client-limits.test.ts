/**
 * Per-client limits in L4 through bin/lb4 (README "Per-client limits"):
 * --client-max-conns and --client-rate per client IP, with clients on
 * distinct loopback source addresses (127.x.y.z bound as the socket's local
 * address); refusals close the connection with end `client-limit` and are
 * counted in /stats `clients` and /metrics.
 */
import net from 'node:net';
import t from 'tap';
import { namedBackend } from '../../helpers/backends.js';
import { attachHelpers, type TestSocket } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';
import { waitAccess, type Host } from '../../helpers/l4-e2e.js';
import { stats } from '../../helpers/ops.js';

/**
 * Connect from `localAddress`; resolves with the socket once the backend's
 * name line arrived (admitted), or null once lb4 closed it without a byte
 * (refused).
 */
async function attempt(t: Host, port: number, localAddress: string): Promise<TestSocket | null> {
  const s = attachHelpers(net.connect({ port, host: '127.0.0.1', localAddress }));
  t.teardown(() => s.destroy());
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  try {
    await s.readLine(5000);
    return s;
  } catch {
    await s.waitClose(5000);
    return null;
  }
}

t.test('--client-max-conns: a client IP holds at most N connections; others are unaffected', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--client-max-conns', '2', '--backend', `${a.address},name=a`]);
  const port = lb.ports[0]!;
  const c1 = await attempt(t, port, '127.0.0.2');
  const c2 = await attempt(t, port, '127.0.0.2');
  t.ok(c1 && c2, 'two connections from 127.0.0.2');
  t.equal(await attempt(t, port, '127.0.0.2'), null, 'the third is closed');
  const lines = await waitAccess(lb, 1);
  t.match(lines[0], { end: 'client-limit', client_ip: '127.0.0.2', backend: null });
  t.ok(await attempt(t, port, '127.0.0.3'), 'another client IP still gets in');

  // giving one back makes room
  c1!.end();
  await c1!.waitClose();
  await waitAccess(lb, 2);
  t.ok(await attempt(t, port, '127.0.0.2'), 'room again after one closed');

  const s = await stats(lb.adminPort!);
  t.same(s.clients, { tracked: 2, limited: 1 }, '/stats clients');
  t.equal(s.ends['client-limit'], 1);
  const m = await getJson(lb.adminPort!, '/metrics');
  t.match(m.body, /^lb4_clients_limited_total 1$/m);
  t.match(m.body, /^lb4_clients_tracked 2$/m);
  t.match(m.body, /^lb4_connection_ends_total\{end="client-limit"\} 1$/m);
});

t.test('--client-rate: new connections per second per client IP, sliding window', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--client-rate', '5', '--backend', `${a.address},name=a`]);
  const port = lb.ports[0]!;
  const started = Date.now();
  let admitted = 0;
  let refused = 0;
  // 12 connections, one after the other, as fast as they go (well within a second on an idle machine)
  for (let i = 0; i < 12; i++) {
    const s = await attempt(t, port, '127.0.0.4');
    if (s === null) refused++;
    else {
      admitted++;
      s.destroy();
    }
  }
  const took = Date.now() - started;
  // a fresh client gets a burst of 5; on a slow machine the window may slide further
  const allowance = 5 + Math.ceil((took / 1000) * 5);
  t.ok(admitted >= 5 && admitted <= allowance, `admitted ${admitted} of 12 in ${took} ms (at most ${allowance})`);
  t.equal(admitted + refused, 12);
  t.ok(await attempt(t, port, '127.0.0.5'), 'another client IP is not limited');
  const s = await stats(lb.adminPort!);
  t.equal(s.clients.limited, refused, 'every refusal counted');
  t.equal(s.clients.tracked, 2);
});

t.test('limits off (the default): no table, nothing limited', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--backend', `${a.address},name=a`]);
  const held: TestSocket[] = [];
  for (let i = 0; i < 5; i++) held.push((await attempt(t, lb.ports[0]!, '127.0.0.6'))!);
  t.equal(held.filter((s) => s !== null).length, 5);
  const s = await stats(lb.adminPort!);
  t.same(s.clients, { tracked: 0, limited: 0 });
});
