/**
 * Torture 5: many large transfers at once, every byte checked. 200
 * concurrent transfers of 1–8 MiB with LB4_TORTURE_SCALE=full (16 of
 * 1–2 MiB in make test), sizes drawn from a seeded PRNG, each sent through
 * lb4 (plain L4) to an echo backend and read back with backpressure
 * (startTransfer in test/helpers/l4-e2e.ts), once on each relay path: the
 * native relay (the tunnels handed over to its epoll thread) and the
 * JavaScript tunnel (`LB4_RELAY=js`).
 *
 * Checked: every transfer ends cleanly with the sha256 of what came back
 * equal to that of what was sent, and the backend received exactly the
 * bytes sent; the native path really ran on the native relay; the admin
 * API answered throughout; no failure counted on the backend; lb4's
 * descriptors back to the baseline afterwards. Reported: MiB moved, time,
 * throughput (both directions), the slowest transfer, lb4's peak RSS.
 */
import t, { type Test } from 'tap';
import { echoBackend } from '../helpers/backends.js';
import { withLb4 } from '../helpers/lb4.js';
import { rssBytes, startTransfer, within, type TransferEnd } from '../helpers/l4-e2e.js';
import { prng } from '../helpers/random.js';
import { fdCount, waitUntil, watchAdmin } from '../helpers/edge.js';
import { count, mib, report, secs, sized, statsOf } from '../helpers/torture.js';

const N = sized(16, 200);
const MiB = 1048576;
const MAX_MIB = sized(2, 8);

async function transfers(t: Test, relay: 'native' | 'js'): Promise<void> {
  const backend = await echoBackend();
  t.teardown(() => backend.close());
  const env: Record<string, string> = relay === 'js' ? { LB4_RELAY: 'js' } : {};
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${backend.address},name=echo`], { env, coverage: false, timeoutMs: 60_000 });
  const pid = lb.proc.pid!;
  const port = lb.ports[0]!;
  const before = await statsOf(lb);
  if (relay === 'js') t.equal(before.relay.mode, 'js', 'LB4_RELAY=js: every tunnel in JavaScript');
  else if (before.relay.mode !== 'native') t.comment(`no native relay here (${before.relay.reason}): the native path is not exercised`);

  // a warm-up transfer (the relay thread starts with the first tunnel), then the baseline
  const warm = await within(startTransfer(port, MiB, () => 64 * 1024).done, 60_000, 'warm-up transfer');
  t.equal(warm.how, 'end', 'warm-up transfer');
  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'warm-up closed');
  const baseFds = fdCount(pid);
  const relayedBefore: number = (await statsOf(lb)).relay.total ?? 0;
  const bytesBefore = backend.bytesReceived;

  const rnd = prng(0x7a5f3 + (relay === 'js' ? 1 : 0));
  const sizes = Array.from({ length: N }, () => MiB + Math.floor(rnd() * (MAX_MIB - 1) * MiB));
  const total = sizes.reduce((a, b) => a + b, 0);
  const watch = watchAdmin(lb.adminPort!, 250);
  t.teardown(() => watch.stop());
  let peakRss = rssBytes(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 100);
  t.teardown(() => clearInterval(sampler));
  const t0 = performance.now();
  const xs = sizes.map((size, i) => startTransfer(port, size, (sent) => 1 + ((sent * 7 + i * 4099) % (192 * 1024))));
  t.teardown(() => xs.forEach((x) => x.socket.destroy()));
  let relayed = 0;
  const ends: TransferEnd[] = await within(Promise.all(xs.map((x) => x.done)), sized(60_000, 600_000), `${N} transfers`);
  const ms = performance.now() - t0;
  clearInterval(sampler);
  const admin = await watch.stop();

  const bad = ends.map((e, i) => ({ e, i })).filter(({ e, i }) => e.how !== 'end' || e.sent !== sizes[i] || e.received !== sizes[i] || e.sentSha256 !== e.receivedSha256);
  t.equal(bad.length, 0, `every transfer came back whole, sha256 equal${bad.length ? `: ${bad.slice(0, 3).map(({ e, i }) => `#${i} ${e.how}${e.code ? ` ${e.code}` : ''} ${e.received}/${sizes[i]}`).join('; ')}` : ''}`);
  t.equal(backend.bytesReceived - bytesBefore, total, `the backend received exactly the ${count(total)} bytes sent`);
  t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers${admin.firstFailure ? `; ${admin.firstFailure}` : ''})`);

  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'every tunnel closed in lb4');
  await waitUntil(() => fdCount(pid) <= baseFds + 2, 30_000, `lb4's descriptors back to ${baseFds}`, () => fdCount(pid));
  const end = await statsOf(lb);
  if (relay === 'native' && before.relay.mode === 'native') {
    relayed = end.relay.total - relayedBefore;
    t.ok(relayed > 0, `${relayed} of the ${N} tunnels ran on the native relay`);
  }
  t.equal(end.backends[0].failures, 0, 'no failure counted on the backend');
  t.equal(end.backends[0].state, 'up', 'the backend is up');

  const slowest = Math.max(...ends.map((e) => e.ms));
  report(t, {
    scenario: `5${relay === 'native' ? 'a' : 'b'} transfers, ${relay === 'native' ? 'native relay' : 'JavaScript tunnel (LB4_RELAY=js)'}`,
    load: `${count(N)} at once, ${1}–${MAX_MIB} MiB each`,
    figures: {
      moved: `${mib(total)} each way, 0 bytes wrong`,
      time: secs(ms),
      throughput: `${((2 * total) / MiB / (ms / 1000)).toFixed(0)} MiB/s (both directions)`,
      'slowest transfer': secs(slowest),
      'on the native relay': relay === 'native' ? `${relayed} of ${N}` : '—',
      'lb4 peak RSS': mib(peakRss),
      'slowest /stats': `${admin.maxMs.toFixed(0)} ms`,
    },
  });
}

t.test(`${count(N)} concurrent transfers of 1–${MAX_MIB} MiB, native relay`, (t) => transfers(t, 'native'));
t.test(`${count(N)} concurrent transfers of 1–${MAX_MIB} MiB, JavaScript tunnel`, (t) => transfers(t, 'js'));
