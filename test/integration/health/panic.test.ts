/**
 * Panic mode (docs/reference.md; README "Health and failover"): with no backend up but some down, the
 * strategy picks among the down ones and lb4 still tries them; `panic` and
 * `panic over` are logged with the pool name at the state changes; /health
 * answers 503 `down` meanwhile.
 */
import t from 'tap';
import { namedBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';
import { backendStats, hit, hits, relisten, stopServer } from './_util.js';

t.test('all backends down: panic, still tried, panic over', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => stopServer(a));
  t.teardown(() => stopServer(b));
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${a.address},name=a`,
    '--backend', `${b.address},name=b`,
    '--health-interval', '100ms',
    '--health-timeout', '200ms',
    '--fall', '1',
    // slow to rise (about 1 s), so a client can get through a returning
    // backend before the checks notice it
    '--rise', '10',
    '--access-log',
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;
  t.same(await hits(port, 2), ['a', 'b']);
  t.same((await getJson(admin, '/health')).json, { status: 'ok', up: 2, total: 2 });

  const since = lb.logs.length;
  await a.close();
  await b.close();
  const panic = await lb.waitForLog((l) => l.msg === 'panic', 15_000, since);
  t.equal(panic.pool, 'default');
  t.equal(panic.level, 40, 'a warning');
  const downs = lb.logsMatching((l) => l.msg === 'backend down');
  t.equal(downs.length, 2, 'both down before panic');
  t.ok(
    lb.logs.indexOf(panic) > Math.max(...downs.map((l) => lb.logs.indexOf(l))),
    'panic is logged at the change itself: right after the last backend down',
  );
  const health = await getJson(admin, '/health');
  t.equal(health.status, 503);
  t.same(health.json, { status: 'down', up: 0, total: 2 });
  const stats = await getJson(admin, '/stats');
  t.same(stats.json.backends.map((x: { state: string }) => x.state), ['down', 'down']);
  t.equal(stats.json.pool?.panic, true);

  // clients are still tried against the down backends (and fail: nothing listens)
  const failuresBefore = (await backendStats(admin, 'a')).failures + (await backendStats(admin, 'b')).failures;
  t.equal(await hit(port), null, 'nothing listens: the client is closed');
  const failuresAfter = (await backendStats(admin, 'a')).failures + (await backendStats(admin, 'b')).failures;
  t.ok(failuresAfter > failuresBefore, `connects were attempted (${failuresAfter - failuresBefore})`);
  const noBackend = await lb.waitForLog((l) => l.msg === 'connection' && l.end === 'no-backend', 15_000, since);
  t.equal(noBackend.retries, 2, 'first try + 2 retries, among the down ones');

  // b listens again: before the checks notice (rise 10), a client gets through it
  await relisten(b);
  const t0 = Date.now();
  const got = await hit(port);
  const noticed = lb.logsMatching((l) => l.msg === 'backend up').length > 0;
  t.equal(got, 'b', 'panic mode picked among the down ones and reached b');
  t.notOk(noticed, `the checks had not noticed yet (${Date.now() - t0} ms after b came back)`);
  t.equal((await backendStats(admin, 'b')).state, 'down', 'still down by health');

  // then the checks bring b up: panic over
  const since2 = lb.logs.length;
  const up = await lb.waitForLog((l) => l.msg === 'backend up' && l.backend === 'b', 15_000, since2);
  const over = await lb.waitForLog((l) => l.msg === 'panic over', 15_000, since2);
  t.equal(over.pool, 'default');
  t.ok(lb.logs.indexOf(over) > lb.logs.indexOf(up), 'panic over follows backend up');
  t.same((await getJson(admin, '/health')).json, { status: 'ok', up: 1, total: 2 });
  t.same(await hits(port, 3), ['b', 'b', 'b'], 'only b now (a is down and not in panic)');
  t.equal(lb.logsMatching((l) => l.msg === 'panic').length, 1);
  t.equal(lb.logsMatching((l) => l.msg === 'panic over').length, 1);
  t.equal((await getJson(admin, '/stats')).json.pool?.panic, false);
});
