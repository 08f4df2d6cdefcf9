/**
 * The streaming promises (docs/reference.md, "Streaming (L4)"), end to end: bytes unchanged both ways
 * (64 MiB with sha256), half-close in each direction, server speaks first,
 * and a reset on one side closes the other without hurting lb4.
 */
import t from 'tap';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { echoBackend, namedBackend, sinkBackend, tcpBackend } from '../../helpers/backends.js';
import { attachHelpers } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { echoThrough, sha256, tracked, waitAccess } from '../../helpers/l4-e2e.js';

t.test('64 MiB of random bytes both ways, sha256 equal', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=echo`]);
  const total = 64 * 1024 * 1024;
  const r = await echoThrough(t, lb.ports[0]!, total, () => 256 * 1024, 30_000);
  t.equal(r.received, total, 'every byte came back');
  t.equal(r.receivedSha256, r.sentSha256, 'sha256 of what came back equals what was sent');
  t.equal(echo.bytesReceived, total, 'the backend received every byte');
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.bytes_in, total, 'access log bytes_in');
  t.equal(l!.bytes_out, total, 'access log bytes_out');
  t.equal(l!.end, 'client-close');
});

t.test('half-close: the client ends first; the backend still answers', async (t) => {
  let backendSawEnd = false;
  let received = '';
  const server = await tcpBackend(
    t,
    (s) => {
      s.setEncoding('utf8');
      s.on('data', (d: string) => (received += d));
      s.on('end', () => {
        backendSawEnd = true;
        // Our read half is done; we may still write.
        s.write(`got ${received.length} bytes: ${received}\n`);
        setImmediate(() => s.end('bye\n'));
      });
    },
    { allowHalfOpen: true },
  );
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${server.address},name=hc`]);

  const c = await tracked(t, lb.ports[0]!, '127.0.0.1', { allowHalfOpen: true });
  c.end('question');
  t.equal(await c.readLine(), 'got 8 bytes: question', 'data sent after the backend saw our FIN reaches us');
  t.equal(backendSawEnd, true, 'the backend saw the end of our write half');
  t.equal(await c.readLine(), 'bye');
  t.equal((await c.readUntilEnd()).length, 0, 'then the backend end reaches us');
  const info = await c.waitClose();
  t.equal(info.hadError, false, 'clean close, no reset');
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.end, 'client-close', 'the client ended first');
  t.equal(l!.bytes_in, 8);
  t.equal(l!.bytes_out, 'got 8 bytes: question\nbye\n'.length);
});

t.test('half-close: the backend ends first; the client still sends', async (t) => {
  const banner = Buffer.from('all I have to say\n');
  const sink = await sinkBackend({ writeOnConnect: banner });
  t.teardown(() => sink.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${sink.address},name=sink`]);

  const c = await tracked(t, lb.ports[0]!, '127.0.0.1', { allowHalfOpen: true });
  t.equal(await c.readLine(), 'all I have to say');
  t.equal((await c.readUntilEnd()).length, 0, 'the client sees the backend end');
  t.equal(c.readEnded, true);
  // Our write half is still open: send after the backend's FIN.
  const more = randomBytes(300_000);
  c.write(more.subarray(0, 1000));
  c.end(more.subarray(1000));
  const r = await sink.waitForDone(0);
  t.equal(r.bytesReceived, more.length, 'the backend received everything sent after its FIN');
  t.equal(r.sha256Received, sha256(more));
  t.equal((await c.waitClose()).hadError, false);
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.end, 'backend-close', 'the backend ended first');
  t.equal(l!.bytes_in, more.length);
  t.equal(l!.bytes_out, banner.length);
});

t.test('server speaks first: the banner arrives without the client sending anything', async (t) => {
  const b = await namedBackend('banner-220');
  t.teardown(() => b.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--backend', b.address]);
  const c = await tracked(t, lb.ports[0]!);
  t.equal(await c.readLine(), 'banner-220', 'banner received');
  t.equal(b.bytesReceived, 0, 'the client sent nothing');
  c.write('then we talk\n');
  t.equal(await c.readLine(), 'then we talk');
  c.end();
  await c.readUntilEnd();
});

t.test('a reset on either side closes the other; lb4 keeps serving', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=echo`]);
  const port = lb.ports[0]!;

  // The backend resets: the client is closed.
  const c1 = await tracked(t, port);
  c1.write('x\n');
  t.equal(await c1.readLine(), 'x');
  await echo.waitForConnections(1);
  for (const s of echo.sockets) s.resetAndDestroy();
  await c1.waitClose();
  const l1 = await lb.waitForLog((l) => l.msg === 'connection');
  t.equal(l1.end, 'backend-error', 'a backend reset is logged as backend-error');

  // The client resets: the backend connection is closed.
  const sock = attachHelpers(net.connect({ port, host: '127.0.0.1' }));
  t.teardown(() => sock.destroy());
  await once(sock, 'connect');
  sock.write('y\n');
  t.equal(await sock.readLine(), 'y');
  await echo.waitForConnections(1);
  sock.resetAndDestroy();
  await echo.waitForConnections(0);
  const lines = await waitAccess(lb, 2);
  t.equal(lines[1]!.end, 'client-error', 'a client reset is logged as client-error');

  const c3 = await tracked(t, port);
  c3.write('still\n');
  t.equal(await c3.readLine(), 'still', 'lb4 still serves');
});
