/**
 * Settings (docs/reference.md, "Settings"): the value parsers of src/config/parse.ts and the
 * merge of src/config/load.ts buildConfig with explicit cli/env objects
 * (never process.env): precedence cli > env > file > default, and error
 * messages that name the flag, env variable or YAML path.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBackendSpec, parseDuration, parseHostPort, parseWeight } from '../../src/config/parse.js';
import { buildConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/core/errors.js';

t.test('durations', async (t) => {
  const ok: Array<[string | number, number]> = [
    ['500', 500],
    ['500ms', 500],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0', 0],
    ['.5s', 500],
    [' 2s ', 2000],
    [250, 250],
  ];
  for (const [text, ms] of ok) t.equal(parseDuration(text), ms, JSON.stringify(text));
  for (const bad of ['', 'abc', '5 s', '-1', '1d', '1.5.2s', 's', '2S', '1e3', '10sec']) {
    t.throws(() => parseDuration(bad), /duration/, `bad: ${JSON.stringify(bad)}`);
  }
  t.throws(() => parseDuration(-5), /invalid duration/);
  t.throws(() => parseDuration('1000h'), /too large/);
});

t.test('addresses', async (t) => {
  t.same(parseHostPort('8080', { defaultHost: '0.0.0.0' }), { host: '0.0.0.0', port: 8080 }, 'PORT');
  t.same(parseHostPort('127.0.0.1:81'), { host: '127.0.0.1', port: 81 }, 'HOST:PORT');
  t.same(parseHostPort('example.com:443'), { host: 'example.com', port: 443 }, 'name:PORT');
  t.same(parseHostPort('[::1]:9000'), { host: '::1', port: 9000 }, '[V6]:PORT');
  t.same(parseHostPort('0', { defaultHost: '0.0.0.0', allowZero: true }), { host: '0.0.0.0', port: 0 }, 'port 0 for listeners');
  const bad: Array<[string, RegExp]> = [
    ['8080', /needs a host/],
    ['127.0.0.1:0', /out of range/],
    ['127.0.0.1:65536', /out of range/],
    ['127.0.0.1:', /invalid port/],
    [':80', /invalid address/],
    ['localhost', /invalid address/],
    ['::1:80', /IPv6/],
    ['[::1]80', /invalid address/],
    ['[::1:80', /invalid address/],
    ['[zz]:80', /invalid IPv6/],
    ['bad host:80', /invalid host/],
    ['127.0.0.1:8x', /invalid port/],
  ];
  for (const [text, re] of bad) t.throws(() => parseHostPort(text), re, `bad: ${text}`);
});

t.test('backend specs', async (t) => {
  t.same(parseBackendSpec('127.0.0.1:8081'), { host: '127.0.0.1', port: 8081, weight: 1, name: '127.0.0.1:8081' }, 'defaults');
  t.same(parseBackendSpec('10.0.0.5:6379,weight=3,name=redis-a'), { host: '10.0.0.5', port: 6379, weight: 3, name: 'redis-a' });
  t.same(parseBackendSpec('h:1,name=n,weight=0'), { host: 'h', port: 1, weight: 0, name: 'n' }, 'options in any order, weight 0');
  t.equal(parseBackendSpec('h:1,weight=1000').weight, 1000);
  t.equal(parseBackendSpec('h:1,name=A.z_0:9-x').name, 'A.z_0:9-x', 'name charset [A-Za-z0-9._:-]');
  for (const w of ['1001', '-1', '1.5', 'x', '', ' ']) {
    t.throws(() => parseBackendSpec(`h:1,weight=${w}`), /invalid weight/, `weight=${w}`);
  }
  for (const n of ['a/b', 'a b', '', 'é', 'a,b']) {
    t.throws(() => parseBackendSpec(`h:1,name=${n}`), /invalid backend name|unknown backend option/, `name=${n}`);
  }
  t.throws(() => parseBackendSpec('h:1,foo=1'), /unknown backend option "foo"/);
  t.throws(() => parseBackendSpec('h:1,weight'), /invalid weight/);
  t.throws(() => parseBackendSpec('h'), /invalid address/);
  t.equal(parseWeight(0), 0);
  t.throws(() => parseWeight(1001));
});

const BACKEND = ['127.0.0.1:9001'];

t.test('defaults', async (t) => {
  const c = buildConfig({ cli: { backends: BACKEND }, env: {} })!;
  t.equal(c.mode, 'l4');
  t.same(c.listen, [{ host: '0.0.0.0', port: 4443 }]);
  t.equal(c.strategy, 'round-robin');
  t.same(c.healthCheck, { type: 'tcp', path: null, send: null, expect: null });
  t.equal(c.healthInterval, 2000);
  t.equal(c.healthTimeout, 1000);
  t.equal(c.rise, 2);
  t.equal(c.fall, 3);
  t.equal(c.maxFails, 3);
  t.equal(c.failTimeout, 10_000);
  t.equal(c.retries, 2);
  t.equal(c.connectTimeout, 5000);
  t.equal(c.idleTimeout, 300_000);
  t.equal(c.maxConns, 0);
  t.equal(c.backendMaxConns, 0);
  t.equal(c.drainTimeout, 30_000);
  t.equal(c.queueTimeout, 5000);
  t.equal(c.maxQueue, 1024);
  t.equal(c.slowStart, 0);
  t.equal(c.adminToken, null);
  t.equal(c.accessLog, false);
  t.ok(Object.isFrozen(c), 'frozen');
  t.ok(Object.isFrozen(c.backends[0]), 'deeply frozen');
});

t.test('health settings from flags', async (t) => {
  const c = buildConfig({
    cli: { backends: BACKEND, healthCheck: 'http:/healthz', healthInterval: '100ms', healthTimeout: '1.5s', rise: '4', fall: '1', maxFails: '0', failTimeout: '500ms', slowStart: '2s' },
    env: {},
  })!;
  t.same(c.healthCheck, { type: 'http', path: '/healthz', send: null, expect: null });
  t.equal(c.healthInterval, 100);
  t.equal(c.healthTimeout, 1500);
  t.equal(c.rise, 4);
  t.equal(c.fall, 1);
  t.equal(c.maxFails, 0);
  t.equal(c.failTimeout, 500);
  t.equal(c.slowStart, 2000);
  for (const [v, type] of [['off', 'off'], ['false', 'off'], ['true', 'tcp'], ['tcp', 'tcp']] as const) {
    t.equal(buildConfig({ cli: { backends: BACKEND, healthCheck: v }, env: {} })!.healthCheck.type, type, `--health-check ${v}`);
  }
  t.throws(() => buildConfig({ cli: { backends: BACKEND, healthCheck: 'http:healthz' }, env: {} }), /--health-check/);
  t.throws(() => buildConfig({ cli: { backends: BACKEND, rise: '0' }, env: {} }), /--rise/);
  t.throws(() => buildConfig({ cli: { backends: BACKEND, healthInterval: 'soon' }, env: {} }), /--health-interval/);
});

t.test('errors are UsageErrors naming the flag or env variable', async (t) => {
  const e1 = t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1,weight=1001'] }, env: {} })) as unknown as Error;
  t.ok(e1 instanceof UsageError);
  t.match(e1.message, /^--backend: invalid weight "1001"/);
  t.throws(() => buildConfig({ cli: {}, env: { LB_BACKENDS: '127.0.0.1:1 nohost' } }), /^LB_BACKENDS: invalid address "nohost"/);
  t.throws(() => buildConfig({ cli: { backends: BACKEND, strategy: 'fastest' }, env: {} }), /^--strategy: unknown strategy "fastest"/);
  t.throws(() => buildConfig({ cli: {}, env: {} }), /no backends/);
  t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1,name=x', '127.0.0.1:2,name=x'] }, env: {} }), /duplicate backend name "x"/);
  const problems: string[] = [];
  t.equal(buildConfig({ cli: { backends: BACKEND, retries: 'x', fall: '0' }, env: { LB_MODE: 'l9' } }, problems), null);
  t.equal(problems.length, 3, `every problem collected: ${problems.join(' | ')}`);
});

t.test('precedence: cli > env > file > default', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'lb4.yaml');
  writeFileSync(
    file,
    [
      'strategy: least-connections',
      'logLevel: warn',
      'healthInterval: 3s',
      'retries: 4',
      'backends:',
      '  - {address: "127.0.0.1:7001", name: fileA, weight: 5}',
      '  - 127.0.0.1:7002,name=fileB',
      '',
    ].join('\n'),
  );
  const env = { LB_STRATEGY: 'random', LB_LOG_LEVEL: 'debug', LB_BACKENDS: '127.0.0.1:8001,name=envA 127.0.0.1:8002' };
  const cli = { strategy: 'rr', backends: ['127.0.0.1:9001,name=cliA'], retries: '1' };

  const all = buildConfig({ cli: { ...cli, config: file }, env })!;
  t.equal(all.strategy, 'round-robin', 'cli wins (alias canonicalised)');
  t.same(all.backends.map((b) => b.name), ['cliA']);
  t.equal(all.retries, 1);
  t.equal(all.logLevel, 'debug', 'env beats the file');
  t.equal(all.healthInterval, 3000, 'file beats the default');
  t.equal(all.config, file);

  const envOnly = buildConfig({ cli: { config: file }, env })!;
  t.equal(envOnly.strategy, 'random', 'env over file');
  t.same(envOnly.backends.map((b) => b.name), ['envA', '127.0.0.1:8002'], 'LB_BACKENDS whitespace separated');
  t.equal(envOnly.retries, 4, 'file (no env variable for --retries)');

  const fileOnly = buildConfig({ cli: {}, env: { LB_CONFIG: file } })!;
  t.equal(fileOnly.strategy, 'least-connections');
  t.same(
    fileOnly.backends.map((b) => [b.name, b.weight]),
    [['fileA', 5], ['fileB', 1]],
    'YAML list of objects and strings',
  );
  t.equal(fileOnly.logLevel, 'warn');

  const none = buildConfig({ cli: { backends: BACKEND }, env: {} })!;
  t.equal(none.strategy, 'round-robin');
  t.equal(none.retries, 2);
  t.equal(none.healthInterval, 2000);
  t.equal(none.config, null);

  const emptyEnv = buildConfig({ cli: { config: file }, env: { LB_STRATEGY: '' } })!;
  t.equal(emptyEnv.strategy, 'least-connections', 'an empty env variable counts as unset');
});

t.test('YAML path in errors', async (t) => {
  const dir = t.testdir({
    'weight.yaml': 'backends:\n  - {address: "127.0.0.1:1", weight: 2000}\n',
    'address.yaml': 'backends:\n  - address: "nohost"\n',
    'key.yaml': 'backends: ["127.0.0.1:1"]\nbogus: 1\n',
    'bkey.yaml': 'backends:\n  - {address: "127.0.0.1:1", port: 3}\n',
    'dur.yaml': 'backends: ["127.0.0.1:1"]\nhealthInterval: 5x\n',
    'hc.yaml': 'backends: ["127.0.0.1:1"]\nhealthCheck: {type: http, path: nope}\n',
    'second.yaml': 'backends:\n  - 127.0.0.1:1\n  - 127.0.0.1:2,weight=9999\n',
    'broken.yaml': 'backends: [\n',
    'nested.yaml': 'retries: a: b\n',
  });
  const err = (name: string): string => {
    try {
      buildConfig({ cli: { config: join(dir, name) }, env: {} });
    } catch (e) {
      return (e as Error).message;
    }
    return '(no error)';
  };
  t.match(err('weight.yaml'), /weight\.yaml:2: backends\[0\]\.weight: invalid weight "2000"/);
  t.match(err('address.yaml'), /address\.yaml:2: backends\[0\]\.address: /);
  t.match(err('key.yaml'), /key\.yaml:2: bogus: unknown setting$/);
  t.match(err('bkey.yaml'), /bkey\.yaml:2: backends\[0\]\.port: unknown backend setting/);
  t.match(err('dur.yaml'), /dur\.yaml:2: healthInterval: invalid duration "5x"/);
  t.match(err('hc.yaml'), /hc\.yaml:2: healthCheck\.path: must start with \//);
  t.match(err('second.yaml'), /second\.yaml:3: backends\[1\]: invalid weight "9999"/);
  t.match(err('broken.yaml'), /broken\.yaml(:\d+:\d+)?: invalid YAML/);
  // load.ts means to add `:LINE:COL`, but yaml only fills linePos with prettyErrors: true (reported)
  t.match(err('nested.yaml'), /nested\.yaml(:\d+:\d+)?: invalid YAML: Nested mappings/);
  t.match(err('missing.yaml'), /--config: cannot read .*missing\.yaml: no such file or directory$/);
});

t.test('a duplicate backend name is reported where the backends came from', async (t) => {
  const { buildConfig } = await import('../../src/config/load.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'lb4-dup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, 'backends:\n  - 127.0.0.1:81\n  - 127.0.0.1:82,name=127.0.0.1:81\n');
  t.throws(() => buildConfig({ cli: { config: file }, env: {} }), { message: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: backends\\[1\\]: duplicate backend name "127\\.0\\.0\\.1:81" \\(names are unique across pools; the first is on line 2\\)$`) });
  t.throws(() => buildConfig({ cli: {}, env: { LB_BACKENDS: '127.0.0.1:1 127.0.0.1:1' } }), { message: /^LB_BACKENDS: duplicate backend name/ });
  t.throws(() => buildConfig({ cli: { backends: ['127.0.0.1:1', '127.0.0.1:1'] }, env: {} }), { message: /^--backend: duplicate backend name/ });
});

t.test('did you mean: the closest names, without case, - or _', async (t) => {
  const { suggest, didYouMean } = await import('../../src/config/suggest.js');
  const keys = ['healthInterval', 'healthTimeout', 'tlsCert', 'tlsKey', 'retries', 'mode'];
  t.same(suggest('healthIntervall', keys), ['healthInterval']);
  t.same(suggest('health-interval', keys), ['healthInterval'], 'kebab case');
  t.same(suggest('TLSCERT', keys), ['tlsCert'], 'case');
  t.same(suggest('tlsCrt', keys), ['tlsCert']);
  t.same(suggest('retires', keys), ['retries'], 'two letters swapped');
  t.same(suggest('bogus', keys), [], 'nothing close');
  t.same(suggest('mod', ['mode', 'mods']), ['mode', 'mods'], 'ties are all given');
  t.equal(didYouMean('mod', ['mode', 'mods']), ' (did you mean mode or mods?)');
  t.equal(didYouMean('zzz', keys), '');
});

t.test('system errors in words', async (t) => {
  const { systemErrorText } = await import('../../src/core/errors.js');
  const e = (code: string) => Object.assign(new Error(`${code}: something`), { code });
  t.equal(systemErrorText(e('ENOENT')), 'no such file or directory');
  t.equal(systemErrorText(e('EACCES')), 'permission denied');
  t.equal(systemErrorText(e('EISDIR')), 'is a directory');
  t.equal(systemErrorText(e('EWHATEVER')), 'EWHATEVER', 'an unknown errno keeps its name');
  t.equal(systemErrorText(new Error('plain')), 'plain');
  const dir = t.testdir({});
  const problems: string[] = [];
  buildConfig({ cli: { backends: BACKEND, tlsCert: dir, tlsKey: dir }, env: {} }, problems);
  t.match(problems[0], /^--tls-cert: cannot read .*: is a directory$/, 'readFileSync on a directory: EISDIR in words');
});

t.test('integers: what is expected, in words', async (t) => {
  const problems: string[] = [];
  buildConfig({ cli: { backends: BACKEND, retries: '-1', rise: '0', maxQueue: '2.5', fall: '5000' }, env: {} }, problems);
  t.same(problems, [
    '--rise: must be a whole number from 1 to 1000, not "0"',
    '--fall: must be at most 1000, not "5000"',
    '--retries: must be a whole number from 0 to 100, not "-1"',
    '--max-queue: must be a whole number ≥ 0, not "2.5"',
  ]);
});

t.test('an options object is read like a config file, its keys named alone', async (t) => {
  const problems: string[] = [];
  t.equal(buildConfig({ cli: {}, env: {}, options: { backends: [{ address: '127.0.0.1:1', weight: 2000 }], retries: -1, lsiten: '1' } }, problems), null);
  t.same(problems, [
    'lsiten: unknown setting (did you mean listen?)',
    'backends[0].weight: invalid weight "2000" (a whole number from 0 to 1000)',
    'retries: must be a whole number from 0 to 100, not -1',
  ]);
  const c = buildConfig({ cli: {}, env: { LB_STRATEGY: 'random' }, options: { backends: ['127.0.0.1:1'], strategy: 'lc' } })!;
  t.equal(c.strategy, 'random', 'env over options, as over a file');
  t.equal(c.config, null);
});

// LbOptions (the library's typed settings) has every setting of Config but
// the command line's own, and nothing else: a new setting without its option
// type fails `npm run typecheck` (part of make test) here.
type NotAnOption = Exclude<keyof import('../../src/config/types.js').Config, keyof import('../../src/config/options.js').LbOptions | 'config' | 'watchConfig' | 'workers' | 'user' | 'group'>;
type NotASetting = Exclude<keyof import('../../src/config/options.js').LbOptions, keyof import('../../src/config/types.js').Config>;
const everySettingIsAnOption: [NotAnOption] extends [never] ? true : NotAnOption = true;
const everyOptionIsASetting: [NotASetting] extends [never] ? true : NotASetting = true;

t.test('LbOptions covers the settings', async (t) => {
  t.ok(everySettingIsAnOption && everyOptionIsASetting);
});
