/**
 * Torture 6: backends that fail in the middle of transfers, on both relay
 * paths (the native relay and the JavaScript tunnel, `LB4_RELAY=js`).
 *
 * - reset and stalled: one echo backend whose connections each behave as
 *   their first byte says: `E` echo to the end, `R` echo, then a TCP reset
 *   after 1 MiB, `S` echo, then stop reading and writing after 1 MiB (lb4
 *   runs with `--idle-timeout 1s`, 3s at full scale). 12 transfers of 4 MiB in
 *   make test, 60 of 8 MiB with LB4_TORTURE_SCALE=full, a third of each kind, at once.
 * - killed: two backends, round-robin; one is an echo server in a process
 *   of its own (test/fixtures/echo-server.cjs). Every transfer sends 1 MiB
 *   and waits until it is echoed; then that process is stopped (SIGSTOP),
 *   the transfers go on (those on it pile unread bytes in its socket
 *   buffers, and stop before their last byte: no FIN of theirs comes
 *   first), and it is killed (SIGKILL): the kernel resets its
 *   connections.
 *
 * Checked: the echo transfers (and those on the surviving backend) come
 * back whole with equal sha256; a reset or killed backend reaches its
 * client as a reset, never a clean FIN (it would take a cut stream for a
 * whole one), logged `end: backend-error`; a stalled backend's tunnel is
 * closed by the idle timeout (`end: idle-timeout`) within a bound; lb4
 * stays up, its admin API answers throughout and it serves new clients
 * afterwards; its descriptors go back to the baseline.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BACKEND_HOST, tcpBackend, type TestBackend } from '../helpers/backends.js';
import { withLb4, type Lb4Process } from '../helpers/lb4.js';
import { accessLines, startTransfer, within, type Transfer, type TransferEnd } from '../helpers/l4-e2e.js';
import { fdCount, waitUntil, watchAdmin } from '../helpers/edge.js';
import { count, report, secs, sized, statsOf } from '../helpers/torture.js';

const ECHO_SERVER = fileURLToPath(new URL('../fixtures/echo-server.cjs', import.meta.url));
const MiB = 1048576;
const FAULT_AT = MiB;
const PER_KIND = sized(4, 20);
const SIZE = sized(4, 8) * MiB;
// the idle timeout; at full scale the test process itself (hashing every byte) can lag by a second
const IDLE_S = sized(1, 3);
type Relay = 'native' | 'js';

const chunk = (i: number) => (sent: number): number => 1 + ((sent * 5 + i * 7919) % (128 * 1024));

/**
 * An echo backend whose connections fail as their first byte says: `R`
 * reset, `S` stall, after FAULT_AT bytes. `streams` counts the connections
 * that sent bytes (not lb4's health checks).
 */
async function faultyEcho(t: Test): Promise<{ backend: TestBackend; streams: () => number }> {
  let streams = 0;
  const backend = await tcpBackend(
    t,
    (s) => {
      let mode = 0;
      let got = 0;
      let stalled = false;
      s.on('data', (d: Buffer) => {
        if (stalled) return;
        if (mode === 0) {
          mode = d[0]!;
          streams++;
        }
        got += d.length;
        if (got >= FAULT_AT && mode === 0x52 /* R */) return void s.resetAndDestroy();
        if (got >= FAULT_AT && mode === 0x53 /* S */) {
          stalled = true;
          s.pause();
          return;
        }
        if (!s.write(d)) {
          s.pause();
          s.once('drain', () => stalled || s.resume());
        }
      });
      s.on('end', () => s.end());
    },
    { allowHalfOpen: true },
  );
  return { backend, streams: () => streams };
}

async function startLb(t: Test, relay: Relay, args: string[]): Promise<Lb4Process> {
  return withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', ...args], {
    env: relay === 'js' ? { LB4_RELAY: 'js' } : {},
    coverage: false,
    timeoutMs: 60_000,
  });
}

/** lb4 serves a new client, its descriptors go back to `baseFds`, nothing is left open. */
async function afterwards(t: Test, lb: Lb4Process, baseFds: number): Promise<void> {
  t.ok(whole(await plainEcho(lb), MiB), 'a new client is served afterwards');
  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'every tunnel closed in lb4');
  await waitUntil(() => fdCount(lb.proc.pid!) <= baseFds + 2, 30_000, `lb4's descriptors back to ${baseFds}`, () => fdCount(lb.proc.pid!));
  t.pass(`lb4's descriptors back to the baseline (${baseFds})`);
}

/** One echo transfer of 1 MiB (first byte `E`: random bytes could start with `R` or `S`). */
const plainEcho = (lb: Lb4Process): Promise<TransferEnd> => within(startTransfer(lb.ports[0]!, MiB, () => 64 * 1024, { prefix: Buffer.from('E') }).done, 30_000, 'an echo of 1 MiB');
const whole = (e: TransferEnd, size: number): boolean => e.how === 'end' && e.received === size && e.sentSha256 === e.receivedSha256;
const ends = (lb: Lb4Process, end: string): number => accessLines(lb).filter((l) => l.end === end).length;
/** the access log's `end` values, counted */
const endCounts = (lb: Lb4Process): Record<string, number> => {
  const c: Record<string, number> = {};
  for (const l of accessLines(lb)) c[l.end] = (c[l.end] ?? 0) + 1;
  return c;
};

type Kind = 'E' | 'R' | 'S';

async function resetAndStall(t: Test, relay: Relay, kinds: readonly Kind[]): Promise<void> {
  const { backend } = await faultyEcho(t);
  const lb = await startLb(t, relay, ['--backend', `${backend.address},name=faulty`, '--idle-timeout', `${IDLE_S}s`]);
  const pid = lb.proc.pid!;
  t.ok(whole(await plainEcho(lb), MiB), 'warm-up');
  await waitUntil(async () => (await statsOf(lb)).connections.active === 0, 30_000, 'warm-up closed');
  const baseFds = fdCount(pid);

  const watch = watchAdmin(lb.adminPort!, 200);
  t.teardown(() => watch.stop());
  const xs: Array<{ kind: Kind; x: Transfer }> = [];
  for (let i = 0; i < PER_KIND * kinds.length; i++) {
    const kind = kinds[i % kinds.length]!;
    // the faulty ones stop before their last byte (and FIN): the first end lb4 sees is the backend's fault
    const holdAt = kind === 'E' ? undefined : SIZE - 1;
    xs.push({ kind, x: startTransfer(lb.ports[0]!, SIZE, chunk(i), { prefix: Buffer.from(kind), holdAt }) });
  }
  t.teardown(() => xs.forEach(({ x }) => x.socket.destroy()));
  const res = await within(Promise.all(xs.map(({ x }) => x.done)), sized(60_000, 300_000), 'every transfer ended');
  const admin = await watch.stop();
  const of = (k: string): TransferEnd[] => res.filter((_, i) => xs[i]!.kind === k);

  t.ok(of('E').every((e) => whole(e, SIZE)), `the ${PER_KIND} echo transfers came back whole, sha256 equal`);
  const resets = of('R');
  const perKind = (k: Kind): number => (kinds.includes(k) ? PER_KIND : 0);
  const seen = (es: TransferEnd[]): string => es.map((e) => `${e.how}${e.code ? ` ${e.code}` : ''} ${e.received}`).join(', ');
  t.ok(resets.every((e) => e.received < SIZE && e.sent < SIZE), 'every reset transfer was cut short', { seen: seen(resets) });
  const asResets = resets.filter((e) => e.how === 'reset').length;
  t.equal(asResets, perKind('R'), 'a backend reset reaches every client as a reset, not a FIN', { seen: seen(resets) });
  const stalls = of('S');
  t.ok(stalls.every((e) => e.received < SIZE && e.sent < SIZE), 'no stalled transfer went through', { seen: seen(stalls) });
  const slowestStall = Math.max(0, ...stalls.map((e) => e.ms));
  t.ok(slowestStall < IDLE_S * 1000 + sized(15_000, 60_000), `stalled tunnels closed by the idle timeout, the last after ${secs(slowestStall)}`);
  await waitUntil(() => accessLines(lb).length >= 1 + kinds.length * PER_KIND, 30_000, 'an access-log line for every tunnel', () => endCounts(lb));
  t.equal(ends(lb, 'idle-timeout'), perKind('S'), 'each stall logged end: idle-timeout');
  t.equal(ends(lb, 'backend-error'), perKind('R'), 'each reset logged end: backend-error');
  t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers)`);
  await afterwards(t, lb, baseFds);

  report(t, {
    scenario: `6${relay === 'native' ? 'a' : 'c'} backend ${kinds.includes('R') ? 'reset / ' : ''}stalled mid-transfer, ${relay === 'native' ? 'native relay' : 'JavaScript tunnel'}`,
    load: `${count(kinds.length * PER_KIND)} transfers of ${SIZE / MiB} MiB at once: ${PER_KIND} echo${kinds.includes('R') ? `, ${PER_KIND} reset` : ''} and ${PER_KIND} stalled after 1 MiB`,
    figures: {
      'echo transfers whole': `${of('E').filter((e) => whole(e, SIZE)).length} of ${PER_KIND}`,
      'resets seen as resets': `${asResets} of ${PER_KIND}`,
      [`stalls closed (idle timeout ${IDLE_S} s)`]: `${stalls.length} of ${PER_KIND}, the last after ${secs(slowestStall)}`,
      'slowest /stats': `${admin.maxMs.toFixed(0)} ms`,
    },
  });
}

async function killed(t: Test, relay: Relay): Promise<void> {
  const child = spawn(process.execPath, [ECHO_SERVER, BACKEND_HOST], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [line] = (await within(once(child.stdout, 'data'), 15_000, 'the echo server process listening')) as [Buffer];
  const victim = `${BACKEND_HOST}:${Number(line.toString().trim())}`;
  const { backend: survivor, streams } = await faultyEcho(t);
  const lb = await startLb(t, relay, ['--backend', `${victim},name=victim`, '--backend', `${survivor.address},name=survivor`, '--strategy', 'round-robin']);
  const pid = lb.proc.pid!;
  const baseFds = fdCount(pid);

  const n = 2 * PER_KIND;
  const watch = watchAdmin(lb.adminPort!, 200);
  t.teardown(() => watch.stop());
  const xs = Array.from({ length: n }, (_, i) => startTransfer(lb.ports[0]!, SIZE, chunk(i), { prefix: Buffer.from('E'), holdAt: [FAULT_AT, SIZE - 1] }));
  t.teardown(() => xs.forEach((x) => x.socket.destroy()));
  await waitUntil(() => xs.every((x) => x.received >= FAULT_AT), 60_000, `every transfer 1 MiB in and echoed`);
  child.kill('SIGSTOP');
  const t0 = performance.now();
  xs.forEach((x) => x.release());
  // those on the stopped backend pile unread bytes up in its socket buffers
  await waitUntil(() => xs.every((x) => x.sent - x.received >= 256 * 1024 || x.received === SIZE - 1), 60_000, 'bytes unread by the stopped backend');
  child.kill('SIGKILL');
  // once those on the killed backend are closed, the others send their last byte and FIN
  await waitUntil(() => xs.every((x) => x.socket.destroyed || x.received === SIZE - 1), 60_000, 'the transfers on the killed backend closed');
  xs.forEach((x) => x.release());
  const res = await within(Promise.all(xs.map((x) => x.done)), sized(60_000, 300_000), 'every transfer ended');
  const ms = performance.now() - t0;
  const admin = await watch.stop();

  const onSurvivor = streams();
  const ok = res.filter((e) => whole(e, SIZE)).length;
  const resets = res.filter((e) => e.how === 'reset' && e.received < SIZE).length;
  t.ok(onSurvivor > 0 && onSurvivor < n, `both backends had transfers (${onSurvivor} of ${n} on the survivor)`);
  const seen = res.map((e) => `${e.how}${e.code ? ` ${e.code}` : ''} ${e.received}`).join(', ');
  t.equal(ok, onSurvivor, 'every transfer on the surviving backend came back whole, sha256 equal', { seen });
  t.equal(resets, n - onSurvivor, 'every transfer on the killed backend was reset, none ended with a FIN');
  await waitUntil(() => ends(lb, 'backend-error') >= n - onSurvivor, 15_000, 'access-log lines', () => endCounts(lb));
  t.equal(ends(lb, 'backend-error'), n - onSurvivor, 'each logged end: backend-error');
  t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers)`);
  await afterwards(t, lb, baseFds);

  report(t, {
    scenario: `6${relay === 'native' ? 'b' : 'd'} backend process killed mid-transfer, ${relay === 'native' ? 'native relay' : 'JavaScript tunnel'}`,
    load: `${count(n)} transfers of ${SIZE / MiB} MiB at once over 2 backends; one killed (SIGKILL) 1 MiB in`,
    figures: {
      'on the survivor, whole': `${ok} of ${onSurvivor}`,
      'on the killed one, reset': `${resets} of ${n - onSurvivor}`,
      'all ended within': secs(ms),
      'slowest /stats': `${admin.maxMs.toFixed(0)} ms`,
    },
  });
}

for (const relay of ['native', 'js'] as const) {
  const path = relay === 'native' ? 'native relay' : 'JavaScript tunnel';
  t.test(`backends reset and stalled mid-transfer, ${path}`, (t) => resetAndStall(t, relay, ['E', 'R', 'S']));
  t.test(`a backend process killed mid-transfer, ${path}`, (t) => killed(t, relay));
}
