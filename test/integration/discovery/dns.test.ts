/**
 * `--backend dns:HOST:PORT` against a real DNS server (dnsmasq on
 * 127.0.0.1), whose records change while traffic flows through bin/lb4:
 * backends join and leave (an open connection is not cut; the leaver shows
 * `draining`, then goes), the server goes away (the last good set is kept,
 * `dns error` is logged, it recovers), an empty answer is kept, a start with
 * nothing resolvable still starts, TTLs are clamped to 1 s..5 min, and how
 * long traffic takes to follow a DNS change (median of 10).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { withLb4 } from '../../helpers/lb4.js';
import { DNSMASQ, startDnsmasq } from '../../helpers/dnsmasq.js';
import { backendOf, stats, statsUntil, type Json } from '../../helpers/ops.js';
import { tracked } from '../../helpers/l4-e2e.js';
import { getJson } from '../../helpers/admin.js';
import { median, reach, reachMany, samePortBackends, until } from '../../helpers/discovery.js';

const skip = DNSMASQ === null ? 'dnsmasq is not installed (apt-get install dnsmasq-base)' : false;
const names = (s: Json): string[] => (s.backends as Json[]).map((b) => b.name as string).sort();

t.test('dns: every address is a backend; records change under traffic; a leaver drains, then leaves', { skip }, async (t) => {
  const { port, backends: [, b3] } = await samePortBackends(t, ['127.0.0.2', '127.0.0.3', '127.0.0.4'], ['b2', 'b3', 'b4']);
  const dns = await startDnsmasq(t, { ttl: 1, hosts: ['127.0.0.2 web.test', '127.0.0.3 web.test'] });
  const src = `dns:web.test:${port}`;
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', src, '--resolver', dns.address, '--admin', '127.0.0.1:0', '--health-check', 'off', '--slow-start', '60s']);
  const admin = lb.adminPort!;

  let s = await stats(admin);
  t.same(names(s), [`127.0.0.2:${port}`, `127.0.0.3:${port}`], 'one backend per address, named IP:PORT, before the first client');
  for (const b of s.backends as Json[]) {
    t.equal(b.source, src, `${b.name}: source`);
    t.equal(b.address, b.name, `${b.name}: connects to that address`);
    t.equal(b.state, 'up');
    t.equal(b.weight, 1);
  }
  t.same(new Set(await reachMany(lb.ports[0]!, 4)), new Set(['b2', 'b3']), 'traffic reaches both');

  // a long connection on b3, then b3 leaves the records and 127.0.0.4 joins
  let long = null;
  for (let i = 0; i < 6 && long === null; i++) {
    const c = await tracked(t, lb.ports[0]!);
    if ((await c.readLine()) === 'b3') long = c;
    else c.destroy();
  }
  t.ok(long, 'a connection open on b3');
  await b3!.waitForConnections(1);
  const since = lb.logs.length;
  await dns.setHosts(['127.0.0.2 web.test', '127.0.0.4 web.test']);
  const added = await lb.waitForLog((l) => l.msg === 'backend added' && l.backend === `127.0.0.4:${port}`, 5000, since);
  t.equal(added.source, src, '`backend added` with the source');
  const removed = await lb.waitForLog((l) => l.msg === 'backend removed' && l.backend === `127.0.0.3:${port}`, 5000, since);
  t.equal(removed.source, src, '`backend removed` with the source');

  s = await stats(admin);
  t.equal(backendOf(s, `127.0.0.3:${port}`)?.state, 'draining', 'the leaver shows draining while its connection is open');
  t.equal(backendOf(s, `127.0.0.3:${port}`)?.active, 1);
  t.equal(backendOf(s, `127.0.0.4:${port}`)?.state, 'up');
  t.ok(backendOf(s, `127.0.0.4:${port}`).effective_weight < backendOf(s, `127.0.0.2:${port}`).effective_weight, 'the joiner ramps up (--slow-start); the backends lb4 started with do not');
  long!.write('still here\n');
  t.equal(await long!.readLine(), 'still here', 'the open connection is not cut');
  const after = await reachMany(lb.ports[0]!, 6);
  t.notOk(after.includes('b3'), `no new connection reaches the leaver (${after.join(' ')})`);
  t.ok(after.includes('b4'), 'the joiner gets traffic');

  long!.end();
  s = await statsUntil(admin, (x) => backendOf(x, `127.0.0.3:${port}`) === undefined, 5000, 'the leaver to go after its last connection');
  t.same(names(s), [`127.0.0.2:${port}`, `127.0.0.4:${port}`]);
});

t.test('the DNS server goes away: the last good set is kept, `dns error` logged, recovery; an empty answer is kept too', { skip }, async (t) => {
  const { port } = await samePortBackends(t, ['127.0.0.2', '127.0.0.4'], ['b2', 'b4']);
  const dns = await startDnsmasq(t, { ttl: 1, hosts: ['127.0.0.2 web.test'] });
  const src = `dns:web.test:${port}`;
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', src, '--resolver', dns.address, '--admin', '127.0.0.1:0', '--health-check', 'off']);
  const admin = lb.adminPort!;
  t.equal(await reach(lb.ports[0]!), 'b2');

  let since = lb.logs.length;
  await dns.stop();
  const err = await lb.waitForLog((l) => l.msg === 'dns error' && l.source === src, 5000, since);
  t.equal(err.kept, 1, 'it says what it keeps');
  t.same(names(await stats(admin)), [`127.0.0.2:${port}`], 'the last good set is kept');
  t.equal(await reach(lb.ports[0]!), 'b2', 'and serves');
  // still failing a while later, still serving
  await lb.waitForLog((l) => l.msg === 'dns error' && l.source === src, 5000, lb.logs.indexOf(err) + 1);
  t.equal(await reach(lb.ports[0]!), 'b2');
  t.equal(lb.logsMatching((l) => l.msg === 'backend removed').length, 0, 'nothing removed while the server is away');

  // back, with new records
  await dns.restart({ hosts: ['127.0.0.4 web.test'] });
  since = lb.logs.length;
  await lb.waitForLog((l) => l.msg === 'backend added' && l.backend === `127.0.0.4:${port}`, 20_000, since);
  await until(() => reach(lb.ports[0]!), (n) => n === 'b4', 5000, 'traffic on the new set');

  // an empty answer (NXDOMAIN) keeps what there is
  since = lb.logs.length;
  await dns.setHosts([]);
  const empty = await lb.waitForLog((l) => l.msg === 'dns error' && l.source === src, 5000, since);
  t.match(empty.err, /no A\/AAAA records/, `why: ${empty.err}`);
  t.same(names(await stats(admin)), [`127.0.0.4:${port}`], 'kept');
  t.equal(await reach(lb.ports[0]!), 'b4');
});

t.test('a start with nothing resolvable still starts, logs `dns error`, and takes the backends when DNS answers', { skip }, async (t) => {
  const { port } = await samePortBackends(t, ['127.0.0.2'], ['b2']);
  const dns = await startDnsmasq(t, { ttl: 1, hosts: ['127.0.0.2 web.test'] });
  await dns.stop();
  const src = `dns:web.test:${port}`;
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', src, '--resolver', dns.address, '--admin', '127.0.0.1:0', '--health-check', 'off']);
  await lb.waitForLog((l) => l.msg === 'dns error' && l.source === src, 5000);
  t.notOk(lb.hasExited, 'running (not exit 2 for "no backends")');
  const h = await getJson(lb.adminPort!, '/health');
  t.equal(h.status, 503);
  t.same(h.json, { status: 'down', up: 0, total: 0 });
  t.equal(await reach(lb.ports[0]!), null, 'a client is closed: nothing to try');
  await dns.start();
  await lb.waitForLog((l) => l.msg === 'backend added' && l.source === src, 20_000);
  t.equal(await reach(lb.ports[0]!), 'b2');
});

t.test('TTLs: 0 is asked again after 1 s, not sooner; a long TTL is capped at 5 minutes', { skip }, async (t) => {
  const { port } = await samePortBackends(t, ['127.0.0.2'], ['b2']);
  const dns = await startDnsmasq(t, { ttl: 0, hosts: ['127.0.0.2 web.test'] });
  const src = `dns:web.test:${port}`;
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', src, '--resolver', dns.address, '--health-check', 'off', '--log-level', 'debug']);
  const resolved = () => lb.logsMatching((l) => l.msg === 'dns resolved' && l.source === src);
  const queriesBefore = dns.queries().filter((q) => q.includes('query[A] web.test')).length;
  await lb.waitForLog(() => resolved().length >= 5, 10_000);
  const lines = resolved().slice(0, 5);
  const queries = dns.queries().filter((q) => q.includes('query[A] web.test')).length - queriesBefore;
  const gaps = lines.slice(1).map((l, i) => (l.time as number) - (lines[i]!.time as number));
  t.ok(gaps.every((g) => g >= 950 && g < 2500), `about 1 s apart: ${gaps.join(', ')} ms`);
  t.ok(lines.every((l) => l.ttl_s === 0 && l.next_ms === 1000), 'TTL 0 → next in 1000 ms');
  t.ok(queries <= 6, `dnsmasq saw ${queries} A queries for 5 resolutions (not a tight loop)`);

  await dns.restart({ ttl: 100_000 });
  const long = await lb.waitForLog((l) => l.msg === 'dns resolved' && l.source === src && l.ttl_s === 100_000, 10_000);
  t.equal(long.next_ms, 300_000, 'a TTL of 100000 s is asked again after 5 minutes');
});

t.test('time from a DNS change to traffic following it (median of 10)', { skip }, async (t) => {
  const { port, backends } = await samePortBackends(t, ['127.0.0.2', '127.0.0.4'], ['b2', 'b4']);
  const dns = await startDnsmasq(t, { ttl: 1, hosts: ['127.0.0.2 web.test'] });
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', `dns:web.test:${port}`, '--resolver', dns.address, '--health-check', 'off']);
  t.equal(await reach(lb.ports[0]!), 'b2');
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const to = backends[i % 2 === 0 ? 1 : 0]!;
    const ip = to.address.split(':')[0]!;
    // change at a random point of lb4's 1 s resolution cycle (changing right
    // after traffic followed the last change would always wait a full cycle)
    await new Promise((r) => setTimeout(r, Math.random() * 1000));
    const t0 = Date.now();
    await dns.setHosts([`${ip} web.test`]);
    await until(() => reach(lb.ports[0]!), (n) => n === to.name, 10_000, `traffic on ${to.name}`, 10);
    times.push(Date.now() - t0);
  }
  const m = median(times);
  t.comment(`DNS change → traffic (TTL 1 s): median ${m} ms, min ${Math.min(...times)}, max ${Math.max(...times)} (${times.join(', ')})`);
  t.ok(m < 2000, `median ${m} ms within a TTL plus a query`);
});

t.test('without --resolver: the system resolution, /etc/hosts first (dns:localhost)', { skip: /\blocalhost\b/.test(hostsFile()) ? false : 'no localhost in /etc/hosts' }, async (t) => {
  const { port } = await samePortBackends(t, ['127.0.0.1'], ['local']);
  const src = `dns:localhost:${port}`;
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', src, '--admin', '127.0.0.1:0', '--health-check', 'off']);
  const s = await stats(lb.adminPort!);
  t.ok(backendOf(s, `127.0.0.1:${port}`), `127.0.0.1:${port} found (${names(s).join(', ')})`);
  t.equal(backendOf(s, `127.0.0.1:${port}`).source, src);
  t.equal(await until(() => reach(lb.ports[0]!), (n) => n === 'local', 5000, 'traffic'), 'local');
});

function hostsFile(): string {
  try {
    return readFileSync('/etc/hosts', 'utf8');
  } catch {
    return '';
  }
}
