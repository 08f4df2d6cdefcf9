/**
 * The two ways an L4 tunnel moves bytes, side by side: the native relay
 * (native/relay.c, the default where it was built) and the JavaScript
 * Tunnel (LB4_RELAY=js, and always for TLS). Each runs the same documented
 * section 6 cases end to end through bin/lb4: bytes unchanged both ways
 * with backpressure, half-close each way, the idle timeout, a reset from
 * either side passed on as a reset (ECONNRESET on the other side, not a
 * clean end), live byte counts in /stats while the tunnel is open, and the
 * drain deadline at shutdown. A tunnel starts in JavaScript and is handed to the
 * relay after 16 chunks or once it has been open a second, so each native
 * case waits for /stats to show the hand-over before the part under test.
 * The native half fails, not skips, when the addon is missing on Linux:
 * .ci/run builds it with `make native`.
 */
import t from 'tap';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { echoBackend, sinkBackend, tcpBackend } from '../../helpers/backends.js';
import { makeCerts } from '../../helpers/certs.js';
import { attachHelpers, tlsConnect } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';
import { echoThrough, tracked, waitAccess, within } from '../../helpers/l4-e2e.js';
import type { Lb4Process } from '../../helpers/lb4.js';

const built = existsSync(new URL('../../../build/Release/lb4_relay.node', import.meta.url));
// make test-native-asan (LB4_TEST_LD_PRELOAD set) runs the native half only:
// the JavaScript tunnel never loads the addon under test.
const sanitizerRun = Boolean(process.env.LB4_TEST_LD_PRELOAD);
const modes: { name: string; env: Record<string, string>; relay: 'native' | 'js' }[] = [
  { name: 'native relay', env: {}, relay: 'native' },
  ...(sanitizerRun ? [] : [{ name: 'JavaScript tunnel', env: { LB4_RELAY: 'js' }, relay: 'js' as const }]),
];

async function relayOf(lb: Lb4Process): Promise<{ mode: string; tunnels: number; total: number; reason?: string }> {
  return (await getJson(lb.adminPort!, '/stats')).json.relay;
}

/** Native: wait until the relay carries `n` tunnels. JavaScript: check it carries none. */
async function handedOver(lb: Lb4Process, mode: 'native' | 'js', n: number): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    const r = await relayOf(lb);
    if (mode === 'js') {
      if (r.tunnels !== 0 || r.total !== 0) throw new Error(`LB4_RELAY=js, yet the relay carries ${r.tunnels}`);
      return;
    }
    if (r.tunnels >= n) return;
    if (Date.now() > end) throw new Error(`the relay carries ${r.tunnels} tunnel(s), not ${n}, after 20 s`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

for (const mode of modes) {
  const linuxOnly = mode.relay === 'native' && process.platform !== 'linux';
  t.test(mode.name, { skip: linuxOnly ? 'the native relay is Linux only' : false }, async (t) => {
    if (mode.relay === 'native') t.ok(built, 'build/Release/lb4_relay.node exists (make native)');
    const env = mode.env;

    t.test('/stats says which carries the tunnels', async (t) => {
      const echo = await echoBackend();
      t.teardown(() => echo.close());
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--backend', echo.address], { env });
      const relay = await relayOf(lb);
      t.equal(relay.mode, mode.relay);
      if (mode.relay === 'js') t.match(relay.reason, /^turned off/);
    });

    t.test('16 MiB both ways with backpressure, sha256 equal, counted in the log and /stats', async (t) => {
      const echo = await echoBackend();
      t.teardown(() => echo.close());
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=echo`], { env });
      const total = 16 * 1024 * 1024;
      // uneven chunk sizes, so reads and writes do not line up
      const r = await echoThrough(t, lb.ports[0]!, total, (sent) => 1000 + ((sent * 7) % 300_000), 30_000);
      t.equal(r.received, total, 'every byte came back');
      t.equal(r.receivedSha256, r.sentSha256, 'sha256 equal');
      const [l] = await waitAccess(lb, 1);
      t.equal(l!.bytes_in, total, 'access log bytes_in');
      t.equal(l!.bytes_out, total, 'access log bytes_out');
      t.equal(l!.end, 'client-close');
      const b = (await getJson(lb.adminPort!, '/stats')).json.backends[0];
      t.equal(b.bytes_in, total, '/stats bytes_in');
      t.equal(b.bytes_out, total, '/stats bytes_out');
      t.equal(b.active, 0);
      const relay = await relayOf(lb);
      t.equal(relay.total, mode.relay === 'native' ? 1 : 0, 'handed over after its first chunks (native) or never (js)');
      t.equal(relay.tunnels, 0);
    });

    t.test('half-close: the client ends first, the backend answers after', async (t) => {
      let got = '';
      const server = await tcpBackend(t, (s) => {
        s.on('error', () => {});
        s.setEncoding('utf8');
        s.on('data', (d: string) => (got += d));
        s.on('end', () => {
          // the client's FIN came through: answer only now, then end
          setTimeout(() => s.end(`got ${got}`), 50);
        });
      }, { allowHalfOpen: true });
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${server.address},name=b`], { env });
      const c = await tracked(t, lb.ports[0]!);
      c.write('hel');
      await handedOver(lb, mode.relay, 1);
      c.end('lo');
      const answer = await c.readUntilEnd();
      t.equal(answer.toString(), 'got hello', 'the answer came after the client half-closed');
      await c.waitClose();
      const [l] = await waitAccess(lb, 1);
      t.equal(l!.end, 'client-close');
      t.equal(l!.bytes_in, 5);
      t.equal(l!.bytes_out, 9);
    });

    t.test('half-close: the backend speaks first and ends, the client still sends', async (t) => {
      const sink = await sinkBackend({ writeOnConnect: 3 * 1024 * 1024 + 17 });
      t.teardown(() => sink.close());
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${sink.address},name=s`], { env });
      const c = await tracked(t, lb.ports[0]!, '127.0.0.1', { allowHalfOpen: true });
      const body = await c.readUntilEnd(20_000);
      t.equal(body.length, 3 * 1024 * 1024 + 17, 'all of the backend first bytes');
      t.equal(createHash('sha256').update(body).digest('hex'), sink.conns[0]!.sha256Sent);
      await handedOver(lb, mode.relay, 1); // 3 MiB is more than 16 chunks
      c.end('after');
      const conn = await sink.waitForDone(0);
      t.equal(conn.bytesReceived, 5, 'the client bytes after the backend ended reached it');
      await c.waitClose();
      const [l] = await waitAccess(lb, 1);
      t.equal(l!.end, 'backend-close');
    });

    t.test('idle timeout closes both sides', async (t) => {
      const echo = await echoBackend();
      t.teardown(() => echo.close());
      // 3 s: the relay takes an idle tunnel over within 2 s, and must count from its last byte
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--idle-timeout', '3s', '--backend', `${echo.address},name=e`], { env });
      const c = await tracked(t, lb.ports[0]!);
      const started = Date.now();
      c.write('ping');
      t.equal((await c.readBytes(4)).toString(), 'ping');
      await handedOver(lb, mode.relay, 1);
      await c.waitClose(15_000);
      const took = Date.now() - started;
      t.ok(took >= 2_900, `not before the timeout (${took} ms)`);
      t.ok(took < 4_500, `closed by the timeout, counted from the last byte (${took} ms)`);
      const [l] = await waitAccess(lb, 1);
      t.equal(l!.end, 'idle-timeout');
      await echo.waitForConnections(0);
    });

    t.test('a backend reset reaches the client as a reset; lb4 goes on', async (t) => {
      const server = await tcpBackend(t, (s) => {
        s.on('error', () => {});
        s.once('data', () => s.resetAndDestroy());
      });
      const echo = await echoBackend();
      t.teardown(() => echo.close());
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--strategy', 'round-robin', '--backend', `${server.address},name=rst`, '--backend', `${echo.address},name=echo`], { env });
      const c = await tracked(t, lb.ports[0]!);
      await handedOver(lb, mode.relay, 1);
      c.write('boom');
      const closed = await c.waitClose(15_000);
      t.equal(closed.error?.code, 'ECONNRESET', 'the client got a reset (ECONNRESET), not a clean end');
      t.notOk(c.readEnded, 'no FIN before it');
      const [l] = await waitAccess(lb, 1);
      t.equal(l!.backend, 'rst');
      t.equal(l!.end, 'backend-error');
      const d = await tracked(t, lb.ports[0]!);
      d.write('still here');
      t.equal((await d.readBytes(10)).toString(), 'still here', 'the next client is served');
      d.end();
      await d.waitClose();
    });

    t.test('a client reset reaches the backend as a reset', async (t) => {
      const seen: Array<Promise<string>> = [];
      const server = await tcpBackend(t, (s) => {
        seen.push(
          new Promise<string>((resolve) => {
            s.on('data', (d: Buffer) => s.write(d));
            s.once('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
            s.once('end', () => resolve('end'));
          }),
        );
      });
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${server.address},name=b`], { env });
      const c = await tracked(t, lb.ports[0]!);
      c.write('ping');
      t.equal((await c.readBytes(4)).toString(), 'ping');
      await handedOver(lb, mode.relay, 1);
      c.resetAndDestroy();
      t.equal(await within(seen[0]!, 5_000, 'the backend socket ends'), 'ECONNRESET', 'the backend got a reset, not a clean end');
      const [l] = await waitAccess(lb, 1);
      t.equal(l!.end, 'client-error');
      t.equal(l!.bytes_in, 4);
    });

    t.test('/stats counts bytes of a tunnel that is still open', async (t) => {
      const echo = await echoBackend();
      t.teardown(() => echo.close());
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--backend', `${echo.address},name=e`], { env });
      const c = await tracked(t, lb.ports[0]!);
      const payload = randomBytes(100_000);
      c.write(payload);
      t.same(await c.readBytes(payload.length), payload);
      const b = (await getJson(lb.adminPort!, '/stats')).json.backends[0];
      t.equal(b.active, 1, 'the tunnel is open');
      t.equal(b.bytes_in, payload.length, 'bytes_in so far');
      t.equal(b.bytes_out, payload.length, 'bytes_out so far');
      const metrics = (await getJson(lb.adminPort!, '/metrics')).body;
      t.match(metrics, new RegExp(`lb4_backend_bytes_in_total\\{[^}]*backend="e"[^}]*\\} ${payload.length}\\b`), '/metrics too');
      await handedOver(lb, mode.relay, 1);
      c.write(payload.subarray(0, 1000));
      await c.readBytes(1000);
      const again = (await getJson(lb.adminPort!, '/stats')).json.backends[0];
      t.equal(again.bytes_in, payload.length + 1000, 'and it moves on, counted once');
      c.end();
      await c.waitClose();
    });

    t.test('shutdown: the drain deadline closes open tunnels, each logged', async (t) => {
      const echo = await echoBackend();
      t.teardown(() => echo.close());
      const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--drain-timeout', '300ms', '--backend', `${echo.address},name=e`], { env });
      const socks = [await tracked(t, lb.ports[0]!), await tracked(t, lb.ports[0]!)];
      for (const s of socks) {
        s.write('x');
        await s.readBytes(1);
      }
      await handedOver(lb, mode.relay, 2);
      lb.kill('SIGTERM');
      for (const s of socks) await s.waitClose(15_000);
      const exit = await lb.exited;
      t.equal(exit.code, 0, 'exit 0 after the drain');
      const lines = await waitAccess(lb, 2);
      t.same(lines.map((l) => l.end), ['shutdown', 'shutdown']);
      await echo.waitForConnections(0);
    });
  });
}

// TLS termination always runs in the JavaScript tunnel: a reset crosses it
// through the TCP socket under the client's TLS socket, both ways.
t.test('TLS termination: a reset passes through as a reset, both ways', { skip: sanitizerRun ? 'no native relay in it' : false }, async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.cleanup());
  const ends: Array<Promise<string>> = [];
  let resetOnData = true;
  const server = await tcpBackend(t, (s) => {
    const first = resetOnData;
    ends.push(
      new Promise<string>((resolve) => {
        s.once('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
        s.once('end', () => resolve('end'));
      }),
    );
    s.on('data', (d: Buffer) => (first ? s.resetAndDestroy() : s.write(d)));
  });
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--tls-cert', certs.cert, '--tls-key', certs.key, '--backend', `${server.address},name=b`]);

  const a = await tlsConnect(lb.ports[0]!, { ca: certs.ca, servername: 'localhost' });
  t.teardown(() => a.destroy());
  a.write('boom');
  const closed = await a.waitClose(5_000);
  t.equal(closed.error?.code, 'ECONNRESET', 'backend reset: the TLS client got a reset, not a clean end');

  resetOnData = false;
  // our own TCP socket under the TLS one, so that the test client can reset it
  const raw = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  t.teardown(() => raw.destroy());
  await once(raw, 'connect');
  const b = attachHelpers(tls.connect({ socket: raw, ca: readFileSync(certs.ca), servername: 'localhost' }));
  t.teardown(() => b.destroy());
  await once(b, 'secureConnect');
  b.write('ping');
  t.equal((await b.readBytes(4)).toString(), 'ping');
  raw.resetAndDestroy();
  t.equal(await within(ends[1]!, 5_000, 'the backend socket ends'), 'ECONNRESET', 'client reset: the backend got a reset');
  const lines = await waitAccess(lb, 2);
  t.same(lines.map((l) => l.end).sort(), ['backend-error', 'client-error']);
});
