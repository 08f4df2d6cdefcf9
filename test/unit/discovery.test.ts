/**
 * Discovery without a network: the `dns:`/`srv:` syntax in flags and YAML,
 * --resolver values, resolv.conf parsing, and how answers become targets
 * (CNAME chains, the SRV additional section, "." targets, weight clamping,
 * the shortest TTL, empty answers) with a scripted DNS client. The same
 * code against a real DNS server: test/integration/discovery/.
 */
import t from 'tap';
import type { Answer } from 'dns-packet';
import { buildConfig } from '../../src/config/load.js';
import { parseBackendEntry, parseResolver } from '../../src/config/parse.js';
import { systemResolvers } from '../../src/discovery/discovery.js';
import { HOSTS_TTL_S, parseHosts, resolveSource } from '../../src/discovery/resolve.js';
import type { DnsAnswer, DnsClient, QueryType } from '../../src/discovery/dns-client.js';

t.test('--backend takes dns:HOST:PORT[,weight=N] and srv:NAME', async (t) => {
  t.same(parseBackendEntry('dns:web.internal:8080'), { kind: 'dns', source: 'dns:web.internal:8080', host: 'web.internal', port: 8080, weight: 1 });
  t.same(parseBackendEntry('dns:web.internal:8080,weight=5'), { kind: 'dns', source: 'dns:web.internal:8080', host: 'web.internal', port: 8080, weight: 5 });
  t.same(parseBackendEntry('srv:_http._tcp.web.service.consul'), { kind: 'srv', source: 'srv:_http._tcp.web.service.consul', name: '_http._tcp.web.service.consul' });
  t.same(parseBackendEntry('dns:53'), { host: 'dns', port: 53, weight: 1, name: 'dns:53' }, 'a host named dns is still a host');
  t.same(parseBackendEntry('srv:8080'), { host: 'srv', port: 8080, weight: 1, name: 'srv:8080' }, 'a host named srv too');
  t.throws(() => parseBackendEntry('dns:10.0.0.1:80'), /dns: needs a host name/);
  t.throws(() => parseBackendEntry('dns:web:0'), /port 0 is out of range/);
  t.throws(() => parseBackendEntry('dns:web:80,name=x'), /names its backends itself/);
  t.throws(() => parseBackendEntry('dns:web:80,weight=1001'), /invalid weight/);
  t.throws(() => parseBackendEntry('srv:_a._tcp.x,weight=2'), /weights from the SRV records/);
  t.throws(() => parseBackendEntry('srv:bad name'), /invalid SRV name/);
});

t.test('sources in the config: default pool, YAML pools, no "no backends" error, duplicates', async (t) => {
  const c = buildConfig({ cli: { backends: ['dns:web.test:80', '127.0.0.1:1,name=s', 'srv:_a._tcp.test'] }, env: {} })!;
  t.same(c.backends.map((b) => b.name), ['s'], 'Config.backends: the HOST:PORT ones');
  t.same(c.pools[0]!.sources.map((s) => s.source), ['dns:web.test:80', 'srv:_a._tcp.test']);
  const only = buildConfig({ cli: {}, env: { LB_BACKENDS: 'srv:_a._tcp.test' } })!;
  t.equal(only.pools[0]!.sources.length, 1, 'only discovery sources: still a valid config');
  t.same(only.pools[0]!.backends, []);
  t.throws(() => buildConfig({ cli: { backends: ['dns:web.test:80', 'dns:web.test:80,weight=2'] }, env: {} }), /duplicate discovery source "dns:web.test:80"/);

  const dir = t.testdir({
    'lb4.yaml': [
      'resolvers: ["127.0.0.1:5353", "::1"]',
      'pools:',
      '  api:',
      '    strategy: wrr',
      '    backends:',
      '      - srv:_api._tcp.test',
      '      - { address: "dns:api.test:443", weight: 3, tls: true, sendProxy: v2 }',
      '',
    ].join('\n'),
    'bad.yaml': ['backends:', '  - { address: "srv:_x._tcp.test", weight: 2 }', '  - { address: "dns:x.test:1", name: y }', ''].join('\n'),
  });
  const y = buildConfig({ cli: { config: `${dir}/lb4.yaml` }, env: {} })!;
  t.same(y.resolvers, [{ host: '127.0.0.1', port: 5353 }, { host: '::1', port: 53 }]);
  const api = y.pools.find((p) => p.name === 'api')!;
  t.same(api.sources, [
    { kind: 'srv', source: 'srv:_api._tcp.test', name: '_api._tcp.test' },
    { kind: 'dns', source: 'dns:api.test:443', host: 'api.test', port: 443, weight: 3, sendProxy: 2, tls: { servername: null, ca: null, insecure: null } },
  ]);
  const problems: string[] = [];
  t.equal(buildConfig({ cli: { config: `${dir}/bad.yaml` }, env: {} }, problems), null);
  t.match(problems.join('\n'), /backends\[0\]\.address: "srv:_x\._tcp\.test": srv: takes its weights/);
  t.match(problems.join('\n'), /backends\[1\]\.name: a discovery source names its backends itself/);
});

t.test('--resolver: IP, IP:PORT, [V6]:PORT; names refused; LB_RESOLVERS whitespace separated', async (t) => {
  t.same(parseResolver('10.0.0.2'), { host: '10.0.0.2', port: 53 });
  t.same(parseResolver('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
  t.same(parseResolver('fd00::53'), { host: 'fd00::53', port: 53 });
  t.same(parseResolver('[fd00::53]:5353'), { host: 'fd00::53', port: 5353 });
  t.throws(() => parseResolver('dns.google'), /invalid resolver/);
  t.throws(() => parseResolver('dns.google:53'), /invalid resolver/);
  const c = buildConfig({ cli: { backends: ['srv:_a._tcp.test'] }, env: { LB_RESOLVERS: '127.0.0.1:5353  10.0.0.2' } })!;
  t.same(c.resolvers, [{ host: '127.0.0.1', port: 5353 }, { host: '10.0.0.2', port: 53 }]);
  t.same(buildConfig({ cli: { backends: ['srv:_a._tcp.test'] }, env: {} })!.resolvers, [], 'none given: the system ones (read when discovery starts)');
  t.throws(() => buildConfig({ cli: { backends: ['srv:_a._tcp.test'], resolvers: ['x'] }, env: {} }), /^--resolver: invalid resolver "x"/);
});

t.test('resolv.conf: nameserver lines, scope dropped, 127.0.0.1 when none', async (t) => {
  t.same(systemResolvers('# c\nsearch a.b\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\noptions ndots:5\n'), [
    { host: '10.0.0.2', port: 53 },
    { host: 'fe80::1', port: 53 },
  ]);
  t.same(systemResolvers(null), [{ host: '127.0.0.1', port: 53 }]);
  t.same(systemResolvers('search x\n'), [{ host: '127.0.0.1', port: 53 }]);
});

/** A DnsClient that answers from a table: `NAME TYPE` → records (or NXDOMAIN). */
function scripted(table: Record<string, Answer[] | 'NXDOMAIN' | 'FAIL'>, additionals: Answer[] = []): DnsClient & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async query(name: string, type: QueryType): Promise<DnsAnswer> {
      asked.push(`${name} ${type}`);
      const r = table[`${name} ${type}`];
      if (r === 'NXDOMAIN') return { rcode: 'NXDOMAIN', answers: [], additionals: [], server: 'x' };
      if (r === 'FAIL') throw new Error(`${name} ${type}: timeout`);
      return { rcode: 'NOERROR', answers: r ?? [], additionals: type === 'SRV' ? additionals : [], server: 'x' };
    },
  } as unknown as DnsClient & { asked: string[] };
}

t.test('dns: every A/AAAA address (CNAMEs followed), IPv4 first in numeric order, the shortest TTL', async (t) => {
  const client = scripted({
    'web.test A': [
      { type: 'CNAME', name: 'web.test', ttl: 30, data: 'real.test' },
      { type: 'A', name: 'real.test', ttl: 20, data: '10.0.0.10' },
      { type: 'A', name: 'real.test', ttl: 60, data: '10.0.0.9' },
      { type: 'A', name: 'other.test', ttl: 1, data: '10.9.9.9' },
    ],
    'web.test AAAA': [
      { type: 'CNAME', name: 'web.test', ttl: 30, data: 'real.test' },
      { type: 'AAAA', name: 'real.test', ttl: 40, data: 'fd00::1' },
    ],
  });
  const found = await resolveSource(client, { kind: 'dns', source: 'dns:web.test:80', host: 'web.test', port: 80, weight: 4 });
  t.same(found.targets.map((x) => [x.name, x.addresses, x.weight]), [
    ['10.0.0.9:80', ['10.0.0.9'], 4],
    ['10.0.0.10:80', ['10.0.0.10'], 4],
    ['[fd00::1]:80', ['fd00::1'], 4],
  ], 'a record of an unrelated name is ignored');
  t.equal(found.ttl, 20);
  await t.rejects(resolveSource(scripted({ 'no.test A': 'NXDOMAIN', 'no.test AAAA': 'NXDOMAIN' }), { kind: 'dns', source: 'dns:no.test:80', host: 'no.test', port: 80, weight: 1 }), /no A\/AAAA records \(NXDOMAIN\)/);
});

t.test('srv: TARGET:PORT names, weights clamped, addresses from the additional section or asked, "." skipped', async (t) => {
  const srv = (target: string, port: number, priority: number, weight: number, ttl = 300): Answer => ({ type: 'SRV', name: '_a._tcp.test', ttl, data: { target, port, priority, weight } });
  const client = scripted(
    {
      '_a._tcp.test SRV': [srv('One.test.', 8001, 10, 0), srv('two.test', 8002, 20, 5000, 120), srv('.', 0, 0, 0), srv('gone.test', 8003, 10, 1)],
      'two.test A': [{ type: 'A', name: 'two.test', ttl: 50, data: '10.0.0.2' }],
      'two.test AAAA': [],
      'gone.test A': 'NXDOMAIN',
      'gone.test AAAA': 'NXDOMAIN',
    },
    [{ type: 'A', name: 'one.test', ttl: 90, data: '10.0.0.1' }],
  );
  const found = await resolveSource(client, { kind: 'srv', source: 'srv:_a._tcp.test', name: '_a._tcp.test' });
  t.same(found.targets.map((x) => [x.name, x.host, x.addresses, x.weight, x.priority]), [
    ['one.test:8001', 'one.test', ['10.0.0.1'], 1, 10],
    ['two.test:8002', 'two.test', ['10.0.0.2'], 1000, 20],
  ], 'lower case without the trailing dot; weight 0 → 1, 5000 → 1000; gone.test has no address');
  t.notOk(client.asked.includes('one.test A'), 'the additional section was enough for one.test');
  t.equal(found.ttl, 50, 'shortest of SRV and address TTLs');
  await t.rejects(resolveSource(scripted({ '_b._tcp.test SRV': [] }), { kind: 'srv', source: 'srv:_b._tcp.test', name: '_b._tcp.test' }), /no SRV records/);
});

t.test('the hosts file (system resolution only): parsed like hosts(5), asked before DNS', async (t) => {
  const table = parseHosts('# static\n127.0.0.1 localhost\n::1 localhost ip6-localhost # v6\n10.0.0.5 Db.Internal db\nnot-an-ip x\n10.0.0.6\n');
  t.same([...table.entries()], [
    ['localhost', ['127.0.0.1', '::1']],
    ['ip6-localhost', ['::1']],
    ['db.internal', ['10.0.0.5']],
    ['db', ['10.0.0.5']],
  ]);
  const hosts = (name: string) => table.get(name) ?? null;
  const client = scripted({ 'web.test A': [{ type: 'A', name: 'web.test', ttl: 9, data: '10.0.0.9' }], 'web.test AAAA': [] });
  const local = await resolveSource(client, { kind: 'dns', source: 'dns:localhost:80', host: 'localhost', port: 80, weight: 1 }, { hosts });
  t.same(local.targets.map((x) => x.name), ['127.0.0.1:80', '[::1]:80']);
  t.equal(local.ttl, HOSTS_TTL_S, 'looked at again every few seconds');
  t.same(client.asked, [], 'DNS was not asked');
  const remote = await resolveSource(client, { kind: 'dns', source: 'dns:web.test:80', host: 'web.test', port: 80, weight: 1 }, { hosts });
  t.same(remote.targets.map((x) => x.name), ['10.0.0.9:80'], 'a name the file lacks goes to DNS');
  const srvClient = scripted({ '_db._tcp.test SRV': [{ type: 'SRV', name: '_db._tcp.test', ttl: 60, data: { target: 'db.internal', port: 5432, priority: 0, weight: 1 } }] });
  const srv = await resolveSource(srvClient, { kind: 'srv', source: 'srv:_db._tcp.test', name: '_db._tcp.test' }, { hosts });
  t.same(srv.targets.map((x) => [x.name, x.addresses]), [['db.internal:5432', ['10.0.0.5']]], 'an SRV target from the file');
});

t.test('one family failing: the other answers, the failed one keeps its last addresses; both failing is an error', async (t) => {
  const spec = { kind: 'dns' as const, source: 'dns:web.test:80', host: 'web.test', port: 80, weight: 1 };
  const a: Answer = { type: 'A', name: 'web.test', ttl: 30, data: '10.0.0.1' };
  const previous = (host: string) => (host === 'web.test' ? ['10.0.0.1', 'fd00::7'] : []);
  const noV6 = await resolveSource(scripted({ 'web.test A': [a], 'web.test AAAA': 'FAIL' }), spec, { previous });
  t.same(noV6.targets.map((x) => x.name), ['10.0.0.1:80', '[fd00::7]:80'], 'AAAA timed out: the IPv6 address it had stays');
  t.equal(noV6.ttl, 30);
  const first = await resolveSource(scripted({ 'web.test A': [a], 'web.test AAAA': 'FAIL' }), spec);
  t.same(first.targets.map((x) => x.name), ['10.0.0.1:80'], 'a server that never answers AAAA still gives its A records');
  await t.rejects(resolveSource(scripted({ 'web.test A': 'FAIL', 'web.test AAAA': 'FAIL' }), spec, { previous }), /timeout/, 'both failed: an error (the caller keeps its set)');
  await t.rejects(resolveSource(scripted({ 'web.test A': [], 'web.test AAAA': 'FAIL' }), spec, { previous }), /AAAA: timeout/, 'nothing usable from the family that answered: an error');
});
