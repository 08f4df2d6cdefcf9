/**
 * Torture 1: many idle connections held at once (10,000 with
 * LB4_TORTURE_SCALE=full, 500 in make test), in three variants: plain L4
 * (the tunnels go to the native relay once idle), L4 terminating TLS, and
 * L7 (HTTP keep-alive, idle between two requests). Each connection does one
 * exchange (a byte echoed, a request answered), then waits; then all close.
 *
 * Checked: every connection is held (or, when the descriptor limit is too
 * low for them, exactly lb4's documented ceiling, `descriptors.max_clients`
 * in /stats, and the rest are closed at once), none is lost while held, the
 * admin API answers throughout (each answer timed), L7 connections still
 * serve a second request after idling, and after the close lb4's descriptor
 * count is back to its baseline and its RSS near it (its reclaimer gives
 * the memory of a spike back: src/reclaim.ts). Reported: RSS per held
 * connection, RSS after the close, the slowest admin answer.
 *
 * The test process holds both ends (clients and backend sockets), so it
 * raises its own descriptor limit first (prlimit on itself; root may go
 * above the hard limit); lb4, spawned after, inherits it and raises its own
 * soft limit to the hard one. Where the limit stays lower (a container's
 * hard limit), it holds as many as the limit allows and says so.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { echoBackend, httpBackend, type TestBackend } from '../helpers/backends.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { withLb4 } from '../helpers/lb4.js';
import { fdCount, raiseOwnNofile, waitUntil, watchAdmin } from '../helpers/edge.js';
import { echoExchange, httpExchange, openFleet, readHttpResponse, type Exchange } from '../helpers/fleet.js';
import { count, kib, mib, report, secs, settledRss, sized, statsOf } from '../helpers/torture.js';

const N = sized(500, 10_000);
const MiB = 1048576;

type Variant = 'plain' | 'tls' | 'l7';

let certs: TestCerts;
t.before(async () => {
  certs = await makeCerts();
});
t.teardown(() => certs?.cleanup());

async function idle(t: Test, variant: Variant): Promise<void> {
  // both ends of every connection live in this process, lb4 needs two descriptors each:
  // where the limit cannot be raised that far (not root, a container's hard limit), fewer
  const limit = raiseOwnNofile(2 * N + 2_000);
  const n = Math.min(N, Math.floor((limit - 1_000) / 2));
  const backend: TestBackend = variant === 'l7' ? await httpBackend('idle') : await echoBackend();
  t.teardown(() => backend.close());
  const args = ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${backend.address},name=b`];
  if (variant === 'tls') args.push('--tls-cert', certs.cert, '--tls-key', certs.key);
  if (variant === 'l7') args.push('--mode', 'l7', '--keepalive-timeout', '10m');
  const lb = await withLb4(t, args, { coverage: false, timeoutMs: 60_000 });
  const pid = lb.proc.pid!;
  const port = lb.ports[0]!;

  const exchange: Exchange = variant === 'l7' ? httpExchange('/first') : echoExchange('x');
  const tlsOpts = variant === 'tls' ? { ca: readFileSync(certs.ca), servername: 'localhost' } : undefined;

  // warm up (JIT, lazily opened parts, an L7 pooled backend connection), then the baseline
  const warm = await openFleet({ port, count: 20, parallel: 20, exchange, tls: tlsOpts });
  await warm.close();
  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'warm-up connections closed');
  const before = await statsOf(lb);
  const ceiling: number = before.descriptors?.max_clients || Infinity;
  const expected = Math.min(n, ceiling);
  const baseFds = fdCount(pid);
  const baseRss = await settledRss(pid, 'baseline RSS');

  const watch = watchAdmin(lb.adminPort!, 200);
  t.teardown(() => watch.stop());
  const t0 = Date.now();
  const fleet = await openFleet({ port, count: n, parallel: variant === 'tls' ? 100 : 200, exchange, tls: tlsOpts, timeoutMs: 60_000 });
  t.teardown(() => fleet.close());
  const openMs = Date.now() - t0;
  t.equal(fleet.failed, 0, `no connect failed${fleet.errors.length ? `: ${fleet.errors.join('; ')}` : ''}`);
  t.equal(fleet.held.size, expected, `${count(expected)} held${expected < n ? ` (the descriptor ceiling: limit ${before.descriptors.limit})` : ''}`);
  t.equal(fleet.turnedAway, n - expected, 'the rest closed at once');

  // all of them open in lb4 too; plain tunnels handed to the native relay once idle
  await waitUntil(async () => (await statsOf(lb)).connections.active === expected, 60_000, `${expected} connections in /stats`);
  if (variant !== 'l7') await backend.waitForConnections(expected, 60_000);
  if (variant === 'plain' && before.relay.mode === 'native') {
    await waitUntil(async () => (await statsOf(lb)).relay.tunnels === expected, 60_000, `${expected} tunnels on the native relay`);
  }
  const heldRss = await settledRss(pid, 'RSS while held');
  const heldFds = fdCount(pid);
  const st = await statsOf(lb);
  t.equal(st.connections.active, expected, 'still all held');
  t.equal(fleet.dropped, 0, 'none lost while held');

  // L7: each connection, idle since its first request, serves a second one
  if (variant === 'l7') {
    const req = Buffer.from('GET /second HTTP/1.1\r\nHost: torture.test\r\n\r\n');
    let ok = 0;
    const socks = [...fleet.held];
    for (let i = 0; i < socks.length; i += 500) {
      await Promise.all(
        socks.slice(i, i + 500).map(async (s) => {
          s.removeAllListeners('data');
          s.write(req);
          const r = await readHttpResponse(s).catch(() => undefined);
          if (r?.status === 200 && r.body.toString() === 'idle') ok++;
          s.on('data', () => {});
        }),
      );
    }
    t.equal(ok, expected, 'every idle keep-alive connection serves a second request');
  }
  const admin = await watch.stop();
  t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers${admin.firstFailure ? `; ${admin.firstFailure}` : ''})`);
  t.ok(admin.maxMs < 10_000, `the slowest /stats answer took ${admin.maxMs.toFixed(0)} ms`);

  // they all close: descriptors and memory go back
  const c0 = Date.now();
  await fleet.close();
  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 60_000, 'every connection closed in lb4');
  // L7 keeps up to 64 idle keep-alive connections per backend
  const slack = variant === 'l7' ? 64 + 4 : 4;
  await waitUntil(() => fdCount(pid) <= baseFds + slack, 60_000, `lb4's descriptors back to ${baseFds} (+${slack})`, () => fdCount(pid));
  const closeMs = Date.now() - c0;
  const afterRss = await settledRss(pid, 'RSS after the close');
  const afterFds = fdCount(pid);
  const grown = heldRss - baseRss;
  t.ok(afterRss <= baseRss + Math.max(32 * MiB, grown * 0.35), `RSS back near the baseline: ${mib(afterRss)} after, ${mib(baseRss)} before, ${mib(heldRss)} held`);
  const end = await statsOf(lb);
  t.equal(end.backends[0].failures, 0, 'no failure counted on the backend');
  t.equal(end.backends[0].state, 'up');

  report(t, {
    scenario: `1${{ plain: 'a', tls: 'b', l7: 'c' }[variant]} idle, ${{ plain: 'plain L4', tls: 'TLS-terminating L4', l7: 'L7 keep-alive' }[variant]}`,
    load: `${count(expected)} held${expected < n ? ` of ${count(n)} (descriptor ceiling)` : ''}${n < N ? ` (of ${count(N)} asked: descriptor limit ${count(limit)} here)` : ''}`,
    figures: {
      opened: `in ${secs(openMs)}`,
      'RSS base/held/after close': `${mib(baseRss)} / ${mib(heldRss)} / ${mib(afterRss)}`,
      'per connection': kib((heldRss - baseRss) / expected),
      'fds base/held/after': `${baseFds} / ${heldFds} / ${afterFds}`,
      'slowest /stats': `${admin.maxMs.toFixed(0)} ms (${admin.answers} answers)`,
      closed: `in ${secs(closeMs)}`,
      'test nofile': String(limit),
    },
  });
}

t.test(`${count(N)} idle connections, plain L4`, (t) => idle(t, 'plain'));
t.test(`${count(N)} idle connections, TLS-terminating L4`, (t) => idle(t, 'tls'));
t.test(`${count(N)} idle keep-alive connections, L7`, (t) => idle(t, 'l7'));
