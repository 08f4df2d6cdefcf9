/**
 * Settings of the TLS / SNI / PROXY protocol capability: flags and their
 * defaults, per-backend `sendProxy` and `tls` entries, healthCheck
 * `sendProxy`, `certificates:`, and the errors that name the flag or path.
 * Also the pure helpers of src/l4/upstream.ts that decide what a backend gets.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.js';
import { Backend } from '../../src/core/backend.js';
import type { Config } from '../../src/config/types.js';
import { checkProxyHeader, proxyVersionFor, UpstreamOptions } from '../../src/l4/upstream.js';
import type { Backend as B } from '../../src/core/backend.js';

/** TLS options for connecting to `b` under `config`, as a balancer's UpstreamOptions builds them. */
function upstreamTlsOptions(config: Config, b: B): ReturnType<UpstreamOptions['tls']> {
  return new UpstreamOptions(() => config).tls(b);
}
import { parseProxyHeader } from '../../src/l4/proxy-protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'lb4-cfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function fromFile(yaml: string, cli: Record<string, unknown> = {}): { config: Config | null; problems: string[] } {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, yaml);
  const problems: string[] = [];
  const config = buildConfig({ cli: { config: f, ...cli }, env: {} }, problems);
  return { config, problems };
}

t.test('defaults', async (t) => {
  const c = buildConfig({ cli: { backends: ['127.0.0.1:1'] }, env: {} })!;
  t.equal(c.acceptProxy, false);
  t.same(c.acceptProxyFrom, ['127.0.0.0/8', '::1/128'], 'loopback only');
  t.equal(c.peekTimeout, 5000);
  t.equal(c.sniMaxBytes, 16384);
  t.equal(c.sendProxy, null);
  t.equal(c.backendTls, false);
  t.same(c.alpn, []);
  t.equal(c.tlsCiphers, 'ECDHE+AESGCM:ECDHE+CHACHA20');
  t.equal(c.tlsTicketRotation, 3_600_000);
  t.same(c.certificates, []);
});

t.test('flags', async (t) => {
  const c = buildConfig({ cli: { backends: ['127.0.0.1:1'], sendProxy: 'v2', acceptProxy: true, acceptProxyFrom: ['10.0.0.0/8', 'fd00::/8'], alpn: ['h2,http/1.1'] }, env: { LB_SEND_PROXY: 'v1' } })!;
  t.equal(c.sendProxy, 2, 'cli wins over env');
  t.equal(c.acceptProxy, true);
  t.same(c.acceptProxyFrom, ['10.0.0.0/8', 'fd00::/8']);
  t.same(c.alpn, ['h2', 'http/1.1']);
  t.equal(buildConfig({ cli: { backends: ['127.0.0.1:1'] }, env: { LB_SEND_PROXY: 'v1' } })!.sendProxy, 1);
  t.equal(buildConfig({ cli: { backends: ['127.0.0.1:1'], sendProxy: 'off' }, env: {} })!.sendProxy, null);
  t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1'], sendProxy: 'v3' }, env: {} }), /--send-proxy: invalid PROXY protocol version "v3"/);
  t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1'], acceptProxyFrom: ['10.0.0.300/8'] }, env: {} }), /--accept-proxy-from/);
  t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1'], tlsClientCa: '/nonexistent/ca.pem' }, env: {} }), /--tls-client-ca: cannot read/);
  t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1'], tlsCertDir: dir }, env: {} }), /--tls-cert-dir: needs --tls-cert/);
});

t.test('per-backend sendProxy and tls', async (t) => {
  const { config, problems } = fromFile([
    'sendProxy: v1',
    'backends:',
    '  - {address: "127.0.0.1:1", name: a, sendProxy: v2, tls: true, servername: a.test, insecure: true}',
    '  - {address: "127.0.0.1:2", name: b, sendProxy: off, tls: false}',
    '  - {address: "example.org:3", name: c}',
    '',
  ].join('\n'));
  t.same(problems, []);
  const [a, b, c] = config!.pools[0]!.backends.map((s) => new Backend(s));
  t.equal(proxyVersionFor(config!, a!), 2, "the backend's own version wins");
  t.equal(proxyVersionFor(config!, b!), 0, 'off for this backend');
  t.equal(proxyVersionFor(config!, c!), 1, 'else the global one');
  t.match(upstreamTlsOptions(config!, a!), { servername: 'a.test', rejectUnauthorized: false });
  t.equal(upstreamTlsOptions(config!, b!), null);
  t.equal(upstreamTlsOptions(config!, c!), null, 'no --backend-tls');
  // checks follow the backend: v2 LOCAL, v1 UNKNOWN
  const ha = parseProxyHeader(checkProxyHeader(config!, a!)!);
  t.match(ha, { status: 'ok', header: { version: 2, command: 'LOCAL' } });
  t.equal(checkProxyHeader(config!, b!), null);
  t.match(parseProxyHeader(checkProxyHeader(config!, c!)!), { status: 'ok', header: { version: 1, family: 'UNKNOWN' } });
});

t.test('--backend-tls for all: servername from a host name, verification on', async (t) => {
  const { config } = fromFile('backends: ["example.org:443", "127.0.0.1:443"]\n', { backendTls: true });
  const [named, ip] = config!.pools[0]!.backends.map((s) => new Backend(s));
  t.match(upstreamTlsOptions(config!, named!), { servername: 'example.org', rejectUnauthorized: true });
  const o = upstreamTlsOptions(config!, ip!)!;
  t.equal(o.servername, undefined, 'no SNI for an IP address');
  t.equal(o.rejectUnauthorized, true);
});

t.test('healthCheck sendProxy', async (t) => {
  const { config } = fromFile('healthCheck: {type: tcp, sendProxy: true}\nbackends: ["127.0.0.1:1"]\n');
  t.equal(config!.healthCheck.sendProxy, true);
  const b = new Backend(config!.pools[0]!.backends[0]!);
  t.match(parseProxyHeader(checkProxyHeader(config!, b)!), { status: 'ok', header: { version: 2, command: 'LOCAL' } }, 'forced on: v2 LOCAL');
});

t.test('errors name the YAML path', async (t) => {
  const { problems } = fromFile([
    'backends:',
    '  - {address: "127.0.0.1:1", sendProxy: v9}',
    '  - {address: "127.0.0.1:2", servername: x.test}',
    '',
  ].join('\n'));
  t.match(problems.join('\n'), /backends\[0\]\.sendProxy: invalid PROXY protocol version/);
  t.match(problems.join('\n'), /backends\[1\]: servername, ca and insecure need tls: true/);
  const r1 = fromFile('certificates: [{cert: /nonexistent.crt}]\nbackends: ["127.0.0.1:1"]\n');
  t.match(r1.problems.join('\n'), /certificates\[0\]: expected \{cert: FILE, key: FILE\}/);
  const r2 = fromFile('backends:\n  - {address: "127.0.0.1:3", tls: true, ca: /nonexistent.pem}\n');
  t.match(r2.problems.join('\n'), /cannot read \/nonexistent\.pem/);
  const r3 = fromFile('certificates: [{cert: a, key: b}]\nbackends: ["127.0.0.1:1"]\n');
  t.match(r3.problems.join('\n'), /certificates: needs --tls-cert/);
});
