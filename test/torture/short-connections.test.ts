/**
 * Torture 4: a hundred thousand short connections (LB4_TORTURE_SCALE=full;
 * 2,000 in make test) through lb4 in plain L4 mode, 200 at a time: each
 * connects, has a byte echoed by the backend, ends and waits for lb4's
 * close, in four rounds. After a warm-up (JIT, lazily opened parts),
 * lb4's descriptors and RSS are read, settled, before and after each round.
 *
 * Checked: every connection succeeded; lb4's descriptors are back to the
 * baseline; its RSS after the last round is within a small slack of its RSS
 * after the first (the heap grows to its working size in the first round,
 * then stays: a leak of 300 bytes per connection would add 22 MB over the
 * last three rounds at full scale); /stats counts
 * them all and none is left open; the admin API answered throughout; no
 * failure counted on the backend. Reported: connections per second, the
 * descriptors and RSS before and after.
 */
import t from 'tap';
import { echoBackend } from '../helpers/backends.js';
import { withLb4 } from '../helpers/lb4.js';
import { fdCount, raiseOwnNofile, waitUntil, watchAdmin } from '../helpers/edge.js';
import { churn } from '../helpers/fleet.js';
import { count, mib, report, secs, settledRss, sized, statsOf } from '../helpers/torture.js';

const N = sized(2_000, 100_000);
const WARM = sized(500, 10_000);
const PARALLEL = 200;
const MiB = 1048576;
// client source addresses: more ports to connect from (the closing side keeps TIME_WAIT)
const SOURCES = Array.from({ length: 16 }, (_, i) => `127.0.0.${10 + i}`);

t.test(`${count(N)} short connections, ${PARALLEL} at a time: no descriptor or RSS growth`, async (t) => {
  raiseOwnNofile(4 * PARALLEL + 2_000);
  const backend = await echoBackend();
  t.teardown(() => backend.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${backend.address},name=echo`], { coverage: false, timeoutMs: 60_000 });
  const pid = lb.proc.pid!;
  const port = lb.ports[0]!;

  const warm = await churn({ port, count: WARM, parallel: PARALLEL, sources: SOURCES });
  t.equal(warm.failed, 0, `warm-up: ${count(WARM)} connections${warm.errors.length ? `: ${warm.errors.join('; ')}` : ''}`);
  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'warm-up closed');
  const before = await statsOf(lb);
  const baseFds = fdCount(pid);
  const baseRss = await settledRss(pid, 'baseline RSS');

  const watch = watchAdmin(lb.adminPort!, 250);
  t.teardown(() => watch.stop());
  const rounds: number[] = [];
  const r = { ok: 0, failed: 0, errors: [] as string[], ms: 0 };
  for (let i = 0; i < 4; i++) {
    const x = await churn({ port, count: N / 4, parallel: PARALLEL, sources: SOURCES });
    r.ok += x.ok;
    r.failed += x.failed;
    r.errors.push(...x.errors.slice(0, 2));
    r.ms += x.ms;
    await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, `round ${i + 1} closed`);
    rounds.push(await settledRss(pid, `RSS after round ${i + 1}`));
  }
  const admin = await watch.stop();
  t.equal(r.failed, 0, `every connection echoed and closed (${count(r.ok)} ok)${r.errors.length ? `: ${r.errors.join('; ')}` : ''}`);
  t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers${admin.firstFailure ? `; ${admin.firstFailure}` : ''})`);

  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'every connection closed in lb4');
  const after = await statsOf(lb);
  t.equal(after.connections.total - before.connections.total, N, `/stats counted ${count(N)} more connections`);
  await waitUntil(() => fdCount(pid) <= baseFds + 2, 30_000, `lb4's descriptors back to ${baseFds}`, () => fdCount(pid));
  const afterFds = fdCount(pid);
  const afterRss = rounds[3]!;
  const slack = 24 * MiB;
  t.ok(afterRss <= rounds[0]! + slack, `RSS did not keep growing: ${rounds.map(mib).join(', ')} after each round (slack ${mib(slack)}; ${mib(baseRss)} before)`);
  t.equal(after.backends[0].failures, 0, 'no failure counted on the backend');

  report(t, {
    scenario: '4 short connections, plain L4',
    load: `${count(N)} connections, ${PARALLEL} at a time, a byte echoed each`,
    figures: {
      rate: `${count(Math.round(N / (r.ms / 1000)))} conn/s (${secs(r.ms)})`,
      'fds before/after': `${baseFds} / ${afterFds}`,
      'RSS before / after each round': `${mib(baseRss)} / ${rounds.map(mib).join(', ')}`,
      'slowest /stats': `${admin.maxMs.toFixed(0)} ms`,
    },
  });
});
