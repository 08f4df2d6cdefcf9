/**
 * TLS handshakes cannot hold lb4's sockets: a client that leaves during its
 * handshake (sends nothing, half a ClientHello, a whole one, then its FIN;
 * or resets) is closed at once, with nothing left in CLOSE-WAIT and lb4's
 * descriptors back to where they were; a handshake that never completes is
 * closed after --handshake-timeout, counted from accept (or from the end of
 * the PROXY header), however slowly its bytes trickle in. Handshakes under
 * way are visible in /stats (`handshakes`) and /metrics.
 */
import t from 'tap';
import net from 'node:net';
import { echoBackend } from '../../helpers/backends.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { tlsConnect } from '../../helpers/clients.js';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';
import { captureClientHello } from '../../helpers/tls-proxy.js';
import { fdCount, handshakeStorm as storm, socketsInState, waitUntil } from '../../helpers/edge.js';

async function listenerStats(lb: Lb4Process): Promise<{ handshakes: number; active: number; tls_failures: number }> {
  const r = await getJson(lb.adminPort!, '/stats');
  return r.json.listeners[0];
}

/** A full TLS session through lb4 (so that everything lb4 opens lazily is open), then back to no connection. */
async function warmUp(lb: Lb4Process, certs: TestCerts): Promise<number> {
  const port = lb.ports[0]!;
  const ok = await tlsConnect(port, { ca: certs.ca, timeoutMs: 15_000 });
  ok.write('warm\n');
  if ((await ok.readLine(15_000)) !== 'warm') throw new Error('a TLS client was not served');
  ok.end();
  await ok.waitClose(15_000);
  await waitUntil(async () => (await listenerStats(lb)).active === 0, 15_000, 'no client connection open');
  return fdCount(lb.proc.pid!);
}

let certs: TestCerts;
let hello: Buffer;
t.before(async () => {
  certs = await makeCerts();
  hello = await captureClientHello('localhost');
});
t.teardown(() => certs?.cleanup());

t.test('1,000 clients leaving mid-handshake: all closed at once, nothing in CLOSE-WAIT, descriptors back to baseline', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  // a long handshake timeout: whatever closes these clients, it is not the timeout
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0',
    '--tls-cert', certs.cert, '--tls-key', certs.key, '--handshake-timeout', '120s'], { timeoutMs: 30_000 });
  const port = lb.ports[0]!;
  const pid = lb.proc.pid!;
  const baseline = await warmUp(lb, certs);

  await storm(port, 1000, hello, 60_000);
  await waitUntil(() => fdCount(pid) <= baseline, 30_000, `lb4's descriptors back to ${baseline}`, () => fdCount(pid));
  t.pass(`descriptors back to the baseline (${baseline})`);
  t.equal(socketsInState('close-wait', port), 0, 'no socket of lb4 in CLOSE-WAIT');
  const st = await listenerStats(lb);
  t.equal(st.handshakes, 0, 'no handshake left under way');
  t.equal(st.active, 0, 'no client connection counted');

  // still serving
  const ok = await tlsConnect(port, { ca: certs.ca, timeoutMs: 15_000 });
  t.teardown(() => ok.destroy());
  ok.write('after\n');
  t.equal(await ok.readLine(15_000), 'after');
});

t.test('handshakes under way are counted in /stats and /metrics', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0',
    '--tls-cert', certs.cert, '--tls-key', certs.key, '--handshake-timeout', '120s'], { timeoutMs: 30_000 });
  const port = lb.ports[0]!;
  const silent: net.Socket[] = [];
  t.teardown(() => silent.forEach((s) => s.destroy()));
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    silent.push(s);
  }
  await waitUntil(async () => (await listenerStats(lb)).handshakes === 20, 20_000, '20 handshakes in /stats');
  t.pass('/stats counts the 20 handshakes');
  const m = await getJson(lb.adminPort!, '/metrics');
  t.match(m.body, /lb4_listener_tls_handshakes\{listener="127\.0\.0\.1:\d+",tls="true"\} 20/, '/metrics gauge');
  const closed = silent.map((s) => new Promise((r) => s.once('close', r)));
  for (const s of silent) s.end();
  await Promise.all(closed);
  await waitUntil(async () => (await listenerStats(lb)).handshakes === 0, 20_000, 'no handshake in /stats');
  t.pass('back to 0 once they left');
});

t.test('--handshake-timeout closes a handshake that does not complete, counted from accept', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0',
    '--tls-cert', certs.cert, '--tls-key', certs.key, '--handshake-timeout', '500ms', '--access-log'], { timeoutMs: 30_000 });
  const port = lb.ports[0]!;

  const timeClose = (s: net.Socket): Promise<number> => {
    const started = Date.now();
    return new Promise((resolve) => s.once('close', () => resolve(Date.now() - started)));
  };

  t.test('a silent client', async (t) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    t.teardown(() => s.destroy());
    let local = 0;
    s.once('connect', () => (local = s.localPort!));
    const ms = await timeClose(s);
    t.ok(ms >= 450, `not before the timeout (${ms} ms)`);
    t.ok(ms < 10_000, `closed by lb4 (${ms} ms)`);
    const l = await lb.waitForLog((x) => x.msg === 'connection' && x.client === `127.0.0.1:${local}`, 15_000);
    t.equal(l.end, 'tls-error', 'logged as a failed handshake');
  });

  t.test('a client that leaves first: closed at once, logged client-close with its address', async (t) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.resume();
    t.teardown(() => s.destroy());
    let local = 0;
    s.once('connect', () => {
      local = s.localPort!;
      s.write(hello.subarray(0, 20));
      s.end();
    });
    await new Promise((r) => s.once('close', r));
    const l = await lb.waitForLog((x) => x.msg === 'connection' && x.client === `127.0.0.1:${local}`, 15_000);
    t.equal(l.end, 'client-close', 'not a failed handshake: the client left');
    t.equal(l.client_ip, '127.0.0.1');
  });

  t.test('a client that trickles its ClientHello, one byte every 50 ms', async (t) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.resume();
    t.teardown(() => s.destroy());
    let i = 0;
    const trickle = setInterval(() => {
      if (i < hello.length - 1 && !s.destroyed) s.write(hello.subarray(i, ++i));
    }, 50);
    t.teardown(() => clearInterval(trickle));
    const ms = await timeClose(s);
    t.ok(ms >= 450, `not before the timeout (${ms} ms)`);
    t.ok(ms < 10_000, `closed by lb4 after ${i} bytes, although bytes kept coming (${ms} ms)`);
    t.ok(i < hello.length - 1, 'the hello was not complete');
  });
});

t.test('--accept-proxy: the handshake after the PROXY header is bounded and never half-open', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const proxy = Buffer.from('PROXY TCP4 192.0.2.7 192.0.2.1 5555 443\r\n');
  const args = ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0',
    '--tls-cert', certs.cert, '--tls-key', certs.key, '--accept-proxy', '--peek-timeout', '30s'];

  t.test('leaving mid-handshake after the header: closed at once', async (t) => {
    const lb = await withLb4(t, [...args, '--handshake-timeout', '120s'], { timeoutMs: 30_000 });
    const port = lb.ports[0]!;
    const pid = lb.proc.pid!;
    const baseline = fdCount(pid);
    await storm(port, 200, hello, 60_000, proxy, 50);
    t.pass('200 clients leaving after their PROXY header were closed');
    await waitUntil(() => fdCount(pid) <= baseline, 30_000, `lb4's descriptors back to ${baseline}`, () => fdCount(pid));
    t.equal(socketsInState('close-wait', port), 0, 'no socket of lb4 in CLOSE-WAIT');
    t.equal((await listenerStats(lb)).handshakes, 0, 'no handshake left under way');
  });

  t.test('a PROXY header, then silence: closed by the handshake timeout, not the 30 s peek timeout', async (t) => {
    const lb = await withLb4(t, [...args, '--handshake-timeout', '800ms'], { timeoutMs: 30_000 });
    const s = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
    s.on('error', () => {});
    t.teardown(() => s.destroy());
    const started = Date.now();
    s.write(proxy);
    await new Promise((r) => s.once('close', r));
    const ms = Date.now() - started;
    t.ok(ms >= 700 && ms < 15_000, `closed after the handshake timeout (${ms} ms)`);
  });
});
