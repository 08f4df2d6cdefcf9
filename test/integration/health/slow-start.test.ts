/**
 * Slow start through bin/lb4 (docs/reference.md, "Settings"; README "Health and failover"): a backend that comes
 * back up ramps from low to full weight over `--slow-start`, so in the
 * first part of the window it gets clearly less than its share; after the
 * window it gets its full share. Not at process start.
 */
import t from 'tap';
import { namedBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { FAST_CHECKS, count, hit, hits, relisten, sleep, stopServer } from './_util.js';

const WINDOW = 4000; // long enough that a slow machine's early phase stays in its first part

t.test('a returning backend ramps up (weighted-round-robin)', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => stopServer(a));
  t.teardown(() => stopServer(b));
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${a.address},name=a`,
    '--backend', `${b.address},name=b`,
    '--strategy', 'weighted-round-robin',
    '--slow-start', `${WINDOW}ms`,
    ...FAST_CHECKS,
    '--max-fails', '0',
  ]);
  const port = lb.ports[0]!;

  // at process start: no ramp, an even split at once
  const start = await hits(port, 20);
  t.equal(count(start, 'b'), 10, `even split at start: ${start.join('')}`);

  await b.close();
  await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'b', 15_000);
  const since = lb.logs.length;
  await relisten(b);
  const up = await lb.waitForLog((l) => l.msg === 'backend up' && l.backend === 'b', 15_000, since);
  const upAt = Date.now();
  t.comment(`b up ${upAt - up.time} ms before the test saw the log line`);

  // ~60 sequential connections over about the first second of the window
  const early: Array<string | null> = [];
  for (let i = 0; i < 60; i++) {
    const due = upAt + (i * 1000) / 60;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    early.push(await hit(port));
  }
  const earlyEnd = Date.now() - up.time;
  const share = count(early, 'b') / early.length;
  t.comment(`during the first ${earlyEnd} ms of the ${WINDOW} ms window b got ${count(early, 'b')}/${early.length} (${(share * 100).toFixed(0)}%)`);
  t.equal(count(early, null), 0, 'every client served');
  t.ok(count(early, 'b') >= 1, 'b does get some traffic while ramping');
  t.ok(share < 0.35, `clearly less than half while ramping (${(share * 100).toFixed(0)}%)`);
  if (earlyEnd > WINDOW) t.comment('warning: the machine was slow; the early phase overran the window');

  // after the window: about half
  const left = up.time + WINDOW + 200 - Date.now();
  if (left > 0) await sleep(left);
  const late = await hits(port, 40);
  const lateShare = count(late, 'b') / late.length;
  t.comment(`after the window b got ${count(late, 'b')}/${late.length}`);
  t.ok(lateShare >= 0.4 && lateShare <= 0.6, `about half after the window (${(lateShare * 100).toFixed(0)}%)`);
});
