/**
 * The command line (docs/reference.md, "Command line"; docs/reference.md): usage errors exit 2 with one line on
 * stderr naming the problem, a busy port exits 1, --help and --version.
 * Settings precedence and `lb4 check` are in settings.test.ts.
 */
import t from 'tap';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { runLb4 } from '../../helpers/lb4.js';
import { linesOf } from '../../helpers/l4-e2e.js';

const B = '127.0.0.1:6001';

t.test('usage errors: exit 2, exactly one stderr line naming the problem', async (t) => {
  const cases: Array<{ why: string; args: string[]; names: RegExp }> = [
    { why: 'unknown flag', args: ['--backend', B, '--no-such-flag'], names: /--no-such-flag/ },
    { why: 'backend without a port', args: ['--backend', 'nohost'], names: /--backend.*nohost/ },
    { why: 'weight above 1000', args: ['--backend', '127.0.0.1:80,weight=1001'], names: /--backend.*1001/ },
    { why: 'unknown strategy', args: ['--backend', B, '--strategy', 'nope'], names: /--strategy.*nope/ },
    { why: 'unknown mode', args: ['--backend', B, '--mode', 'l5'], names: /--mode.*l5/ },
    { why: 'listen port out of range', args: ['--backend', B, '--listen', '127.0.0.1:99999'], names: /--listen.*99999/ },
    { why: 'no backends at all', args: ['--listen', '127.0.0.1:0'], names: /backend/i },
    { why: 'unreadable certificate', args: ['--backend', B, '--tls-cert', '/nonexistent', '--tls-key', '/nonexistent'], names: /--tls-(cert|key).*\/nonexistent/ },
    { why: 'cert without key', args: ['--backend', B, '--tls-cert', '/nonexistent'], names: /--tls-cert.*--tls-key|--tls-key.*--tls-cert/ },
    { why: 'duplicate backend names', args: ['--backend', '127.0.0.1:6001,name=x', '--backend', '127.0.0.1:6002,name=x'], names: /duplicate.*"?x"?/ },
    { why: 'bad duration', args: ['--backend', B, '--connect-timeout', 'abc'], names: /--connect-timeout.*abc/ },
    { why: 'bad backend name', args: ['--backend', '127.0.0.1:6001,name=a b'], names: /--backend.*name/ },
    { why: 'bad env strategy', args: ['--backend', B], names: /LB_STRATEGY.*bogus/ },
  ];
  // Independent processes: run them at once, check them in order.
  const results = await Promise.all(
    cases.map((c) => runLb4(c.args, { env: c.why === 'bad env strategy' ? { LB_STRATEGY: 'bogus' } : undefined, timeoutMs: 60_000 })),
  );
  for (const [i, c] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, `${c.why}: exit 2`);
    const lines = linesOf(r.stderr);
    t.equal(lines.length, 1, `${c.why}: one stderr line (${JSON.stringify(r.stderr)})`);
    t.match(lines[0] ?? '', c.names, `${c.why}: the line names it`);
    t.notMatch(r.stdout, /"msg":"listening"/, `${c.why}: nothing started`);
  }
});

t.test('port already in use: exit 1, one line', async (t) => {
  const busy = net.createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.teardown(() => new Promise<void>((r) => busy.close(() => r())));
  const port = (busy.address() as net.AddressInfo).port;
  const r = await runLb4(['--listen', `127.0.0.1:${port}`, '--backend', B]);
  t.equal(r.code, 1, 'exit 1');
  const lines = linesOf(r.stderr);
  t.equal(lines.length, 1, `one stderr line (${JSON.stringify(r.stderr)})`);
  t.match(lines[0], new RegExp(`127\\.0\\.0\\.1:${port}`), 'names the address');
  t.match(lines[0], /EADDRINUSE|in use/i, 'says why');
  t.notMatch(r.stdout, /"msg":"listening"/);

  const r2 = await runLb4(['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`, '--backend', B]);
  t.equal(r2.code, 1, 'admin port in use: exit 1');
  t.equal(linesOf(r2.stderr).length, 1, `one stderr line (${JSON.stringify(r2.stderr)})`);
  t.match(r2.stderr, /EADDRINUSE|in use/i);
});

/** docs/reference.md, "Settings": every flag, its default as --help must show it, and its env variable. */
const DOCUMENTED_FLAGS: Array<[flag: string, def: RegExp, env?: string]> = [
  ['--mode', /default: l4\b/, 'LB_MODE'],
  ['--listen', /default: 0\.0\.0\.0:4443/, 'LB_LISTEN'],
  ['--backend', /default: none/, 'LB_BACKENDS'],
  ['--strategy', /default: round-robin/, 'LB_STRATEGY'],
  ['--tls-cert', /default: (none|off)/, 'LB_TLS_CERT'],
  ['--tls-key', /default: (none|off)/, 'LB_TLS_KEY'],
  ['--admin', /default: (none|off)/, 'LB_ADMIN'],
  ['--admin-token', /default: none/, 'LB_ADMIN_TOKEN'],
  ['--health-check', /default: tcp\b/, 'LB_HEALTH_CHECK'],
  ['--health-interval', /default: 2s\b/],
  ['--health-timeout', /default: 1s\b/],
  ['--rise', /default: 2\b/],
  ['--fall', /default: 3\b/],
  ['--max-fails', /default: 3\b/],
  ['--fail-timeout', /default: 10s\b/],
  ['--retries', /default: 2\b/],
  ['--connect-timeout', /default: 5s\b/],
  ['--idle-timeout', /default: 5m\b/],
  ['--max-conns', /default: 0\b/],
  ['--backend-max-conns', /default: 0\b/],
  ['--drain-timeout', /default: 30s\b/],
  ['--access-log', /default: off\b/, 'LB_ACCESS_LOG'],
  ['--log-level', /default: info\b/, 'LB_LOG_LEVEL'],
  ['--config', /default: none/, 'LB_CONFIG'],
  ['--tls-min-version', /default: TLSv1\.2/],
  ['--queue-timeout', /default: 5s\b/],
  ['--max-queue', /default: 1024\b/],
  ['--slow-start', /default: 0\b/],
  ['--trust-proxy', /default: none/],
  ['--hash-key', /default: ip\b/],
  ['--monitor-uri', /default: none/],
  ['--max-header-size', /default: 16384\b/],
  ['--max-headers', /default: 100\b/],
  ['--header-timeout', /default: 10s\b/],
  ['--server-timeout', /default: 60s\b/],
  ['--keepalive-timeout', /default: 60s\b/],
];

t.test('--help lists every flag of docs/reference.md, "Settings" with its default and env', async (t) => {
  const r = await runLb4(['--help']);
  t.equal(r.code, 0, 'exit 0');
  // Group the help into one entry per option (continuation lines folded in).
  const entries: string[] = [];
  for (const line of r.stdout.split('\n')) {
    if (/^\s{1,4}-/.test(line)) entries.push(line.trim());
    else if (entries.length > 0 && /^\s{5,}\S/.test(line)) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  for (const [flag, def, env] of DOCUMENTED_FLAGS) {
    const entry = entries.find((e) => e.split(/[\s,]+/).includes(flag));
    if (!t.ok(entry, `${flag} is listed`)) continue;
    t.match(entry!, def, `${flag} shows its default`);
    if (env) t.match(entry!, new RegExp(`\\b${env}\\b`), `${flag} shows ${env}`);
  }
  t.match(r.stdout, /--version/);
});

t.test('--version prints the package.json version', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await runLb4(['--version']);
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), pkg.version);
  t.equal(r.stderr, '');
});

t.test('--help groups the flags by topic', async (t) => {
  const r = await runLb4(['--help']);
  t.equal(r.code, 0);
  const headings = r.stdout.split('\n').filter((l) => /^\S.*:$/.test(l) && !l.startsWith('Usage'));
  t.same(headings, ['Listening:', 'Backends & balancing:', 'Health:', 'Timeouts & limits:', 'TLS:', 'PROXY protocol & SNI:', 'L7 (HTTP):', 'Admin & logs:', 'Operations:', 'Other:']);
  // a flag sits under its topic: --health-interval between "Health:" and the next heading
  const lines = r.stdout.split('\n');
  const at = (s: string) => lines.findIndex((l) => l.startsWith(s) || l.trimStart().startsWith(s));
  t.ok(at('Health:') < at('--health-interval') && at('--health-interval') < at('Timeouts & limits:'), '--health-interval under Health');
  t.ok(at('Other:') < at('-h, --help'), '--help under Other');
});
