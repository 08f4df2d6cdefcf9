/**
 * Torture 2: an EMFILE storm, and recovery. lb4 runs under a descriptor
 * limit of 1,024 (prlimit, soft = hard) and 10,000 clients come at it,
 * 500 connects at a time, each wanting a byte echoed and then holding its
 * connection: far more than it has descriptors for. Then they all leave,
 * and new clients come.
 *
 * In make test this is test/integration/edge/descriptors.test.ts (a storm
 * of 500 under a limit of 256); here only at full scale (make torture).
 *
 * Checked: every client is served or closed at once (none hangs), no more
 * are held than lb4's ceiling (`descriptors.max_clients` in /stats); the
 * admin API answers throughout; afterwards the backends are up with no
 * failure counted, no panic, no "backend down"; lb4's descriptors go back
 * to the baseline; a new client is served (the time from the storm's end
 * to the first client served again is reported).
 */
import t from 'tap';
import { echoBackend } from '../helpers/backends.js';
import { withLb4 } from '../helpers/lb4.js';
import { backendsUntouched, fdCount, raiseOwnNofile, waitUntil, watchAdmin } from '../helpers/edge.js';
import { churn, echoExchange, openFleet } from '../helpers/fleet.js';
import { count, report, SCALE, secs, statsOf } from '../helpers/torture.js';

const LIMIT = 1024;
const STORM = 10_000;

t.test(
  `an EMFILE storm of ${count(STORM)} clients under a limit of ${LIMIT} descriptors, and recovery`,
  { skip: SCALE === 'short' ? 'covered in make test by test/integration/edge/descriptors.test.ts; full size under make torture' : false },
  async (t) => {
    raiseOwnNofile(2 * STORM + 2_000);
    const a = await echoBackend();
    t.teardown(() => a.close());
    const b = await echoBackend();
    t.teardown(() => b.close());
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', a.address, '--backend', b.address, '--health-interval', '500ms'], {
      nofile: LIMIT,
      coverage: false,
      timeoutMs: 60_000,
    });
    const pid = lb.proc.pid!;
    const port = lb.ports[0]!;
    const warm = await churn({ port, count: 50, parallel: 10 });
    t.equal(warm.failed, 0, 'warm-up');
    await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'warm-up closed');
    const before = await statsOf(lb);
    t.equal(before.descriptors?.limit, LIMIT, `/stats shows the limit (${LIMIT})`);
    const ceiling: number = before.descriptors.max_clients;
    const baseFds = fdCount(pid);

    const watch = watchAdmin(lb.adminPort!, 200);
    t.teardown(() => watch.stop());
    const t0 = performance.now();
    const fleet = await openFleet({ port, count: STORM, parallel: 500, exchange: echoExchange('x'), timeoutMs: 60_000 });
    t.teardown(() => fleet.close());
    const stormMs = performance.now() - t0;
    const held = fleet.held.size;
    t.equal(held + fleet.turnedAway + fleet.failed, STORM, `every client accounted for: ${held} held, ${fleet.turnedAway} closed at once, ${fleet.failed} not connected`);
    t.ok(held <= ceiling && held >= ceiling * 0.9, `about the ceiling held (${held} of ${ceiling})`);
    const peakFds = fdCount(pid);
    t.ok(peakFds <= LIMIT, `lb4 stayed within its limit (${peakFds} descriptors)`);

    const c0 = performance.now();
    await fleet.close();
    let recoverMs = 0;
    await waitUntil(
      async () => {
        const r = await churn({ port, count: 1, timeoutMs: 5_000 });
        if (r.ok === 1 && recoverMs === 0) recoverMs = performance.now() - c0;
        return r.ok === 1;
      },
      60_000,
      'a new client served after the storm',
    );
    const admin = await watch.stop();
    t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers${admin.firstFailure ? `; ${admin.firstFailure}` : ''})`);
    await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 60_000, 'the storm closed in lb4');
    const after = await churn({ port, count: 1_000, parallel: 50 });
    t.equal(after.failed, 0, '1,000 new clients served after the storm');
    await waitUntil(() => fdCount(pid) <= baseFds + 2, 30_000, `lb4's descriptors back to ${baseFds}`, () => fdCount(pid));
    await backendsUntouched(t, lb);
    const warnings = lb.logsMatching((l) => l.msg === 'out of file descriptors').length;

    report(t, {
      scenario: '2 EMFILE storm and recovery',
      load: `${count(STORM)} clients holding connections, lb4 limited to ${count(LIMIT)} descriptors`,
      figures: {
        held: `${count(held)} (ceiling ${count(ceiling)})`,
        'closed at once': count(fleet.turnedAway + fleet.failed),
        storm: secs(stormMs),
        'peak fds': String(peakFds),
        'first client served again after': `${Math.round(recoverMs)} ms`,
        'backend failures': '0, no panic',
        'warning lines': String(warnings),
        'slowest /stats': `${admin.maxMs.toFixed(0)} ms (${admin.answers} answers)`,
      },
    });
  },
);
