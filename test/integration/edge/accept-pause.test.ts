/**
 * src/l4/listener.ts, when accept() runs out of descriptors. libuv sheds
 * load by itself while it holds its reserve descriptor; when it cannot, it
 * reports EMFILE/ENFILE and calls accept() again at once, in a loop that
 * only ends when the listening handle closes. That case cannot be provoked
 * on cue from outside (it needs the reserve lost to another thread, or the
 * whole system out of descriptors), so the error is emitted on the real
 * listening server here, as libuv's callback would, and what the listener
 * does is checked over real sockets: it closes its handle (connects are
 * refused: nothing left to spin on), reports the pause, and binds the same
 * port again after 100 ms, doubling while it keeps happening; a port taken
 * meanwhile is retried.
 */
import t from 'tap';
import net from 'node:net';
import type { Socket } from 'node:net';
import { Listener, type ListenerHandler } from '../../../src/l4/listener.js';
import { isListening, waitUntil } from '../../helpers/edge.js';

function emfile(code = 'EMFILE'): NodeJS.ErrnoException {
  return Object.assign(new Error(`accept ${code}`), { code, errno: -24, syscall: 'accept' });
}

function handler(): ListenerHandler & { pauses: number[]; serverErrors: string[]; clients: number } {
  const h = {
    pauses: [] as number[],
    serverErrors: [] as string[],
    clients: 0,
    admit: () => true,
    onClient(s: Socket) {
      h.clients++;
      s.destroy();
    },
    onTlsError() {},
    onServerError(err: Error) {
      h.serverErrors.push((err as NodeJS.ErrnoException).code ?? err.message);
    },
    onAcceptPaused(_err: NodeJS.ErrnoException, _l: Listener, pauseMs: number) {
      h.pauses.push(pauseMs);
    },
  };
  return h;
}

t.test('EMFILE from accept: the listener stops accepting for a moment, then serves on the same port', async (t) => {
  const h = handler();
  const l = new Listener({ host: '127.0.0.1', port: 0 }, null, h);
  await l.listen();
  t.teardown(() => l.close());
  const port = l.port;
  t.ok(await isListening(port), 'listening');

  l.server.emit('error', emfile());
  t.same(h.pauses, [100], 'paused for 100 ms, reported once');
  t.same(h.serverErrors, [], 'not reported as a listener error');
  t.equal(l.accepting, false, 'the listening handle is closed');
  t.equal(await isListening(port), false, 'connects are refused meanwhile');
  await waitUntil(() => l.accepting, 10_000, 'listening again');
  t.equal(l.port, port, 'on the same port');
  t.ok(await isListening(port), 'accepting again');
  await waitUntil(() => h.clients >= 2, 10_000, 'clients handed on');

  l.server.emit('error', emfile('ENFILE'));
  t.same(h.pauses, [100, 200], 'again soon after: paused twice as long');
  t.equal(l.stats.pauses, 2, 'counted');
  await waitUntil(() => l.accepting, 10_000, 'listening again');
});

t.test('the port taken during the pause: reported, and retried until it is free', async (t) => {
  const h = handler();
  const l = new Listener({ host: '127.0.0.1', port: 0 }, null, h);
  await l.listen();
  t.teardown(() => l.close());
  const port = l.port;
  l.server.emit('error', emfile());
  const intruder = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => intruder.listen(port, '127.0.0.1', resolve));
  await waitUntil(() => h.serverErrors.includes('EADDRINUSE'), 10_000, 'the failed bind reported');
  t.ok(h.pauses.length >= 2, 'paused again');
  await new Promise<void>((resolve) => intruder.close(() => resolve()));
  await waitUntil(() => l.accepting, 10_000, 'listening again once the port is free');
  t.equal(l.port, port);
  t.ok(await isListening(port));
});

t.test('close() during a pause: it stays closed', async (t) => {
  const h = handler();
  const l = new Listener({ host: '127.0.0.1', port: 0 }, null, h);
  await l.listen();
  const port = l.port;
  l.server.emit('error', emfile());
  l.close();
  // longer than the pause: nothing binds again
  await new Promise((r) => setTimeout(r, 400));
  t.equal(l.accepting, false);
  t.equal(await isListening(port), false);
});

t.test('other listener errors are reported, not paused on', async (t) => {
  const h = handler();
  const l = new Listener({ host: '127.0.0.1', port: 0 }, null, h);
  await l.listen();
  t.teardown(() => l.close());
  l.server.emit('error', Object.assign(new Error('accept EPERM'), { code: 'EPERM' }));
  t.same(h.serverErrors, ['EPERM']);
  t.same(h.pauses, []);
  t.equal(l.accepting, true);
});
