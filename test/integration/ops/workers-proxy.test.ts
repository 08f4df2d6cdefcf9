/**
 * --workers with --accept-proxy: clients without a valid PROXY header are
 * closed by whichever worker got them, and /stats in the primary sums the
 * listeners' proxy_errors over the workers.
 */
import t from 'tap';
import net from 'node:net';
import { echoBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { statsUntil } from '../../helpers/ops.js';

function sendGarbage(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.setTimeout(5000, () => s.destroy());
  });
}

t.test('proxy errors are summed over the workers', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, [
    '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--accept-proxy',
    '--health-check', 'off', '--backend', echo.address,
  ]);
  const n = 8;
  for (let i = 0; i < n; i++) await sendGarbage(lb.ports[0]!);
  const s = await statsUntil(lb.adminPort!, (x) => x.listeners?.[0]?.proxy_errors === n, 5000, `proxy_errors = ${n}`);
  t.equal(s.listeners[0].proxy_errors, n, 'every rejected client counted once');
  const per = (s.workers as Array<{ connections: { total: number } }>).map((w) => w.connections.total);
  t.equal(per.length, 2);
  t.equal(echo.accepted, 0, 'nothing reached the backend');
});
