/**
 * Terminating TLS, done properly: certificates chosen by SNI (config
 * `certificates:` and --tls-cert-dir) with a default, re-read on SIGHUP;
 * ALPN; TLS 1.2 floor; session resumption; mTLS with the verified subject
 * passed on in the PROXY v2 SSL TLV; --accept-proxy before the handshake;
 * upstream TLS with verification on by default (--backend-tls-insecure to
 * skip), used by health checks too.
 */
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoBackend } from '../../helpers/backends.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { attachHelpers, tlsConnect } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { makeClientCert, proxyBackend, tlsNamedBackend } from '../../helpers/tls-proxy.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function certsFor(t: { teardown(fn: () => void): void }, name: string): Promise<TestCerts> {
  const c = await makeCerts({ names: [name], commonName: name });
  t.teardown(() => c.cleanup());
  return c;
}

t.test('certificates by SNI, ALPN, TLS floor, resumption, SIGHUP reload', async (t) => {
  const def = await certsFor(t, 'default.test');
  const b = await certsFor(t, 'b.test');
  const c = await certsFor(t, 'c.test');
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const dir = tmp(t);
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  copyFileSync(c.cert, join(certDir, 'c.test.crt'));
  copyFileSync(c.key, join(certDir, 'c.test.key'));
  const bCert = join(dir, 'b.crt');
  const bKey = join(dir, 'b.key');
  copyFileSync(b.cert, bCert);
  copyFileSync(b.key, bKey);
  const cfg = join(dir, 'lb4.yaml');
  writeFileSync(cfg, ['certificates:', `  - {cert: "${bCert}", key: "${bKey}"}`, `backends: ["${echo.address}"]`, 'healthCheck: off', ''].join('\n'));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--config', cfg, '--tls-cert', def.cert, '--tls-key', def.key, '--tls-cert-dir', certDir, '--alpn', 'h2,http/1.1']);
  const port = lb.ports[0]!;

  t.test('the default certificate', async (t) => {
    const s = await tlsConnect(port, { ca: def.ca, servername: 'default.test' });
    t.teardown(() => s.destroy());
    t.equal(s.authorized, true);
    const other = await tlsConnect(port, { ca: def.ca, servername: 'unknown.test', rejectUnauthorized: false });
    t.teardown(() => other.destroy());
    t.match(other.getPeerCertificate().subject.CN, 'default.test', 'an unknown name gets the default certificate');
  });
  t.test('config certificates: b.test', async (t) => {
    const s = await tlsConnect(port, { ca: b.ca, servername: 'b.test' });
    t.teardown(() => s.destroy());
    t.equal(s.authorized, true, 'b.test served its own certificate');
    s.write('via b\n');
    t.equal(await s.readLine(), 'via b');
  });
  t.test('--tls-cert-dir: c.test', async (t) => {
    const s = await tlsConnect(port, { ca: c.ca, servername: 'c.test' });
    t.teardown(() => s.destroy());
    t.equal(s.authorized, true);
  });
  t.test('ALPN from --alpn', async (t) => {
    const s = await tlsConnect(port, { ca: def.ca, servername: 'default.test', ALPNProtocols: ['http/1.1'] });
    t.teardown(() => s.destroy());
    t.equal(s.alpnProtocol, 'http/1.1');
    const s2 = await tlsConnect(port, { ca: def.ca, servername: 'default.test', ALPNProtocols: ['h2', 'http/1.1'] });
    t.teardown(() => s2.destroy());
    t.equal(s2.alpnProtocol, 'h2', 'server order');
  });
  t.test('TLS 1.1 is refused', async (t) => {
    await t.rejects(tlsConnect(port, { ca: def.ca, servername: 'default.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  });
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    t.test(`session resumption (${v})`, async (t) => {
      const first = await tlsConnect(port, { ca: def.ca, servername: 'default.test', maxVersion: v });
      t.equal(first.getProtocol(), v);
      let session: Buffer | undefined;
      first.on('session', (s: Buffer) => (session = s));
      first.write('x\n');
      await first.readLine();
      // TLS 1.2 hands the session over during the handshake: take it from the socket
      session ??= first.getSession();
      first.end();
      await first.waitClose();
      t.ok(session, 'got a session to resume');
      const again = tls.connect({ port, host: '127.0.0.1', servername: 'default.test', ca: readFileSync(def.ca), session, maxVersion: v });
      t.teardown(() => again.destroy());
      await new Promise((resolve, reject) => {
        again.once('secureConnect', resolve);
        again.once('error', reject);
      });
      t.equal(again.isSessionReused(), true, 'the reconnecting client skipped the full handshake');
    });
  }
  t.test('SIGHUP re-reads the SNI certificates', async (t) => {
    const b2 = await certsFor(t, 'b.test');
    copyFileSync(b2.cert, bCert);
    copyFileSync(b2.key, bKey);
    const since = lb.logs.length;
    lb.kill('SIGHUP');
    await lb.waitForLog((l) => l.msg === 'certificates reloaded', 15_000, since);
    const s = await tlsConnect(port, { ca: b2.ca, servername: 'b.test' });
    t.teardown(() => s.destroy());
    t.equal(s.authorized, true, 'the new b.test certificate is served');
  });
});

t.test('mTLS: client certificates required; CN passed on in the PROXY v2 SSL TLV', async (t) => {
  const certs = await certsFor(t, 'localhost');
  const client = await makeClientCert(certs, 'client-one');
  const be = await proxyBackend();
  t.teardown(() => be.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-client-ca', certs.ca, '--send-proxy', 'v2', '--alpn', 'http/1.1', '--health-check', 'off', '--access-log', '--backend', be.address]);
  const port = lb.ports[0]!;
  t.test('without a client certificate: refused', async (t) => {
    let failed = false;
    try {
      const s = await tlsConnect(port, { ca: certs.ca });
      // TLS 1.3: the server's verdict arrives after the client's handshake
      s.write('x\n');
      await s.readLine(15_000);
      s.destroy();
    } catch {
      failed = true;
    }
    t.ok(failed, 'no data flows without a client certificate');
  });
  t.test('with one: the backend learns the client CN', async (t) => {
    const s = await tlsConnect(port, { ca: certs.ca, cert: client.cert, key: client.key, ALPNProtocols: ['http/1.1'] });
    t.teardown(() => s.destroy());
    const h = JSON.parse(await s.readLine());
    t.equal(h.cn, 'client-one');
    t.equal(h.authority, 'localhost');
    t.equal(h.alpn, 'http/1.1');
    t.match(h.sslVersion, /^TLSv1\.[23]$/);
    t.equal(h.src, '127.0.0.1');
  });
});

t.test('--accept-proxy on a TLS listener: header first, then the handshake', async (t) => {
  const certs = await certsFor(t, 'localhost');
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--tls-cert', certs.cert, '--tls-key', certs.key, '--accept-proxy', '--access-log', '--health-check', 'off', '--backend', echo.address]);
  const raw = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  await new Promise((r) => raw.once('connect', r));
  raw.write('PROXY TCP4 192.0.2.99 192.0.2.1 4444 443\r\n');
  const s = attachHelpers(tls.connect({ socket: raw, servername: 'localhost', ca: readFileSync(certs.ca) }));
  t.teardown(() => s.destroy());
  await new Promise((resolve, reject) => {
    s.once('secureConnect', resolve);
    s.once('error', reject);
  });
  t.equal(s.authorized, true);
  s.write('decrypted\n');
  t.equal(await s.readLine(), 'decrypted');
  s.end();
  await s.waitClose();
  const l = await lb.waitForLog((x) => x.msg === 'connection');
  t.equal(l.client_ip, '192.0.2.99');
  t.equal(l.bytes_in, 10);

  // a good header followed by plain HTTP: the handshake fails, tls-error
  const since = lb.logs.length;
  const bad = attachHelpers(net.connect({ port: lb.ports[0]!, host: '127.0.0.1' }));
  t.teardown(() => bad.destroy());
  bad.write('PROXY TCP4 192.0.2.100 192.0.2.1 4444 443\r\nGET / HTTP/1.0\r\n\r\n');
  await bad.waitClose();
  const e = await lb.waitForLog((x) => x.msg === 'connection', 15_000, since);
  t.equal(e.end, 'tls-error');
  t.equal(e.client_ip, '192.0.2.100');
});

t.test('upstream TLS', async (t) => {
  const certs = await certsFor(t, 'backend.test');
  const be = await tlsNamedBackend('secure-be', certs);
  t.teardown(() => be.close());
  const dir = tmp(t);

  t.test('per backend tls: true with servername and ca; checks use TLS too', async (t) => {
    const cfg = join(dir, 'up.yaml');
    writeFileSync(cfg, ['healthCheck: tcp', 'healthInterval: 100ms', 'backends:', `  - {address: "${be.address}", name: sec, tls: true, servername: backend.test, ca: "${certs.ca}"}`, ''].join('\n'));
    const before = be.servernames.length;
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--config', cfg, '--access-log']);
    const c = attachHelpers(net.connect({ port: lb.ports[0]!, host: '127.0.0.1' }));
    t.teardown(() => c.destroy());
    t.equal(await c.readLine(), 'secure-be', 'plain client, TLS to the backend');
    c.write('round trip\n');
    t.equal(await c.readLine(), 'round trip');
    t.ok(be.servernames.length > before, 'handshakes reached the backend');
    t.ok(be.servernames.includes('backend.test'), 'SNI = servername');
    const up = await lb.waitForLog((l) => l.msg === 'backend up' || l.msg === 'backend down', 3000).catch(() => null);
    t.not(up?.msg, 'backend down', 'TLS health checks pass');
  });

  t.test('--backend-tls verifies by default: an unknown CA fails', async (t) => {
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend-tls', '--health-check', 'off', '--retries', '0', '--access-log', '--backend', be.address]);
    const c = attachHelpers(net.connect({ port: lb.ports[0]!, host: '127.0.0.1' }));
    t.teardown(() => c.destroy());
    await c.waitClose();
    const l = await lb.waitForLog((x) => x.msg === 'connection');
    t.equal(l.end, 'no-backend');
  });

  t.test('--backend-tls-insecure skips verification, with a warning', async (t) => {
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend-tls', '--backend-tls-insecure', '--health-check', 'off', '--backend', be.address]);
    await lb.waitForLog((l) => l.level === 40 && /not verified/.test(l.msg));
    const c = attachHelpers(net.connect({ port: lb.ports[0]!, host: '127.0.0.1' }));
    t.teardown(() => c.destroy());
    t.equal(await c.readLine(), 'secure-be');
  });

  t.test('PROXY header in clear, then TLS to the backend', async (t) => {
    const pb = await proxyBackend({ tls: { cert: certs.cert, key: certs.key } });
    t.teardown(() => pb.close());
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend-tls', '--backend-tls-ca', certs.ca, '--send-proxy', 'v1', '--health-check', 'off', '--backend', `${pb.address}`]);
    // no servername: the certificate is checked against the backend IP (the test certificate has IP:127.0.0.1)
    const c = attachHelpers(net.connect({ port: lb.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.5' }));
    t.teardown(() => c.destroy());
    const h = JSON.parse(await c.readLine());
    t.equal(h.src, '127.0.0.5');
  });
});
