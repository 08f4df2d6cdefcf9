/**
 * Live reconfiguration through `bin/lb4` (docs/reference.md, SIGHUP with
 * --config; issue 5 "Live reconfiguration"): a long-running tunnel survives a
 * reload that removes its backend (which shows `draining` until its last
 * connection closes, then disappears); new connections follow the new
 * config; an invalid file keeps the running settings and is logged with the
 * file and the YAML path of the problem; `listen`/`mode` changes are logged
 * as needing a restart; `lb4 check` exits 0 or 2 with one line per problem.
 */
import t from 'tap';
import { join } from 'node:path';
import { nameOf, tracked, linesOf } from '../../helpers/l4-e2e.js';
import { runLb4, withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { backends, backendOf, entry, stats, statsUntil, tempDir, writeConfig, type Host } from '../../helpers/ops.js';

/** SIGHUP, then wait for the reload's outcome line (logged after `since`). */
async function hup(lb: Lb4Process, msg = 'config reloaded'): Promise<Record<string, unknown>> {
  const since = lb.logs.length;
  lb.kill('SIGHUP');
  return lb.waitForLog((l) => l.msg === msg, 15_000, since);
}

async function tally(port: number, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const name = await nameOf(port);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

const COMMON = ['listen: 127.0.0.1:0', 'healthCheck: off'];

t.test('a tunnel survives a reload that removes its backend', async (t) => {
  const [a, b] = await backends(t, 'a', 'b');
  const file = join(tempDir(t), 'lb4.yaml');
  writeConfig(file, [...COMMON, 'backends:', entry('a', a!.address), entry('b', b!.address)]);
  const lb = await withLb4(t, ['--config', file, '--admin', '127.0.0.1:0']);
  const port = lb.ports[0]!;

  const long = await tracked(t, port);
  const first = await long.readLine();
  t.ok(first === 'a' || first === 'b', `tunnel to ${first}`);
  const other = first === 'a' ? 'b' : 'a';
  const keep = first === 'a' ? b! : a!;

  writeConfig(file, [...COMMON, 'backends:', entry(other, keep.address)]);
  const reloaded = await hup(lb);
  t.equal(reloaded.file, file, '`config reloaded` names the file');

  const s1 = await stats(lb.adminPort!);
  t.equal(backendOf(s1, first)?.state, 'draining', `${first} is draining while its tunnel is open`);
  t.equal(backendOf(s1, first)?.active, 1, 'it still carries the tunnel');
  t.equal(backendOf(s1, other)?.state, 'up');

  // the old tunnel keeps echoing, both ways, after the reload
  for (const word of ['one', 'two', 'three']) {
    long.write(`${word}\n`);
    t.equal(await long.readLine(), word, `the tunnel still echoes "${word}"`);
  }
  t.same(await tally(port, 6), { [other]: 6 }, 'new connections go to the remaining backend only');

  long.end();
  await long.readUntilEnd();
  await long.waitClose();
  const s2 = await statsUntil(lb.adminPort!, (s) => backendOf(s, first) === undefined, 5000, `${first} to leave /stats`);
  t.same(s2.backends.map((x: { name: string }) => x.name), [other], 'the removed backend disappears after its last connection');
  t.equal(lb.logsMatching((l) => l.msg === 'connection' && l.end === 'shutdown').length, 0, 'nothing was cut');
});

t.test('new connections follow the new config: added backends, weights, strategy', async (t) => {
  const [a, b, c] = await backends(t, 'a', 'b', 'c');
  const file = join(tempDir(t), 'lb4.yaml');
  writeConfig(file, [...COMMON, 'backends:', entry('a', a!.address)]);
  const lb = await withLb4(t, ['--config', file, '--admin', '127.0.0.1:0']);
  const port = lb.ports[0]!;
  t.same(await tally(port, 3), { a: 3 }, 'one backend before the reload');

  // added backend joins, round robin over both
  writeConfig(file, [...COMMON, 'backends:', entry('a', a!.address), entry('b', b!.address)]);
  const r1 = await hup(lb);
  t.equal(r1.backends, 2);
  const added = lb.logsMatching((l) => l.msg === 'backend added');
  t.same(added.map((l) => l.backend), ['b'], '`backend added` logged for b');
  t.same(await tally(port, 4), { a: 2, b: 2 }, 'the added backend gets its share at once');

  // weights and strategy change
  writeConfig(file, [...COMMON, 'strategy: weighted-round-robin', 'backends:', entry('a', a!.address, 1), entry('b', b!.address, 3), entry('c', c!.address, 0)]);
  const r2 = await hup(lb);
  t.equal(r2.strategy, 'weighted-round-robin');
  const s = await stats(lb.adminPort!);
  t.equal(s.strategy, 'weighted-round-robin', '/stats shows the new strategy');
  t.same(s.backends.map((x: { name: string; weight: number }) => [x.name, x.weight]), [['a', 1], ['b', 3], ['c', 0]], '/stats shows the new weights');
  const counts = await tally(port, 8);
  t.same(counts, { a: 2, b: 6 }, `weights 1:3 over two rounds, weight 0 gets nothing (${JSON.stringify(counts)})`);

  // and to least-connections with an open connection on the favourite
  writeConfig(file, [...COMMON, 'strategy: least-connections', 'backends:', entry('a', a!.address), entry('b', b!.address)]);
  await hup(lb);
  t.equal((await stats(lb.adminPort!)).strategy, 'least-connections');
  const held = await tracked(t, port);
  const heldName = await held.readLine();
  t.same(await tally(port, 3), { [heldName === 'a' ? 'b' : 'a']: 3 }, 'least-connections avoids the busy backend');
});

t.test('an invalid file on SIGHUP keeps the running settings', async (t) => {
  const [a, b] = await backends(t, 'a', 'b');
  const file = join(tempDir(t), 'lb4.yaml');
  const good = [...COMMON, 'backends:', entry('a', a!.address), entry('b', b!.address)];
  writeConfig(file, good);
  const lb = await withLb4(t, ['--config', file, '--admin', '127.0.0.1:0']);
  const port = lb.ports[0]!;
  const before = await stats(lb.adminPort!);

  const cases: Array<[string, string[], RegExp]> = [
    ['bad YAML', [...COMMON, 'backends: [ { name: a, address: "x" }', '  strategy: ['], /lb4\.yaml:\d+:\d+: invalid YAML/],
    ['unknown key', [...good, 'healthIntervall: 5s'], /lb4\.yaml:\d+: healthIntervall: unknown setting \(did you mean healthInterval\?\)/],
    ['bad weight', [...COMMON, 'backends:', entry('a', a!.address, 5000), entry('b', b!.address)], /lb4\.yaml:\d+: backends\[0\]\.weight: .*5000/],
    ['bad strategy', [...COMMON, 'strategy: fastest', 'backends:', entry('a', a!.address)], /lb4\.yaml:\d+: strategy: unknown strategy "fastest"/],
  ];
  for (const [what, lines, re] of cases) {
    writeConfig(file, lines);
    const l = await hup(lb, 'config reload failed; keeping the running settings');
    t.equal(l.level, 50, `${what}: logged as an error`);
    t.equal(l.file, file, `${what}: the line names the file`);
    t.match(l.err, re, `${what}: the line names the problem and its YAML path (${l.err})`);
    const s = await stats(lb.adminPort!);
    t.same(
      s.backends.map((x: { name: string; weight: number; state: string }) => [x.name, x.weight, x.state]),
      before.backends.map((x: { name: string; weight: number; state: string }) => [x.name, x.weight, x.state]),
      `${what}: backends unchanged`,
    );
    t.equal(s.strategy, before.strategy, `${what}: strategy unchanged`);
    t.same(await tally(port, 2), { a: 1, b: 1 }, `${what}: still serving with the old settings`);
  }
  t.equal(lb.logsMatching((l) => l.msg === 'config reloaded').length, 0, 'no reload happened');

  // a good file afterwards is applied as usual
  writeConfig(file, [...COMMON, 'backends:', entry('b', b!.address)]);
  await hup(lb);
  t.same(await tally(port, 2), { b: 2 }, 'a valid file is applied after invalid ones');
});

t.test('listen and mode changes need a restart', async (t) => {
  const [a] = await backends(t, 'a');
  const file = join(tempDir(t), 'lb4.yaml');
  writeConfig(file, [...COMMON, 'mode: l4', 'backends:', entry('a', a!.address)]);
  const lb = await withLb4(t, ['--config', file, '--admin', '127.0.0.1:0']);
  const port = lb.ports[0]!;

  writeConfig(file, ['listen: 127.0.0.1:1', 'healthCheck: off', 'mode: l7', 'backends:', entry('a', a!.address, 2)]);
  const since = lb.logs.length;
  await hup(lb);
  const warns = lb.logs.slice(since).filter((l) => l.msg === 'config change needs restart');
  t.same(warns.map((l) => l.setting).sort(), ['listen', 'mode'], 'one warning per setting, naming it');
  for (const w of warns) t.equal(w.level, 40, `${w.setting}: a warning`);
  const s = await stats(lb.adminPort!);
  t.equal(s.mode, 'l4', 'still l4');
  t.equal(backendOf(s, 'a')?.weight, 2, 'the rest of the file was applied');
  t.equal(await nameOf(port), 'a', 'still listening on the same port');
});

t.test('SIGHUP without --config is ignored', async (t) => {
  const [a] = await backends(t, 'a');
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--health-check', 'off']);
  const l = await hup(lb, 'SIGHUP ignored: no --config file to re-read');
  t.equal(l.level, 40);
  t.equal(await nameOf(lb.ports[0]!), 'a', 'still serving');
});

t.test('lb4 check --config: exit 0, or 2 with one line per problem', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  writeConfig(good, [...COMMON, 'strategy: least-connections', 'backends:', entry('a', '127.0.0.1:7001'), entry('b', '127.0.0.1:7002', 4)]);
  const ok = await runLb4(['check', '--config', good]);
  t.equal(ok.code, 0, `exit 0 (${ok.stderr})`);
  t.equal(ok.stdout, 'config ok\n');

  const bad = join(dir, 'bad.yaml');
  writeConfig(bad, [...COMMON, 'strategy: fastest', 'healthIntervall: 5s', 'backends:', entry('a', '127.0.0.1:7001', 5000), entry('a', '127.0.0.1:99999')]);
  const r = await runLb4(['check', '--config', bad]);
  t.equal(r.code, 2, 'exit 2');
  t.equal(r.stdout, '', 'no `config ok`');
  const lines = linesOf(r.stderr);
  t.equal(lines.length, 4, `four problems, four lines:\n${r.stderr}`);
  for (const l of lines) t.match(l, /bad\.yaml:\d+: /, `each line names the file and line: ${l}`);
  for (const re of [/strategy: unknown strategy/, /healthIntervall: unknown setting/, /backends\[0\]\.weight/, /backends\[1\]\.address/]) {
    t.equal(lines.filter((l) => re.test(l)).length, 1, `one line matches ${re}`);
  }

  // the same rules as a reload: the valid file reloads, the invalid one would not
  const yamlBroken = join(dir, 'broken.yaml');
  writeConfig(yamlBroken, ['backends:', '  - { name: a, address: "127.0.0.1:1"']);
  const y = await runLb4(['check', '--config', yamlBroken]);
  t.equal(y.code, 2);
  t.match(y.stderr, /broken\.yaml:\d+:\d+: invalid YAML/);
});
