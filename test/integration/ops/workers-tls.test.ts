/**
 * --workers with TLS termination: every worker uses the ticket key the
 * primary hands out, so a client resumes its TLS session (no full
 * handshake) whichever worker the kernel gives its next connection to.
 */
import t from 'tap';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { echoBackend } from '../../helpers/backends.js';
import { makeCerts } from '../../helpers/certs.js';
import { withLb4 } from '../../helpers/lb4.js';
import { stats } from '../../helpers/ops.js';

/** One TLS connection: echo a line, return whether the session was resumed and the session to reuse. */
function roundTrip(port: number, ca: Buffer, session: Buffer | undefined, minVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    let reused = false;
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', session, minVersion, maxVersion: minVersion });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('TLS round trip timed out'));
    }, 5000);
    s.on('session', (data: Buffer) => (latest = data));
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('secureConnect', () => {
      reused = s.isSessionReused();
      s.write('ping\n');
    });
    s.on('data', () => {
      // let a TLS 1.3 ticket arrive (it follows the handshake), then close
      setTimeout(() => s.end(), 20);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reused, session: latest ?? session });
    });
  });
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`two workers share TLS ticket keys (${version})`, async (t) => {
    const certs = await makeCerts();
    t.teardown(() => certs.cleanup());
    const echo = await echoBackend();
    t.teardown(() => echo.close());
    const lb = await withLb4(t, [
      '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0',
      '--tls-cert', certs.cert, '--tls-key', certs.key, '--health-check', 'off',
      '--backend', echo.address,
    ]);
    const ca = readFileSync(certs.ca);
    const port = lb.ports[0]!;
    const first = await roundTrip(port, ca, undefined, version);
    t.equal(first.reused, false, 'the first connection makes a full handshake');
    t.ok(first.session, 'the client got a session to resume');
    let session = first.session;
    let reused = 0;
    const n = 12;
    for (let i = 0; i < n; i++) {
      const r = await roundTrip(port, ca, session, version);
      if (r.reused) reused++;
      session = r.session;
    }
    t.equal(reused, n, `every reconnection resumed its session (${reused} of ${n})`);
    const s = await stats(lb.adminPort!);
    const perWorker = (s.workers as Array<{ connections: { total: number } }>).map((w) => w.connections.total);
    t.equal(perWorker.length, 2);
    t.ok(perWorker.every((c) => c > 0), `both workers served connections (${perWorker.join(', ')})`);
  });
}
