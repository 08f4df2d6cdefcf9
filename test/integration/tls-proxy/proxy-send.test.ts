/**
 * PROXY protocol send (`--send-proxy v1|v2`, per backend `sendProxy:` in the
 * config file, health checks): a backend that parses the header sees the
 * true client (connected from 127.0.0.5) and lb4's listener as destination;
 * lb4 behind lb4 (v2 → --accept-proxy) keeps the original client through
 * two hops; a check sends v2 LOCAL when the backend gets PROXY headers.
 */
import t from 'tap';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachHelpers } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { proxyBackend } from '../../helpers/tls-proxy.js';

async function fromLocal(port: number, localAddress: string, send?: string): Promise<{ line: string; localPort: number }> {
  const s = attachHelpers(net.connect({ port, host: '127.0.0.1', localAddress }));
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    const localPort = s.localPort!;
    if (send) s.write(send);
    const line = await s.readLine();
    return { line, localPort };
  } finally {
    s.destroy();
  }
}

for (const v of ['v1', 'v2'] as const) {
  t.test(`--send-proxy ${v}: the backend sees the real client`, async (t) => {
    const be = await proxyBackend();
    t.teardown(() => be.close());
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--send-proxy', v, '--health-check', 'off', '--backend', be.address]);
    const { line, localPort } = await fromLocal(lb.ports[0]!, '127.0.0.5');
    const h = JSON.parse(line);
    t.equal(h.cmd, 'PROXY');
    t.equal(h.family, 'TCP4');
    t.equal(h.src, '127.0.0.5', 'source = the client address');
    t.equal(h.sport, localPort, 'source port = the client port');
    t.equal(h.dst, '127.0.0.1', 'destination = the listener address');
    t.equal(h.dport, lb.ports[0]);
    const seen = await be.waitSeen(1);
    t.equal(seen.header!.version, v === 'v1' ? 1 : 2);
  });
}

t.test('lb4 behind lb4: v2 out, --accept-proxy in, the client survives two hops', async (t) => {
  const be = await proxyBackend();
  t.teardown(() => be.close());
  const inner = await withLb4(t, ['--listen', '127.0.0.1:0', '--accept-proxy', '--send-proxy', 'v2', '--access-log', '--health-check', 'off', '--backend', be.address]);
  const outer = await withLb4(t, ['--listen', '127.0.0.1:0', '--send-proxy', 'v2', '--access-log', '--health-check', 'off', '--backend', `127.0.0.1:${inner.ports[0]}`]);
  const { line, localPort } = await fromLocal(outer.ports[0]!, '127.0.0.5');
  const h = JSON.parse(line);
  t.equal(h.src, '127.0.0.5', 'the backend sees the original client');
  t.equal(h.sport, localPort);
  const innerLog = await inner.waitForLog((l) => l.msg === 'connection');
  t.equal(innerLog.client_ip, '127.0.0.5', "the inner lb4's access log has the original client");
  const outerLog = await outer.waitForLog((l) => l.msg === 'connection');
  t.equal(outerLog.client_ip, '127.0.0.5');
});

t.test('per-backend sendProxy in the config file, and health checks send LOCAL', async (t) => {
  const withHeader = await proxyBackend();
  t.teardown(() => withHeader.close());
  const dir = mkdtempSync(join(tmpdir(), 'lb4-sp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'lb4.yaml');
  writeFileSync(cfg, [
    'healthCheck: tcp',
    'healthInterval: 100ms',
    'backends:',
    `  - {address: "${withHeader.address}", name: pp, sendProxy: v2}`,
    '',
  ].join('\n'));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--config', cfg]);
  // the first connections are health checks: v2 LOCAL, no addresses
  const check = await withHeader.waitSeen(1);
  t.equal(check.header?.command, 'LOCAL', 'a check sends a v2 LOCAL header');
  t.equal(check.header?.version, 2);
  const { line } = await fromLocal(lb.ports[0]!, '127.0.0.6');
  t.equal(JSON.parse(line).src, '127.0.0.6', 'client traffic carries the client');
});

t.test('healthCheck sendProxy: false keeps checks plain', async (t) => {
  const be = await proxyBackend();
  t.teardown(() => be.close());
  const dir = mkdtempSync(join(tmpdir(), 'lb4-sp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'lb4.yaml');
  writeFileSync(cfg, ['healthCheck: {type: tcp, send: "PING\\n", sendProxy: false}', 'healthInterval: 100ms', 'sendProxy: v1', `backends: ["${be.address}"]`, ''].join('\n'));
  await withLb4(t, ['--listen', '127.0.0.1:0', '--config', cfg]);
  const seen = await be.waitSeen(1);
  t.equal(seen.header, null, 'the check sent no header');
  t.match(seen.error, /not a PROXY protocol header/);
});
