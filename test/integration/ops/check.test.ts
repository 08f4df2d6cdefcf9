/**
 * `lb4 check` reports every problem of a config in one pass (README
 * "Live reconfiguration"), each on its own stderr line naming where the
 * value came from: `FILE:LINE: yaml.path: ...` for the file, the flag or the
 * env variable otherwise; system errors in words. A normal start with the
 * same settings still exits 2 with one line, the first problem.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLb4 } from '../../helpers/lb4.js';
import { linesOf, type Host } from '../../helpers/l4-e2e.js';

function tempDir(t: Host): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const MANY = [
  /* 1 */ 'mode: l4',
  /* 2 */ 'listen: 127.0.0.1:0',
  /* 3 */ 'healthIntervall: 2s',
  /* 4 */ 'idleTimeout: 5 parsecs',
  /* 5 */ 'retries: -1',
  /* 6 */ 'tlsCert: /nope.crt',
  /* 7 */ 'tlsKey: /nope.key',
  /* 8 */ 'backends:',
  /* 9 */ '  - {address: 127.0.0.1:6001, name: web}',
  /* 10 */ '  - {address: 127.0.0.1:6002, name: web}',
  /* 11 */ 'pools:',
  /* 12 */ '  api:',
  /* 13 */ '    backends: [127.0.0.1:7001]',
  /* 14 */ 'routes:',
  /* 15 */ '  - {path: /api/, pool: api}',
  '',
].join('\n');

t.test('lb4 check: every kind of problem in one run, each with FILE:LINE', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, MANY);
  const r = await runLb4(['check', '--config', file, '--hash-key', 'header:x-user']);
  t.equal(r.code, 2, 'exit 2');
  t.equal(r.stdout, '', 'no "config ok"');
  const lines = linesOf(r.stderr);
  const expected: RegExp[] = [
    /^FILE:3: healthIntervall: unknown setting \(did you mean healthInterval\?\)$/,
    /^FILE:4: idleTimeout: invalid duration "5 parsecs"/,
    /^FILE:5: retries: must be a whole number from 0 to 100, not -1$/,
    /^FILE:6: tlsCert: cannot read \/nope\.crt: no such file or directory$/,
    /^FILE:7: tlsKey: cannot read \/nope\.key: no such file or directory$/,
    /^FILE:10: backends\[1\]: duplicate backend name "web" \(names are unique across pools; the first is on line 9\)$/,
    /^FILE:14: routes: HTTP routes need mode l7 \(mode is l4 from FILE:1; /,
    /^--hash-key: "header" needs mode l7 \(mode is l4 from FILE:1\)/,
  ];
  const shown = lines.map((l) => l.split(file).join('FILE'));
  for (const re of expected) t.equal(shown.filter((l) => re.test(l)).length, 1, `one line matches ${re}`);
  t.equal(lines.length, expected.length, `nothing else:\n${shown.join('\n')}`);

  // the same settings at start: exit 2, one line, the first problem
  const start = await runLb4(['--config', file, '--hash-key', 'header:x-user']);
  t.equal(start.code, 2, 'a normal start exits 2');
  t.same(linesOf(start.stderr).map((l) => l.split(file).join('FILE')), ['lb4: FILE:3: healthIntervall: unknown setting (did you mean healthInterval?)'], 'one line: the first problem');
  t.notMatch(start.stdout, /"msg":"listening"/);
});

t.test('problems found after the per-key ones are reported with them', async (t) => {
  // missing files, pairs and mode conflicts used to wait until every value parsed
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, ['backends: [127.0.0.1:6001]', 'strategy: nope', 'tlsCert: /nope.crt', 'hashKey: path', ''].join('\n'));
  const r = await runLb4(['check', '--config', file]);
  t.equal(r.code, 2);
  const shown = linesOf(r.stderr).map((l) => l.split(file).join('FILE'));
  t.same(shown, [
    'FILE:2: strategy: unknown strategy "nope" (known: round-robin, round_robin, roundrobin, rr, random, weighted-round-robin, weighted, wrr, weighted_round_robin, least-connections, least_conn, leastconnections, lc, ip-hash, ip_hash, iphash, consistent-hash, p2c-ewma, peak-ewma, p2c)',
    'FILE:3: tlsCert: needs tlsKey too (a certificate and its key, both or neither)',
    'FILE:4: hashKey: "path" needs mode l7 (mode is l4 by default); l4 hashes the client IP',
  ]);
});

t.test('flags and env variables are named as such; errors in words', async (t) => {
  const cases: Array<{ args: string[]; env?: Record<string, string>; line: RegExp }> = [
    { args: ['--backend', '127.0.0.1:1', '--retries', '-1'], line: /^lb4: --retries: must be a whole number from 0 to 100, not "-1"$/ },
    { args: ['--backend', '127.0.0.1:1', '--max-conns', 'x'], line: /^lb4: --max-conns: must be a whole number ≥ 0, not "x"$/ },
    { args: ['--backend', '127.0.0.1:1', '--tls-crt', 'a.pem'], line: /^lb4: unknown option '--tls-crt' \(Did you mean --tls-cert\?\)$/ },
    { args: ['--backend', '127.0.0.1:1', '--tls-cert', '/nope.crt', '--tls-key', '/nope.key'], line: /^lb4: --tls-cert: cannot read \/nope\.crt: no such file or directory$/ },
    { args: ['--backend', '127.0.0.1:1'], env: { LB_TLS_CERT: '/nope.crt' }, line: /^lb4: LB_TLS_CERT: needs LB_TLS_KEY too/ },
    { args: ['--config', '/nonexistent/lb4.yaml'], line: /^lb4: --config: cannot read \/nonexistent\/lb4\.yaml: no such file or directory$/ },
    { args: [], env: { LB_CONFIG: '/nonexistent/lb4.yaml' }, line: /^lb4: LB_CONFIG: cannot read / },
  ];
  const results = await Promise.all(cases.map((c) => runLb4(c.args, { env: c.env, timeoutMs: 20_000 })));
  for (const [i, c] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, `${c.args.join(' ')}: exit 2`);
    const lines = linesOf(r.stderr);
    t.equal(lines.length, 1, `one line: ${JSON.stringify(r.stderr)}`);
    t.match(lines[0] ?? '', c.line);
  }
});
