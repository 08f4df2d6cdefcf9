/**
 * Interoperability with HAProxy (skipped when haproxy is not installed):
 * HAProxy `send-proxy-v2` in front of lb4 `--accept-proxy`, and lb4
 * `--send-proxy v2` in front of HAProxy `accept-proxy` forwarding to an echo
 * backend. HAProxy runs with `-db` and a config in a temporary directory.
 */
import t from 'tap';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoBackend } from '../../helpers/backends.js';
import { attachHelpers, connect } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { freePort, haproxyPath, proxyBackend, startHaproxy } from '../../helpers/tls-proxy.js';

const bin = haproxyPath();

const defaults = ['global', '  maxconn 100', 'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s', ''];

t.test('HAProxy send-proxy-v2 → lb4 --accept-proxy', { skip: bin === null ? 'haproxy not installed' : false }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--access-log', '--health-check', 'off', '--backend', echo.address]);
  const dir = mkdtempSync(join(tmpdir(), 'lb4-haproxy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hport = await freePort();
  const hp = await startHaproxy(bin!, dir, [...defaults, 'frontend f', `  bind 127.0.0.1:${hport}`, '  default_backend b', 'backend b', `  server lb4 127.0.0.1:${lb.ports[0]} send-proxy-v2`, ''].join('\n'), hport);
  t.teardown(() => hp.kill('SIGKILL'));
  const s = attachHelpers(net.connect({ port: hport, host: '127.0.0.1', localAddress: '127.0.0.7' }));
  t.teardown(() => s.destroy());
  s.write('through haproxy and lb4\n');
  t.equal(await s.readLine(), 'through haproxy and lb4');
  s.end();
  await s.waitClose();
  const l = await lb.waitForLog((x) => x.msg === 'connection');
  t.equal(l.client_ip, '127.0.0.7', 'lb4 logs the client HAProxy saw');
  t.equal(l.bytes_in, 24);
});

t.test('lb4 --send-proxy v2 → HAProxy accept-proxy', { skip: bin === null ? 'haproxy not installed' : false }, async (t) => {
  // HAProxy accepts the header and passes the client on with send-proxy (v1)
  // to a backend that parses it: the client lb4 saw crosses both hops.
  const be = await proxyBackend();
  t.teardown(() => be.close());
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const dir = mkdtempSync(join(tmpdir(), 'lb4-haproxy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hport = await freePort();
  const hport2 = await freePort();
  const hp = await startHaproxy(bin!, dir, [
    ...defaults,
    'frontend f', `  bind 127.0.0.1:${hport} accept-proxy`, '  default_backend b',
    'backend b', `  server p 127.0.0.1:${be.port} send-proxy`,
    'frontend plain', `  bind 127.0.0.1:${hport2} accept-proxy`, '  default_backend e',
    'backend e', `  server echo ${echo.address}`,
    '',
  ].join('\n'), hport2);
  t.teardown(() => hp.kill('SIGKILL'));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--send-proxy', 'v2', '--health-check', 'off', '--backend', `127.0.0.1:${hport}`]);
  const s = attachHelpers(net.connect({ port: lb.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.8' }));
  t.teardown(() => s.destroy());
  const h = JSON.parse(await s.readLine());
  t.equal(h.src, '127.0.0.8', 'HAProxy took the client from our v2 header');
  t.equal(h.dst, '127.0.0.1');
  t.equal(h.dport, lb.ports[0], 'and the destination (our listener)');

  // and plain data through HAProxy accept-proxy to an echo backend
  const lb2 = await withLb4(t, ['--listen', '127.0.0.1:0', '--send-proxy', 'v2', '--health-check', 'off', '--backend', `127.0.0.1:${hport2}`]);
  const c = await connect(lb2.ports[0]!);
  t.teardown(() => c.destroy());
  c.write('via haproxy accept-proxy\n');
  t.equal(await c.readLine(), 'via haproxy accept-proxy');
});
