/**
 * Settings precedence (docs/reference.md, "Settings": flags > env > config file >
 * defaults), checked through /stats, /config and traffic, and
 * `lb4 check --config` (docs/reference.md).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson } from '../../helpers/admin.js';
import { namedBackend, type NamedBackend } from '../../helpers/backends.js';
import { runLb4, withLb4 } from '../../helpers/lb4.js';
import { linesOf, nameOf, type Host } from '../../helpers/l4-e2e.js';

async function backends(t: Host, names: string[]): Promise<NamedBackend[]> {
  const bs = await Promise.all(names.map((n) => namedBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  return bs;
}

function tempDir(t: Host): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function stats(port: number): Promise<{ mode: string; strategy: string; backends: Array<{ name: string; weight: number; address: string }> }> {
  return (await getJson(port, '/stats')).json;
}

t.test('settings precedence: flags > env > config file > defaults', async (t) => {
  const [a, b, c] = await backends(t, ['a', 'b', 'c']);
  const envBackends = `${a!.address},name=a ${b!.address},name=b`;

  t.test('env is used when there is no flag', async (t) => {
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      env: { LB_BACKENDS: envBackends, LB_STRATEGY: 'wrr', LB_MODE: 'l4' },
    });
    const s = await stats(lb.adminPort!);
    t.same(s.backends.map((x) => x.name), ['a', 'b'], 'LB_BACKENDS (whitespace separated)');
    t.equal(s.strategy, 'weighted-round-robin', 'LB_STRATEGY (alias → canonical)');
    t.equal(s.mode, 'l4');
    t.same([await nameOf(lb.ports[0]!), await nameOf(lb.ports[0]!)], ['a', 'b'], 'traffic goes to the env backends');
  });

  t.test('LB_MODE is used when there is no flag', async (t) => {
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { LB_BACKENDS: envBackends, LB_MODE: 'l7' } });
    t.equal(lb.listening[0]!.mode, 'l7');
    t.equal((await stats(lb.adminPort!)).mode, 'l7');
  });

  t.test('a flag overrides env', async (t) => {
    const lb = await withLb4(
      t,
      ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${c!.address},name=c`, '--strategy', 'least-connections', '--mode', 'l4'],
      { env: { LB_BACKENDS: envBackends, LB_STRATEGY: 'ip-hash', LB_MODE: 'l7' } },
    );
    const s = await stats(lb.adminPort!);
    t.same(s.backends.map((x) => x.name), ['c'], '--backend replaces LB_BACKENDS');
    t.equal(s.strategy, 'least-connections');
    t.equal(s.mode, 'l4');
    t.equal(lb.listening[0]!.mode, 'l4');
    t.equal(await nameOf(lb.ports[0]!), 'c');
  });

  t.test('a YAML config file is used; env overrides it; flags override both', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'lb4.yaml');
    writeFileSync(
      file,
      [
        'strategy: weighted-round-robin',
        'idleTimeout: 42s',
        'backends:',
        `  - { address: "${a!.address}", weight: 2, name: a }`,
        `  - address: "${b!.address}"`,
        '    weight: 1',
        '    name: b',
        '',
      ].join('\n'),
    );
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--config', file]);
    const s = await stats(lb.adminPort!);
    t.same(s.backends.map((x) => [x.name, x.weight, x.address]), [['a', 2, a!.address], ['b', 1, b!.address]], 'backends from the file');
    t.equal(s.strategy, 'weighted-round-robin', 'strategy from the file');
    const cfg = (await getJson(lb.adminPort!, '/config')).json;
    t.equal(cfg.idleTimeout, '42s', 'other settings from the file');
    const got = [await nameOf(lb.ports[0]!), await nameOf(lb.ports[0]!), await nameOf(lb.ports[0]!)];
    t.same(got, ['a', 'b', 'a'], 'weights 2,1 from the file');

    const lb2 = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--config', file], {
      env: { LB_STRATEGY: 'round-robin', LB_BACKENDS: `${c!.address},name=c` },
    });
    const s2 = await stats(lb2.adminPort!);
    t.equal(s2.strategy, 'round-robin', 'LB_STRATEGY overrides the file');
    t.same(s2.backends.map((x) => x.name), ['c'], 'LB_BACKENDS overrides the file');

    const lb3 = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--config', file, '--strategy', 'random'], {
      env: { LB_STRATEGY: 'round-robin', LB_CONFIG: '/nonexistent.yaml' },
    });
    const s3 = await stats(lb3.adminPort!);
    t.equal(s3.strategy, 'random', '--strategy overrides env and file');
    t.same(s3.backends.map((x) => x.name), ['a', 'b'], '--config overrides LB_CONFIG');

    const lb4 = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { LB_CONFIG: file } });
    t.same((await stats(lb4.adminPort!)).backends.map((x) => x.name), ['a', 'b'], 'LB_CONFIG names the file');
  });
});

t.test('lb4 check --config', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  writeFileSync(good, ['listen: 127.0.0.1:0', 'strategy: ip-hash', 'backends:', '  - { address: "127.0.0.1:6001", name: a }', '  - { address: "127.0.0.1:6002", weight: 3 }', ''].join('\n'));
  const ok = await runLb4(['check', '--config', good]);
  t.equal(ok.code, 0, `good file: exit 0 (${ok.stderr})`);
  t.equal(ok.stdout, 'config ok\n');
  t.equal(ok.stderr, '');

  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    [
      'strategy: nope',
      'idleTimeout: soon',
      'retries: -1',
      'noSuchSetting: 1',
      'backends:',
      '  - { address: "127.0.0.1:6001", weight: 5000 }',
      '  - { address: "nohost" }',
      '',
    ].join('\n'),
  );
  const r = await runLb4(['check', '--config', bad]);
  t.equal(r.code, 2, 'bad file: exit 2');
  t.equal(r.stdout, '', 'no "config ok"');
  const lines = linesOf(r.stderr);
  t.equal(lines.length, 6, `one line per problem:\n${r.stderr}`);
  for (const [key, re] of [
    ['strategy', /strategy.*nope/],
    ['idleTimeout', /idleTimeout.*soon/],
    ['retries', /retries/],
    ['noSuchSetting', /noSuchSetting/],
    ['backends[0].weight', /backends\[0\]\.weight.*5000/],
    ['backends[1].address', /backends\[1\]\.address.*nohost/],
  ] as const) {
    t.equal(lines.filter((l) => re.test(l)).length, 1, `one line names ${key}`);
  }

  const missing = await runLb4(['check', '--config', join(dir, 'absent.yaml')]);
  t.equal(missing.code, 2, 'missing file: exit 2');
  t.equal(linesOf(missing.stderr).length, 1);
  t.match(missing.stderr, /absent\.yaml/);

  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'backends: [unclosed\n');
  const b = await runLb4(['check', '--config', broken]);
  t.equal(b.code, 2, 'invalid YAML: exit 2');
  t.equal(linesOf(b.stderr).length, 1);
  t.match(b.stderr, /broken\.yaml/);
});
