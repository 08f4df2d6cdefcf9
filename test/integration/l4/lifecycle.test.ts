/**
 * A connection's and the process's life (docs/reference.md, "Settings"; docs/reference.md): SIGTERM drain,
 * idle timeout, the access-log line and --max-conns, and an IPv6 listener.
 */
import t from 'tap';
import net from 'node:net';
import { echoBackend } from '../../helpers/backends.js';
import { connect } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { startLb4, withLb4 } from '../../helpers/lb4.js';
import { accessLines, tracked, waitAccess, within } from '../../helpers/l4-e2e.js';

t.test('SIGTERM drains: refuses new clients, open tunnels finish, then exit 0', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--admin', '127.0.0.1:0', '--access-log', '--backend', `${echo.address},name=echo`]);
  const port = lb.ports[0]!;
  const c = await tracked(t, port);
  c.write('before\n');
  t.equal(await c.readLine(), 'before');

  const since = lb.logs.length;
  t.ok(lb.kill('SIGTERM'));
  await lb.waitForLog((l) => l.msg === 'draining', 15_000, since);
  await t.rejects(connect(port, '127.0.0.1', { timeoutMs: 15_000 }), { code: 'ECONNREFUSED' }, 'new connects are refused');

  const h = await getJson(lb.adminPort!, '/health');
  t.equal(h.status, 503, '/health answers 503 during the drain');
  t.same(h.json, { status: 'draining', up: 1, total: 1 });
  t.equal((await getJson(lb.adminPort!, '/ping')).status, 200, 'the admin server answers until exit');

  c.write('after the signal\n');
  t.equal(await c.readLine(), 'after the signal', 'the open tunnel keeps working');
  t.equal(lb.hasExited, false, 'still running while a tunnel is open');

  const closedAt = Date.now();
  c.end();
  await c.readUntilEnd();
  const exit = await within(lb.exited, 15_000, 'lb4 exit after the last client closed');
  t.same(exit, { code: 0, signal: null }, 'exit code 0');
  t.ok(Date.now() - closedAt < 10_000, `exited ${Date.now() - closedAt} ms after the last client closed, not after the 30 s drain timeout`);
  const lines = accessLines(lb);
  t.equal(lines.length, 1);
  t.equal(lines[0]!.end, 'client-close', 'the drained tunnel ended normally');
  t.equal(lines[0]!.bytes_in, 'before\nafter the signal\n'.length);
});

t.test('SIGTERM with --drain-timeout 500ms closes an idle tunnel and exits 0', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--drain-timeout', '500ms', '--backend', `${echo.address},name=echo`]);
  const c = await tracked(t, lb.ports[0]!);
  c.on('error', () => {});
  c.write('hi\n');
  t.equal(await c.readLine(), 'hi');
  const signalled = Date.now();
  lb.kill('SIGTERM');
  await c.waitClose(15_000);
  const closedAfter = Date.now() - signalled;
  t.ok(closedAfter >= 400, `the tunnel was given the drain time (closed after ${closedAfter} ms)`);
  const exit = await within(lb.exited, 15_000, 'lb4 exit');
  const exitedAfter = Date.now() - signalled;
  t.same(exit, { code: 0, signal: null }, 'exit code 0');
  t.ok(exitedAfter < 10_000, `exited ${exitedAfter} ms after SIGTERM, not after the 30 s default drain`);
  const lines = accessLines(lb);
  t.equal(lines.length, 1);
  t.equal(lines[0]!.end, 'shutdown');
});

t.test('SIGINT drains too', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--backend', echo.address]);
  lb.kill('SIGINT');
  t.same(await within(lb.exited, 15_000, 'exit'), { code: 0, signal: null });
});

t.test('--idle-timeout closes a silent tunnel, not a chatty one', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--idle-timeout', '1s', '--backend', `${echo.address},name=echo`]);
  const port = lb.ports[0]!;

  const silent = await tracked(t, port);
  silent.write('x\n');
  t.equal(await silent.readLine(), 'x');
  const quietFrom = Date.now();

  const chatty = await tracked(t, port);
  let echoed = 0;
  // The largest gap between two pings: if this process stalls for longer
  // than the idle timeout, the tunnel really was idle (a loaded machine).
  let lastTick = Date.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = Date.now();
    maxGap = Math.max(maxGap, now - lastTick);
    lastTick = now;
    chatty.write('tick\n');
  }, 100);
  t.teardown(() => clearInterval(ticker));

  await silent.waitClose(15_000);
  const idleFor = Date.now() - quietFrom;
  t.ok(idleFor >= 900 && idleFor < 10_000, `the silent tunnel was closed after ${idleFor} ms`);
  const l = await lb.waitForLog((x) => x.msg === 'connection' && x.end === 'idle-timeout', 15_000);
  t.equal(l.bytes_in, 2);
  t.equal(l.bytes_out, 2);

  // Keep the chatty one going until it has lived well past the idle timeout.
  const chattyStart = Date.now();
  let lost: Error | undefined;
  while (!lost && Date.now() - chattyStart < 2_500) {
    await chatty.readLine(10_000).then(
      () => echoed++,
      (e: Error) => (lost = e),
    );
  }
  t.equal(lost, undefined, `the chatty tunnel is still open after 2.5 s (largest gap between pings: ${maxGap} ms)`);
  t.equal(chatty.destroyed, false);
  t.ok(echoed >= 5, `its pings kept coming back (${echoed})`);
  t.equal(accessLines(lb).length, 1, 'only the silent one was closed');

  // Once it goes quiet it is closed too.
  clearInterval(ticker);
  await chatty.waitClose(15_000);
  const lines = await waitAccess(lb, 2);
  t.equal(lines[1]!.end, 'idle-timeout');
});

t.test('access log line for one echo connection', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=e1`]);
  const c = await tracked(t, lb.ports[0]!);
  const localPort = c.localPort!;
  c.write('ping 12345\n');
  t.equal(await c.readLine(), 'ping 12345');
  c.end('tail');
  t.equal((await c.readUntilEnd()).toString(), 'tail');
  await c.waitClose();
  const [l] = await waitAccess(lb, 1);
  t.equal(accessLines(lb).length, 1, 'exactly one connection line');
  t.equal(l!.client, `127.0.0.1:${localPort}`, 'client is ip:port of the socket peer');
  t.equal(l!.client_ip, '127.0.0.1');
  t.equal(l!.backend, 'e1');
  t.equal(l!.bytes_in, 15);
  t.equal(l!.bytes_out, 15);
  t.type(l!.duration_ms, 'number');
  t.ok(l!.duration_ms >= 0 && l!.duration_ms < 5_000, `duration_ms ${l!.duration_ms}`);
  t.equal(l!.retries, 0);
  t.equal(l!.end, 'client-close');
  t.equal(l!.level, 30, 'logged at info');
});

t.test('no access line without --access-log', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await startLb4(['--listen', '127.0.0.1:0', '--health-check', 'off', '--backend', echo.address]);
  t.teardown(() => lb.stop());
  const c = await tracked(t, lb.ports[0]!);
  c.end('bye');
  t.equal((await c.readUntilEnd()).toString(), 'bye');
  await c.waitClose();
  await echo.waitForConnections(0);
  // Stop lb4 so every log line it would write is out, then look.
  t.same(await lb.stop(), { code: 0, signal: null });
  t.equal(accessLines(lb).length, 0, 'no "connection" line');
});

t.test('--max-conns 1: a second concurrent client is closed at once', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--max-conns', '1', '--backend', `${echo.address},name=echo`]);
  const port = lb.ports[0]!;
  const first = await tracked(t, port);
  first.write('one\n');
  t.equal(await first.readLine(), 'one');

  const second = await tracked(t, port);
  second.on('error', () => {});
  const secondPort = second.localPort!;
  const t0 = Date.now();
  await second.waitClose(15_000);
  t.ok(Date.now() - t0 < 10_000, 'closed at once (not left open)');
  t.equal(second.bytesRead, 0);
  const l = await lb.waitForLog((x) => x.msg === 'connection' && x.end === 'max-conns', 15_000);
  t.equal(l.client, `127.0.0.1:${secondPort}`);
  t.equal(l.backend, null);
  t.equal(l.bytes_in, 0);
  t.equal(l.bytes_out, 0);
  t.equal(echo.accepted, 1, 'the backend never saw the second client');

  first.write('still one\n');
  t.equal(await first.readLine(), 'still one', 'the first client is unaffected');
  first.end();
  await first.readUntilEnd();
  await waitAccess(lb, 2);
  // With the slot free again a new client is served.
  const third = await tracked(t, port);
  third.write('three\n');
  t.equal(await third.readLine(), 'three');
});

async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

const ipv6 = await hasIpv6Loopback();

t.test('IPv6 listener [::1]:0', { skip: ipv6 ? false : 'no ::1 on this machine' }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '[::1]:0', '--access-log', '--backend', `${echo.address},name=echo`]);
  t.equal(lb.listening[0]!.address, '::1', 'listening line address is ::1');
  t.type(lb.listening[0]!.port, 'number');
  const c = await tracked(t, lb.ports[0]!, '::1');
  const localPort = c.localPort!;
  c.write('v6\n');
  t.equal(await c.readLine(), 'v6');
  c.end();
  await c.readUntilEnd();
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.client_ip, '::1');
  t.equal(l!.client, `[::1]:${localPort}`, 'IPv6 client written as [ip]:port');
  await t.rejects(connect(lb.ports[0]!, '127.0.0.1', { timeoutMs: 15_000 }), { code: 'ECONNREFUSED' }, 'not listening on IPv4');
});

t.test('two listeners, IPv4 and IPv6, one process', { skip: ipv6 ? false : 'no ::1 on this machine' }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--listen', '[::1]:0', '--backend', echo.address]);
  t.same(lb.listening.map((l) => l.address), ['127.0.0.1', '::1']);
  for (const [i, host] of [[0, '127.0.0.1'], [1, '::1']] as const) {
    const c = await tracked(t, lb.ports[i]!, host);
    c.write(`via ${host}\n`);
    t.equal(await c.readLine(), `via ${host}`);
    c.destroy();
  }
});
