/**
 * `--backend srv:NAME` against a real DNS server (dnsmasq on 127.0.0.1):
 * targets become backends named TARGET:PORT with the SRV weight (clamped to
 * 1..1000); a weight change applies in place; only the lowest priority with
 * a backend up gets traffic, the next one when none is (health decides, and
 * it is re-evaluated when health changes); an answer too big for UDP is
 * asked again over TCP; with --workers the primary resolves and the workers
 * follow.
 */
import t from 'tap';
import { withLb4 } from '../../helpers/lb4.js';
import { DNSMASQ, startDnsmasq } from '../../helpers/dnsmasq.js';
import { backendOf, backends as namedBackends, stats, statsUntil, type Json } from '../../helpers/ops.js';
import { BACKEND_HOST, namedBackend } from '../../helpers/backends.js';
import { reachMany, until } from '../../helpers/discovery.js';

const skip = DNSMASQ === null ? 'dnsmasq is not installed (apt-get install dnsmasq-base)' : false;
const SRC = 'srv:_app._tcp.test';

function count(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of list) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** srv-host and host-record lines: [target, port, priority, weight] on BACKEND_HOST (this test process's loopback address, where its backends listen). */
function records(targets: Array<[string, number, number, number]>): string[] {
  const out: string[] = [];
  for (const [name, port, priority, weight] of targets) {
    out.push(`srv-host=_app._tcp.test,${name}.test,${port},${priority},${weight}`);
    out.push(`host-record=${name}.test,${BACKEND_HOST}`);
  }
  return out;
}

t.test('srv: TARGET:PORT backends with SRV weights (clamped), changed in place', { skip }, async (t) => {
  const [one, two] = await namedBackends(t, 'one', 'two');
  const dns = await startDnsmasq(t, {
    ttl: 1,
    records: records([
      ['one', one!.port, 0, 3],
      ['two', two!.port, 0, 1],
      ['zero', 1, 5, 0],
      ['big', 2, 5, 60000],
    ]),
  });
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', SRC, '--resolver', dns.address, '--strategy', 'wrr', '--health-check', 'off', '--admin', '127.0.0.1:0']);
  const admin = lb.adminPort!;
  const s = await stats(admin);
  const row = (name: string): Json => backendOf(s, name);
  t.same(
    [row(`one.test:${one!.port}`), row(`two.test:${two!.port}`), row('zero.test:1'), row('big.test:2')].map((b: Json) => b && [b.address, b.weight, b.priority, b.source, b.state]),
    [
      [`${BACKEND_HOST}:${one!.port}`, 3, 0, SRC, 'up'],
      [`${BACKEND_HOST}:${two!.port}`, 1, 0, SRC, 'up'],
      [`${BACKEND_HOST}:1`, 1, 5, SRC, 'up'],
      [`${BACKEND_HOST}:2`, 1000, 5, SRC, 'up'],
    ],
    'named TARGET:PORT, address of the target, weight clamped to 1..1000, priority shown',
  );
  t.same(count(await reachMany(lb.ports[0]!, 8)), { one: 6, two: 2 }, 'weights 3:1, and priority 5 gets nothing while priority 0 is up');

  const since = lb.logs.length;
  await dns.restart({ records: records([['one', one!.port, 0, 1], ['two', two!.port, 0, 3], ['zero', 1, 5, 0], ['big', 2, 5, 60000]]) });
  await statsUntil(admin, (x) => backendOf(x, `two.test:${two!.port}`)?.weight === 3, 10_000, 'the new weights');
  t.same(count(await reachMany(lb.ports[0]!, 8)), { one: 2, two: 6 }, 'traffic follows the new weights');
  t.equal(lb.logsMatching((l) => (l.msg === 'backend removed' || l.msg === 'backend added') && lb.logs.indexOf(l) >= since).length, 0, 'a weight change is no leave and join');
});

t.test('srv: priorities: the next one only when no backend of the lowest is up, re-evaluated with health', { skip }, async (t) => {
  const [a, b, c] = await namedBackends(t, 'a', 'b', 'c');
  const dns = await startDnsmasq(t, { ttl: 1, records: records([['a', a!.port, 10, 1], ['b', b!.port, 10, 1], ['c', c!.port, 20, 1]]) });
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--backend', SRC, '--resolver', dns.address, '--admin', '127.0.0.1:0',
    '--health-check', 'tcp', '--health-interval', '100ms', '--health-timeout', '500ms', '--fall', '1', '--rise', '1',
  ]);
  const admin = lb.adminPort!;
  const port = lb.ports[0]!;
  t.same(new Set(await reachMany(port, 6)), new Set(['a', 'b']), 'priority 10 only');
  t.equal(backendOf(await stats(admin), `c.test:${c!.port}`)?.state, 'up', 'c is up, waiting');

  await a!.close();
  await statsUntil(admin, (s) => backendOf(s, `a.test:${a!.port}`)?.state === 'down', 5000, 'a down');
  t.same(new Set(await reachMany(port, 4)), new Set(['b']), 'one of priority 10 still up: c still waits');

  await b!.close();
  await statsUntil(admin, (s) => backendOf(s, `b.test:${b!.port}`)?.state === 'down', 5000, 'b down');
  t.same(new Set(await reachMany(port, 4)), new Set(['c']), 'none of priority 10 up: priority 20 serves');

  const back = await namedBackend('a', { port: a!.port });
  t.teardown(() => back.close());
  await statsUntil(admin, (s) => backendOf(s, `a.test:${a!.port}`)?.state === 'up', 5000, 'a up again');
  await until(() => reachMany(port, 4), (l) => l.every((n) => n === 'a'), 3000, 'priority 10 back in charge');
  t.pass('a back up: priority 20 waits again');
});

t.test('srv: an answer too big for UDP is asked again over TCP', { skip }, async (t) => {
  const targets: Array<[string, number, number, number]> = [];
  for (let i = 1; i <= 40; i++) targets.push([`target-number-${i}`, 9000 + i, 0, 1]);
  const dns = await startDnsmasq(t, { ttl: 60, records: records(targets) });
  const udp = await dns.ask('_app._tcp.test', 'SRV');
  t.ok(udp.truncated, `the UDP answer is truncated (${udp.answers} of 40 records)`);
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', SRC, '--resolver', dns.address, '--health-check', 'off', '--admin', '127.0.0.1:0']);
  const s = await stats(lb.adminPort!);
  t.equal(s.backends.length, 40, 'all 40 targets');
});

t.test('--workers: the primary resolves, the workers follow; no worker resolves', { skip }, async (t) => {
  const [one, two, three] = await namedBackends(t, 'one', 'two', 'three');
  const dns = await startDnsmasq(t, { ttl: 1, records: records([['one', one!.port, 0, 1], ['two', two!.port, 0, 1]]) });
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', SRC, '--resolver', dns.address, '--workers', '2', '--health-check', 'off', '--admin', '127.0.0.1:0', '--log-level', 'debug'], { timeoutMs: 30_000 });
  const admin = lb.adminPort!;
  const s = await stats(admin);
  t.same((s.backends as Json[]).map((b) => [b.name, b.source]).sort(), [[`one.test:${one!.port}`, SRC], [`two.test:${two!.port}`, SRC]]);
  t.same(new Set(await reachMany(lb.ports[0]!, 6)), new Set(['one', 'two']), 'the workers serve what the primary found');

  await dns.restart({ records: records([['one', one!.port, 0, 1], ['three', three!.port, 0, 1]]) });
  await lb.waitForLog((l) => l.msg === 'backend added' && l.backend === `three.test:${three!.port}`, 10_000);
  const after = await until(() => reachMany(lb.ports[0]!, 6), (l) => l.includes('three') && !l.includes('two'), 5000, 'every worker on the new set');
  t.same(new Set(after), new Set(['one', 'three']));
  await statsUntil(admin, (x) => backendOf(x, `two.test:${two!.port}`) === undefined && backendOf(x, `three.test:${three!.port}`)?.source === SRC, 8000, 'the primary shows the new set');

  const resolving = lb.logsMatching((l) => l.msg === 'dns resolved' || l.msg === 'dns discovery');
  t.ok(resolving.length > 0 && resolving.every((l) => l.worker === undefined), 'only the primary resolves');
  t.same(lb.logsMatching((l) => l.msg === 'backend added' && l.worker !== undefined), [], 'membership is logged once, by the primary');
  const workerStats = await stats(admin, '?worker=1');
  t.ok(backendOf(workerStats, `three.test:${three!.port}`), 'a worker holds the new backend');
});
