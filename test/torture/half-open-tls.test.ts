/**
 * Torture 3: a half-open TLS storm. 10,000 clients leave lb4 during their
 * TLS handshake, 500 at a time, in four ways in turn (nothing sent; half a
 * ClientHello, then FIN; a whole one, then FIN; 40 bytes and a reset:
 * handshakeStorm in test/helpers/edge.ts), with --handshake-timeout at
 * 120 s, so whatever closes them is not the timeout.
 *
 * In make test this is test/integration/edge/tls-handshakes.test.ts (1,000
 * clients); here only at full scale (make torture).
 *
 * Checked: every client is closed by lb4 (none left waiting), nothing of
 * lb4's in CLOSE-WAIT, no handshake left counted, descriptors back to the
 * baseline, the admin API answered throughout, and a real TLS client is
 * served afterwards. Reported: clients per second, the slowest /stats.
 */
import t from 'tap';
import { echoBackend } from '../helpers/backends.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { tlsConnect } from '../helpers/clients.js';
import { withLb4 } from '../helpers/lb4.js';
import { captureClientHello } from '../helpers/tls-proxy.js';
import { fdCount, handshakeStorm, raiseOwnNofile, socketsInState, waitUntil, watchAdmin } from '../helpers/edge.js';
import { count, report, SCALE, secs, statsOf } from '../helpers/torture.js';

const N = 10_000;

t.test(
  `${count(N)} clients leaving mid-handshake`,
  { skip: SCALE === 'short' ? 'covered in make test by test/integration/edge/tls-handshakes.test.ts; full size under make torture' : false },
  async (t) => {
    raiseOwnNofile(4_000);
    const certs: TestCerts = await makeCerts();
    t.teardown(() => certs.cleanup());
    const hello = await captureClientHello('localhost');
    const echo = await echoBackend();
    t.teardown(() => echo.close());
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0',
      '--tls-cert', certs.cert, '--tls-key', certs.key, '--handshake-timeout', '120s'], { coverage: false, timeoutMs: 60_000 });
    const port = lb.ports[0]!;
    const pid = lb.proc.pid!;
    const warm = await tlsConnect(port, { ca: certs.ca, timeoutMs: 15_000 });
    warm.write('warm\n');
    t.equal(await warm.readLine(15_000), 'warm', 'a TLS client is served');
    warm.end();
    await warm.waitClose(15_000);
    await waitUntil(async () => (await statsOf(lb)).listeners[0].active === 0, 15_000, 'warm-up closed');
    const baseFds = fdCount(pid);

    const watch = watchAdmin(lb.adminPort!, 200);
    t.teardown(() => watch.stop());
    const t0 = performance.now();
    await handshakeStorm(port, N, hello, 300_000, undefined, 500);
    const ms = performance.now() - t0;
    const admin = await watch.stop();
    t.pass(`all ${count(N)} closed by lb4 in ${secs(ms)}`);
    await waitUntil(() => fdCount(pid) <= baseFds, 60_000, `lb4's descriptors back to ${baseFds}`, () => fdCount(pid));
    t.equal(socketsInState('close-wait', port), 0, 'no socket of lb4 in CLOSE-WAIT');
    const st = (await statsOf(lb)).listeners[0];
    t.equal(st.handshakes, 0, 'no handshake left under way');
    t.equal(st.active, 0, 'no client connection counted');
    t.equal(admin.failures, 0, `the admin API answered throughout (${admin.answers} answers${admin.firstFailure ? `; ${admin.firstFailure}` : ''})`);
    const ok = await tlsConnect(port, { ca: certs.ca, timeoutMs: 15_000 });
    t.teardown(() => ok.destroy());
    ok.write('after\n');
    t.equal(await ok.readLine(15_000), 'after', 'a TLS client is served afterwards');

    report(t, {
      scenario: '3 half-open TLS storm',
      load: `${count(N)} clients leaving mid-handshake (4 ways), 500 at a time`,
      figures: {
        'all closed in': `${secs(ms)} (${count(Math.round(N / (ms / 1000)))} clients/s)`,
        'fds after': `${fdCount(pid)} (baseline ${baseFds})`,
        'CLOSE-WAIT': '0',
        'slowest /stats': `${admin.maxMs.toFixed(0)} ms (${admin.answers} answers)`,
      },
    });
  },
);
