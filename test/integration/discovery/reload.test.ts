/**
 * Discovery sources in the YAML config, per pool, through reloads (SIGHUP),
 * against dnsmasq: a reload that keeps a source leaves its backends alone;
 * a source that leaves the config stops and its backends drain; a new one
 * starts; the name-conflict rule (the first source keeps a name) shows in
 * /stats and the log.
 */
import t from 'tap';
import { join } from 'node:path';
import { withLb4 } from '../../helpers/lb4.js';
import { DNSMASQ, startDnsmasq } from '../../helpers/dnsmasq.js';
import { backendOf, stats, statsUntil, tempDir, writeConfig, type Json } from '../../helpers/ops.js';
import { namedBackend } from '../../helpers/backends.js';
import { reachMany, samePortBackends } from '../../helpers/discovery.js';

const skip = DNSMASQ === null ? 'dnsmasq is not installed (apt-get install dnsmasq-base)' : false;
const pick = (s: Json, pool: string): string[] => (s.backends as Json[]).filter((b) => b.pool === pool).map((b) => `${b.name} ${b.source}`).sort();

t.test('YAML pools with dns:/srv: sources; reloads keep, stop and start sources; name conflicts', { skip }, async (t) => {
  const { port, backends: [, , b4] } = await samePortBackends(t, ['127.0.0.2', '127.0.0.3', '127.0.0.4'], ['b2', 'b3', 'b4']);
  const stat = await namedBackend('static');
  t.teardown(() => stat.close());
  const dns = await startDnsmasq(t, {
    ttl: 1,
    hosts: ['127.0.0.2 web.test', '127.0.0.3 web.test'],
    records: [`srv-host=_app._tcp.test,app.test,${port},0,2`, 'host-record=app.test,127.0.0.4'],
  });
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  const web = `dns:web.test:${port}`;
  const app = 'srv:_app._tcp.test';
  writeConfig(file, [
    `resolvers: ["${dns.address}"]`,
    'healthCheck: off',
    'pools:',
    '  web:',
    '    backends:',
    `      - { address: "${web}", weight: 2 }`,
    `      - { address: "127.0.0.2:${port}" }`, // the same name as one dns: finds: config keeps it
    '  app:',
    '    backends:',
    `      - ${app}`,
    `      - { name: static, address: "${stat.address}" }`,
  ]);
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--config', file, '--admin', '127.0.0.1:0']);
  const admin = lb.adminPort!;
  let s = await stats(admin);
  t.same(pick(s, 'web'), [`127.0.0.2:${port} config`, `127.0.0.3:${port} ${web}`], 'web: the config entry keeps its name; dns: adds the other address');
  t.equal(backendOf(s, `127.0.0.3:${port}`).weight, 2, 'weight=2 applies to what dns: finds');
  t.same(pick(s, 'app'), [`app.test:${port} ${app}`, 'static config']);
  const conflict = lb.logsMatching((l) => l.msg === 'backend name conflict');
  t.same(conflict.map((l) => [l.backend, l.source, l.owner]), [[`127.0.0.2:${port}`, web, 'config']], 'the conflict is logged once');

  // the same file again: nothing leaves, nothing joins
  let since = lb.logs.length;
  lb.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'config reloaded', 5000, since);
  t.same(lb.logs.slice(since).filter((l) => l.msg === 'backend added' || l.msg === 'backend removed'), [], 'a reload leaves discovered backends alone');

  // the srv: source leaves the config (app becomes the default pool); web's dns: source gets weight 5
  writeConfig(file, [
    `resolvers: ["${dns.address}"]`,
    'healthCheck: off',
    'defaultPool: app',
    'pools:',
    '  web:',
    '    backends:',
    `      - { address: "${web}", weight: 5 }`,
    `      - { address: "127.0.0.2:${port}" }`,
    '  app:',
    '    backends:',
    `      - { name: static, address: "${stat.address}" }`,
  ]);
  since = lb.logs.length;
  lb.kill('SIGHUP');
  const gone = await lb.waitForLog((l) => l.msg === 'backend removed' && l.backend === `app.test:${port}`, 5000, since);
  t.equal(gone.source, app, 'the srv: source left the config: its backend leaves');
  s = await statsUntil(admin, (x) => backendOf(x, `127.0.0.3:${port}`)?.weight === 5, 5000, 'the new weight of the dns: source');
  t.same(pick(s, 'app'), ['static config']);
  t.same(pick(s, 'web'), [`127.0.0.2:${port} config`, `127.0.0.3:${port} ${web}`], 'web untouched');
  t.same(new Set(await reachMany(lb.ports[0]!, 3)), new Set(['static']), 'defaultPool: app');

  // a new source in app: started at once, through the same resolvers
  writeConfig(file, [
    `resolvers: ["${dns.address}"]`,
    'healthCheck: off',
    'defaultPool: app',
    'pools:',
    '  web:',
    '    backends:',
    `      - { address: "127.0.0.2:${port}" }`,
    '  app:',
    '    backends:',
    `      - ${app}`,
  ]);
  since = lb.logs.length;
  lb.kill('SIGHUP');
  const back = await lb.waitForLog((l) => l.msg === 'backend added' && l.backend === `app.test:${port}`, 5000, since);
  t.equal(back.source, app);
  await lb.waitForLog((l) => l.msg === 'backend removed' && l.backend === `127.0.0.3:${port}` && l.source === web, 5000, since);
  s = await stats(admin);
  t.same(pick(s, 'web'), [`127.0.0.2:${port} config`]);
  t.same(pick(s, 'app'), [`app.test:${port} ${app}`], 'static left, srv: back');
  await b4!.waitForConnections(0);
  t.same(new Set(await reachMany(lb.ports[0]!, 3)), new Set(['b4']));
});
