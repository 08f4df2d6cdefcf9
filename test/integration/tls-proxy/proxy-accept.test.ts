/**
 * PROXY protocol accept (`--accept-proxy`, `--accept-proxy-from`,
 * `--peek-timeout`): v1 and v2 headers (auto-detected, also split byte by
 * byte) give the client IP for the access log and hashing, the bytes after
 * the header reach the backend untouched and are the only ones counted;
 * garbage, a missing header, a bad CRC32C, or an untrusted peer close the
 * connection with `end: "proxy-error"`, counted in /stats listeners.
 */
import t from 'tap';
import net from 'node:net';
import { echoBackend } from '../../helpers/backends.js';
import { attachHelpers, connect } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4, type Lb4Process, type LogLine } from '../../helpers/lb4.js';
import { encodeProxyV2, proxyHeaderFor } from '../../../src/l4/proxy-protocol.js';

/** The next access-log line from `since` on that matches. */
function nextAccess(lb: Lb4Process, since: number, pred: (l: LogLine) => boolean = () => true): Promise<LogLine> {
  return lb.waitForLog((l) => l.msg === 'connection' && pred(l), 15_000, since);
}

t.test('accept-proxy from loopback (the default trusted range)', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--access-log', '--admin', '127.0.0.1:0', '--health-check', 'off', '--backend', `${echo.address},name=echo`]);
  const port = lb.ports[0]!;

  t.test('v1 header then data in one write', async (t) => {
    const since = lb.logs.length;
    const c = await connect(port);
    t.teardown(() => c.destroy());
    c.write('PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nhello v1\n');
    t.equal(await c.readLine(), 'hello v1', 'the bytes after the header reach the backend, the header does not');
    c.end();
    await c.waitClose();
    const l = await nextAccess(lb, since);
    t.equal(l.client_ip, '203.0.113.7', 'client_ip is the header source');
    t.match(l.client, /^127\.0\.0\.1:\d+$/, 'client stays the socket peer');
    t.equal(l.bytes_in, 9, 'the consumed header is not counted');
    t.equal(l.end, 'client-close');
  });

  t.test('v2 header (IPv6) split byte by byte, with TLVs', async (t) => {
    const since = lb.logs.length;
    const c = await connect(port);
    t.teardown(() => c.destroy());
    const h = proxyHeaderFor(2, { address: '2001:db8::42', port: 5555 }, { address: '2001:db8::1', port: 443 }, { authority: 'example.test', alpn: 'h2', crc32c: true });
    for (const byte of h) {
      c.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    c.write('after v2\n');
    t.equal(await c.readLine(), 'after v2');
    c.end();
    await c.waitClose();
    const l = await nextAccess(lb, since);
    t.equal(l.client_ip, '2001:db8::42');
    t.equal(l.bytes_in, 9);
  });

  t.test('v2 LOCAL keeps the socket peer', async (t) => {
    const since = lb.logs.length;
    const c = await connect(port);
    t.teardown(() => c.destroy());
    c.write(Buffer.concat([encodeProxyV2({ command: 'LOCAL', family: 'UNKNOWN' }), Buffer.from('local\n')]));
    t.equal(await c.readLine(), 'local');
    c.end();
    await c.waitClose();
    const l = await nextAccess(lb, since);
    t.equal(l.client_ip, '127.0.0.1');
  });

  t.test('garbage instead of a header: closed, proxy-error', async (t) => {
    const since = lb.logs.length;
    const before = echo.accepted;
    const c = await connect(port);
    t.teardown(() => c.destroy());
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitClose();
    const l = await nextAccess(lb, since);
    t.equal(l.end, 'proxy-error');
    t.equal(l.backend, null);
    t.equal(echo.accepted, before, 'no backend connection was made');
  });

  t.test('a v2 header whose CRC32C does not match: proxy-error', async (t) => {
    const since = lb.logs.length;
    const h = Buffer.from(proxyHeaderFor(2, { address: '198.51.100.9', port: 1 }, { address: '127.0.0.1', port: 2 }, { crc32c: true }));
    h[h.length - 1] ^= 0xff; // corrupt the checksum value
    const c = await connect(port);
    t.teardown(() => c.destroy());
    c.write(Buffer.concat([h, Buffer.from('x\n')]));
    await c.waitClose();
    t.equal((await nextAccess(lb, since)).end, 'proxy-error');
  });

  t.test('a truncated v1 line longer than 107 bytes: proxy-error', async (t) => {
    const since = lb.logs.length;
    const c = await connect(port);
    t.teardown(() => c.destroy());
    c.write(`PROXY TCP4 1.2.3.4 5.6.7.8 1 2${' '.repeat(120)}`);
    await c.waitClose();
    t.equal((await nextAccess(lb, since)).end, 'proxy-error');
  });

  t.test('/stats counts proxy errors per listener', async (t) => {
    const r = await getJson(lb.adminPort!, '/stats');
    const listeners = (r.json as { listeners: Array<{ proxy_errors: number }> }).listeners;
    t.equal(listeners[0]!.proxy_errors, 3);
  });
});

t.test('missing header: closed after --peek-timeout', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--peek-timeout', '300ms', '--access-log', '--health-check', 'off', '--backend', echo.address]);
  const c = await connect(lb.ports[0]!);
  t.teardown(() => c.destroy());
  const started = Date.now();
  const info = await c.waitClose(15_000);
  t.ok(Date.now() - started >= 250, 'closed after the timeout');
  t.notOk(info.hadError && info.error?.code !== 'ECONNRESET');
  const l = await nextAccess(lb, 0);
  t.equal(l.end, 'proxy-error');
});

t.test('a peer outside --accept-proxy-from is closed even with a good header', async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--accept-proxy-from', '127.0.0.9/32', '--accept-proxy-from', '10.0.0.0/8', '--access-log', '--health-check', 'off', '--backend', echo.address]);
  const port = lb.ports[0]!;
  // from 127.0.0.1: not trusted
  const c = await connect(port);
  t.teardown(() => c.destroy());
  c.write('PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nhi\n');
  await c.waitClose();
  const l = await nextAccess(lb, 0);
  t.equal(l.end, 'proxy-error');
  t.equal(l.client_ip, '127.0.0.1');
  // from 127.0.0.9: trusted
  const since = lb.logs.length;
  const s = attachHelpers(net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.9' }));
  t.teardown(() => s.destroy());
  s.write('PROXY TCP4 203.0.113.8 192.0.2.1 40000 443\r\nok\n');
  t.equal(await s.readLine(), 'ok');
  s.end();
  await s.waitClose();
  t.equal((await nextAccess(lb, since)).client_ip, '203.0.113.8');
});

t.test('ip-hash hashes the PROXY source, not the peer', async (t) => {
  const { namedBackend } = await import('../../helpers/backends.js');
  const backends = await Promise.all(['a', 'b', 'c', 'd'].map((n) => namedBackend(n)));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--strategy', 'ip-hash', '--health-check', 'off', ...backends.flatMap((b) => ['--backend', `${b.address},name=${b.name}`])]);
  const nameFor = async (ip: string): Promise<string> => {
    const c = await connect(lb.ports[0]!);
    try {
      c.write(`PROXY TCP4 ${ip} 192.0.2.1 40000 443\r\n`);
      return await c.readLine();
    } finally {
      c.destroy();
    }
  };
  const seen = new Set<string>();
  for (let i = 1; i <= 24; i++) {
    const ip = `198.51.100.${i}`;
    const first = await nameFor(ip);
    t.equal(await nameFor(ip), first, `${ip} maps to the same backend`);
    seen.add(first);
  }
  t.ok(seen.size >= 2, `different PROXY sources spread over backends (${[...seen].join(',')})`);
});
