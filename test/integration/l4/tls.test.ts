/**
 * TLS termination (docs/reference.md, "Settings" `--tls-cert/--tls-key`, section 3
 * `tls-error`): a verifying Node client and `openssl s_client` reach a plain
 * echo backend through lb4; a plain-TCP client that sends garbage is closed,
 * logged, and lb4 keeps serving.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { echoBackend } from '../../helpers/backends.js';
import { makeCerts } from '../../helpers/certs.js';
import { tlsConnect } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { tracked, waitAccess, within } from '../../helpers/l4-e2e.js';

t.test('TLS termination to a plain echo backend', async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.cleanup());
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--health-check', 'off',
    '--tls-cert', certs.cert,
    '--tls-key', certs.key,
    '--access-log',
    '--backend', `${echo.address},name=echo`,
  ]);
  const port = lb.ports[0]!;
  t.equal(lb.listening.length, 1);
  t.equal(lb.listening[0]!.tls, true, 'listening line says "tls":true');
  t.equal(lb.listening[0]!.mode, 'l4');
  t.equal(lb.listening[0]!.address, '127.0.0.1');

  t.test('Node TLS client, verifying the certificate with the CA', async (t) => {
    const c = await tlsConnect(port, { ca: certs.ca, servername: 'localhost' });
    t.teardown(() => c.destroy());
    t.equal(c.authorized, true, 'certificate verified for localhost');
    c.write('hello over tls\n');
    t.equal(await c.readLine(), 'hello over tls');
    c.end('last words');
    t.equal((await c.readUntilEnd()).toString(), 'last words', 'half-close over TLS: echo after our end');
    await c.waitClose();
    const lines = await waitAccess(lb, 1);
    const l = lines[lines.length - 1]!;
    t.equal(l.backend, 'echo');
    t.equal(l.bytes_in, 25, 'decrypted bytes counted');
    t.equal(l.bytes_out, 25);
    t.equal(l.end, 'client-close');
  });

  t.test('openssl s_client', async (t) => {
    const p = spawn(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-quiet',
        '-CAfile', certs.ca, '-verify_return_error', '-no_ign_eof'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const killer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    t.teardown(() => {
      clearTimeout(killer);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdin.on('error', () => {});
    const exited = new Promise<number | null>((resolve) => p.once('close', (code) => resolve(code)));
    const echoed = new Promise<void>((resolve) => {
      p.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('through openssl\n')) resolve();
      });
    });
    p.stdin.write('through openssl\n');
    await within(echoed, 20_000, `openssl echo (stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(err)})`);
    p.stdin.end();
    const code = await within(exited, 20_000, 'openssl exit after stdin end');
    t.equal(code, 0, `openssl s_client exits 0 (stderr: ${err.trim()})`);
    t.equal(out, 'through openssl\n', 'the line came back through lb4');
    t.match(err, /verify return:1/, 'openssl verified the chain');
    const lines = await waitAccess(lb, 2);
    t.equal(lines[1]!.bytes_in, 16, 'openssl session logged with its bytes');
    t.equal(lines[1]!.bytes_out, 16);
    t.equal(lines[1]!.end, 'client-close');
  });

  t.test('plain TCP garbage on the TLS port is closed and logged', async (t) => {
    const before = lb.logsMatching((l) => l.msg === 'connection').length;
    const c = await tracked(t, port);
    const localPort = c.localPort!;
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    c.on('error', () => {});
    await c.waitClose(15_000);
    t.equal(echo.accepted, 2, 'the backend saw nothing of it');
    const l = await lb.waitForLog((x) => x.msg === 'connection' && x.end === 'tls-error', 15_000, 0);
    t.equal(lb.logsMatching((x) => x.msg === 'connection').length, before + 1, 'one access line');
    t.equal(l.client, `127.0.0.1:${localPort}`, 'client is the peer ip:port');
    t.equal(l.client_ip, '127.0.0.1');
    t.equal(l.backend, null);
    t.equal(l.bytes_in, 0);
    t.equal(l.bytes_out, 0);
    t.equal(l.retries, 0);
    t.type(l.duration_ms, 'number');

    // Still serving.
    t.equal(lb.hasExited, false, 'lb4 is still running');
    const ok = await tlsConnect(port, { ca: certs.ca });
    t.teardown(() => ok.destroy());
    ok.write('still up\n');
    t.equal(await ok.readLine(), 'still up');
    ok.end();
    await ok.waitClose();
  });
});

t.test('TLS client handshake with an untrusted name fails cleanly; lb4 stays up', async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.cleanup());
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--health-check', 'off', '--tls-cert', certs.cert, '--tls-key', certs.key, '--backend', echo.address]);
  await t.rejects(tlsConnect(lb.ports[0]!, { ca: certs.ca, servername: 'not-this.test' }), 'name mismatch is refused by the client');
  // A client that offers only TLS 1.1 is refused by lb4 (minimum TLSv1.2).
  await t.rejects(tlsConnect(lb.ports[0]!, { ca: certs.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }), 'TLS 1.1 refused');
  const c = await tlsConnect(lb.ports[0]!, { ca: certs.ca });
  t.teardown(() => c.destroy());
  c.write('ok\n');
  t.equal(await c.readLine(), 'ok');
  t.equal(echo.accepted, 1, 'only the good client reached the backend');
});
