/**
 * Backpressure (docs/reference.md, "Streaming (L4)"): a backend streams 256 MiB to a client that
 * first does not read, then reads slowly, then fast. lb4 must stop reading
 * from the backend while the client is slow, so its RSS stays within 64 MiB
 * of what it was before, and every byte arrives in order.
 */
import t from 'tap';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { sinkBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { rssBytes, waitAccess, within } from '../../helpers/l4-e2e.js';

const MiB = 1024 * 1024;

t.test('256 MiB to a slow reader keeps lb4 RSS growth under 64 MiB', async (t) => {
  const total = 256 * MiB;
  const sink = await sinkBackend({ writeOnConnect: total });
  t.teardown(() => sink.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${sink.address},name=sink`]);
  const pid = lb.proc.pid!;

  // Warm up the data path with one small connection so JIT and lazily
  // allocated buffers are in the baseline, then measure it.
  const warm = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  await once(warm, 'connect');
  await sink.waitForAccepted(1);
  warm.destroy();
  await waitAccess(lb, 1);
  const baseline = rssBytes(pid);

  let peak = baseline;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // lb4 gone: the assertions below will say so
    }
  }, 20);
  t.teardown(() => clearInterval(sampler));

  const sock = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  t.teardown(() => sock.destroy());
  sock.pause();
  await once(sock, 'connect');
  const hash = createHash('sha256');
  let received = 0;
  sock.on('data', (d: Buffer) => {
    received += d.length;
    hash.update(d);
  });
  sock.pause();
  const ended = new Promise<void>((resolve, reject) => {
    sock.once('end', resolve);
    sock.once('error', reject);
  });
  await sink.waitForAccepted(2);
  const conn = sink.conns[1]!;

  // Phase 1: not reading at all for 1 s. The backend must be held back.
  await new Promise((r) => setTimeout(r, 1_000));
  const sentWhilePaused = conn.bytesSent;
  t.ok(sentWhilePaused < 48 * MiB, `the backend was held back while the client did not read (${(sentWhilePaused / MiB).toFixed(1)} MiB of 256 sent)`);
  t.equal(received, 0);

  // Phase 2: read slowly for 2 s: one chunk, then a 10 ms pause.
  const slowUntil = Date.now() + 2_000;
  await new Promise<void>((resolve) => {
    const onData = (): void => {
      sock.pause();
      if (Date.now() >= slowUntil) {
        sock.off('data', onData);
        resolve();
        return;
      }
      setTimeout(() => sock.resume(), 10);
    };
    sock.on('data', onData);
    sock.resume();
  });
  t.ok(received < total, `still slow after 2 s (${(received / MiB).toFixed(1)} MiB read)`);
  t.ok(conn.bytesSent - received < 48 * MiB, `the backend stays close to the reader (${((conn.bytesSent - received) / MiB).toFixed(1)} MiB in flight)`);

  t.comment(`lb4 RSS peak so far (paused and slow phases): +${((peak - baseline) / MiB).toFixed(1)} MiB`);

  // Phase 3: read the rest as fast as possible.
  sock.resume();
  await within(ended, 60_000, `the rest of the stream (have ${received} of ${total})`);
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));

  t.equal(received, total, 'every byte arrived');
  await sink.waitForDone(1, 10_000);
  t.equal(hash.digest('hex'), conn.sha256Sent, 'sha256 equals what the backend sent');
  const growth = peak - baseline;
  t.ok(growth < 64 * MiB, `lb4 RSS grew by ${(growth / MiB).toFixed(1)} MiB (baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB)`);
  const lines = await waitAccess(lb, 2);
  t.equal(lines[1]!.bytes_out, total, 'access log bytes_out');
});
