/**
 * docs/reference.md, "Streaming (L4)" half-close, for a client that ends before its backend
 * connect completed (a port probe, a client that sends and closes at once):
 * the backend must still see the FIN, and the tunnel must end. Found by the
 * benchmark harness: a probe through lb4 left iperf3's server waiting on a
 * backend connection that never ended (until --idle-timeout).
 */
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { withLb4 } from '../../helpers/lb4.js';
import { tcpBackend } from '../../helpers/backends.js';
import { waitAccess, within } from '../../helpers/l4-e2e.js';

t.test('a client FIN sent while lb4 is still connecting reaches the backend', async (t) => {
  const seen: string[] = [];
  // each backend connection answers `reply` to the FIN it gets, then calls `onEnd`
  let reply = 'bye';
  let onEnd!: () => void;
  const backendEnded = new Promise<void>((r) => (onEnd = r));
  const server = await tcpBackend(
    t,
    (s) => {
      s.on('data', (d: Buffer) => seen.push(d.toString()));
      s.on('end', () => {
        s.end(reply);
        onEnd();
      });
    },
    { allowHalfOpen: true },
  );
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${server.address},name=b`]);

  // connect, write, end at once: the FIN reaches lb4 before the backend connect completes
  const c = net.connect({ port: lb.ports[0]!, host: '127.0.0.1', allowHalfOpen: true });
  t.teardown(() => c.destroy());
  let got = '';
  c.on('data', (d: Buffer) => (got += d));
  c.on('connect', () => c.end('hello'));
  await within(backendEnded, 15_000, 'the backend sees the client FIN');
  t.equal(seen.join(''), 'hello', 'the bytes before the FIN arrived');
  await within(once(c, 'end'), 15_000, 'the backend reply and its FIN reach the client');
  t.equal(got, 'bye');
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.end, 'client-close');

  // and with no byte at all (a port probe)
  const before = seen.length;
  reply = '';
  const backendEnded2 = new Promise<void>((r) => (onEnd = r));
  const probe = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  t.teardown(() => probe.destroy());
  probe.on('error', () => {});
  probe.on('connect', () => probe.end());
  await within(backendEnded2, 15_000, 'the backend sees the probe FIN');
  t.equal(seen.length, before, 'no bytes');
  await waitAccess(lb, 2);
});
