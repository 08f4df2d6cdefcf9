/**
 * Active TCP checks through bin/lb4 (docs/reference.md; README "Health and failover"): a backend that
 * stops listening is marked down after `--fall` failed checks, clients keep
 * being served meanwhile (a failed connect is retried on the other backend),
 * and once it listens again on the same port it is up after `--rise` good
 * checks and gets traffic again. Real detection and recovery times are
 * printed with t.comment.
 */
import t from 'tap';
import { httpBackend, namedBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';
import { FAST_CHECKS, backendStats, count, hit, hits, relisten, sleep, stopServer } from './_util.js';

const INTERVAL = 100;
const TIMEOUT = 200;
const RISE = 2;
const FALL = 2;
/** Slack for a loaded machine (2 CPUs, other test files running in parallel). */
const SLACK = 4000;

t.test('tcp check: down when it stops listening, up when it listens again', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => stopServer(a));
  t.teardown(() => stopServer(b));
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${a.address},name=a`,
    '--backend', `${b.address},name=b`,
    ...FAST_CHECKS,
    // passive ejection off: this test is about the active checks
    '--max-fails', '0',
    '--access-log',
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;

  // both get traffic at first (round robin)
  const first = await hits(port, 4);
  t.equal(count(first, 'a'), 2, `a served: ${first.join(' ')}`);
  t.equal(count(first, 'b'), 2);
  // both have been checked (a check is a connect to the backend)
  await a.waitForAccepted(3);
  await b.waitForAccepted(3);

  // ---- outage
  const since = lb.logs.length;
  await a.close();
  const t0 = performance.now();
  let downAt = 0;
  const down = lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'a', FALL * INTERVAL * 1.1 + TIMEOUT + SLACK * 3, since).then((l) => {
    downAt = performance.now();
    return l;
  });
  down.catch(() => {});
  const during: Array<string | null> = [];
  while (downAt === 0 && performance.now() - t0 < 10_000) {
    during.push(await hit(port));
    await sleep(15);
  }
  const line = await down;
  const detection = downAt - t0;
  t.comment(`detection time: ${detection.toFixed(0)} ms (fall ${FALL} x interval ${INTERVAL} ms, timeout ${TIMEOUT} ms)`);
  t.match(line.reason, /^connect ECONNREFUSED/, `reason: ${line.reason}`);
  t.equal(line.level, 40, 'logged as a warning');
  t.ok(detection <= FALL * INTERVAL * 1.1 + TIMEOUT + SLACK, `detected within fall x interval + timeout + slack (${detection.toFixed(0)} ms)`);
  t.ok(detection >= (FALL - 1) * INTERVAL * 0.9, 'not before fall checks could have run');
  const st = await backendStats(admin, 'a');
  t.equal(st.state, 'down', '/stats says down');
  const health = await getJson(admin, '/health');
  t.equal(health.status, 200);
  t.same(health.json, { status: 'ok', up: 1, total: 2 });

  // more clients while it is down: all go to b, with no retry needed
  for (let i = 0; i < 4; i++) during.push(await hit(port));
  t.ok(during.length >= 5, `${during.length} connections during the outage`);
  t.equal(count(during, 'b'), during.length, `every connection during the outage was served by b: ${during.join(' ')}`);
  // the access log lines of every connection so far (they follow the close)
  const total = first.length + during.length;
  await lb.waitForLog(() => lb.logsMatching((l) => l.msg === 'connection').length >= total, 15_000);
  const conns = lb.logsMatching((l) => l.msg === 'connection').slice(first.length);
  t.equal(conns.length, during.length, 'one access log line per outage connection');
  t.ok(conns.every((l) => l.backend === 'b' && l.end === 'client-close'), 'every one ended normally on b');
  const retried = conns.filter((l) => l.retries === 1).length;
  t.ok(retried >= 1, `some landed on a before detection and were retried on b (${retried})`);
  t.ok(conns.every((l) => l.retries <= 1));
  t.ok((await backendStats(admin, 'a')).failures >= retried, 'failed connects counted in failures');
  t.equal((await backendStats(admin, 'a')).total, 2, 'failed connects are not in total');

  // ---- recovery on the same port
  const since2 = lb.logs.length;
  await relisten(a);
  const t1 = performance.now();
  const upLine = await lb.waitForLog((l) => l.msg === 'backend up' && l.backend === 'a', RISE * INTERVAL * 1.1 + TIMEOUT + SLACK * 3, since2);
  const recovery = performance.now() - t1;
  t.comment(`recovery time: ${recovery.toFixed(0)} ms (rise ${RISE} x interval ${INTERVAL} ms)`);
  t.ok(recovery <= RISE * INTERVAL * 1.1 + SLACK, `up within rise x interval + slack (${recovery.toFixed(0)} ms)`);
  t.ok(recovery >= (RISE - 1) * INTERVAL * 0.9, 'not before rise checks could have run');
  t.type(upLine.reason, 'string');
  t.equal((await backendStats(admin, 'a')).state, 'up');
  const after = await hits(port, 6);
  t.equal(count(after, 'a'), 3, `a gets traffic again: ${after.join(' ')}`);
  t.equal(count(after, 'b'), 3);
  t.equal(lb.logsMatching((l) => l.msg === 'backend down' && l.backend === 'b').length, 0, 'b never went down');
  t.equal(lb.logsMatching((l) => l.msg === 'panic').length, 0, 'no panic: b stayed up');
});

t.test('check timeout: a backend that never answers goes down with reason timeout', async (t) => {
  // An HTTP probe against a backend that accepts but never answers: the
  // check fails when --health-timeout runs out.
  const slow = await httpBackend('slow', { handler: () => {} }); // never answers
  const ok = await namedBackend('ok');
  t.teardown(() => slow.close());
  t.teardown(() => ok.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${slow.address},name=slow`,
    '--backend', `${ok.address},name=ok`,
    '--health-check', 'http:/',
    ...FAST_CHECKS,
  ]);
  const line = await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'slow', 15_000);
  t.equal(line.reason, `timeout ${TIMEOUT}ms`);
});
