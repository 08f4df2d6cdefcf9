/**
 * A fleet: three lb4 instances with ip-hash and the same backends (names
 * and weights), given in different orders and from different sources —
 * flags, a YAML file, and SRV records (dnsmasq) — send every client IP to
 * the same backend, before a backend leaves, while it is gone, and after it
 * returns (README "Discovery", "Fleets"). 10,000 keys: each one a distinct
 * client address 127.10.B.C, connecting through each instance.
 *
 * The backend leaves each instance the way its source allows: drained by
 * the admin API (flags), removed from the file and SIGHUP (YAML), removed
 * from the DNS records (SRV); it returns the same ways.
 */
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { DNSMASQ, startDnsmasq } from '../../helpers/dnsmasq.js';
import { post } from '../../helpers/admin.js';
import { backendOf, statsUntil, tempDir, writeConfig } from '../../helpers/ops.js';

// 90,000 connections in all (about 100 s on an idle 2-core machine): more than the
// suite's 120 s per file allows on a busy one
t.setTimeout(600_000);

const skip = DNSMASQ === null ? 'dnsmasq is not installed (apt-get install dnsmasq-base)' : false;
const KEYS = 10_000;
const CONCURRENCY = 48;
const TOKEN = 'fleet-token';

/** Key i → a distinct loopback client address 127.10.B.C (B, C in 1..250). */
function clientIp(i: number): string {
  return `127.10.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`;
}

/** A backend that writes its name and closes (it closes first: no TIME_WAIT piles up on lb4's side). */
async function nameAndClose(t: { teardown(fn: () => unknown): void }, name: string): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(`${name}\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** The backend name one connection from `localAddress` through lb4 reaches. */
function probe(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let data = '';
    s.setEncoding('utf8');
    s.setTimeout(10_000, () => s.destroy(new Error(`timeout from ${localAddress}`)));
    s.on('data', (d: string) => (data += d));
    s.on('end', () => s.end());
    s.on('error', reject);
    s.on('close', () => {
      const line = data.split('\n')[0]!;
      if (line) resolve(line);
      else reject(new Error(`no backend for ${localAddress}`));
    });
  });
}

/** Every key's backend through one instance. */
async function mapKeys(port: number): Promise<string[]> {
  const out = new Array<string>(KEYS);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= KEYS) return;
      out[i] = await probe(port, clientIp(i));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return out;
}

function agreement(maps: string[][]): number {
  let same = 0;
  for (let i = 0; i < KEYS; i++) if (maps.every((m) => m[i] === maps[0]![i])) same++;
  return same;
}

function shares(m: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of m) out[n] = (out[n] ?? 0) + 1;
  return out;
}

t.test('three instances, three sources, one mapping: 10,000 keys before, during and after a backend leaves', { skip, timeout: 540_000 }, async (t) => {
  const weights: Record<string, number> = { b1: 1, b2: 2, b3: 3 };
  const ports: Record<string, number> = {};
  for (const n of ['b1', 'b2', 'b3']) ports[n] = await nameAndClose(t, n);
  const full = (n: string): string => `${n}.fleet.test:${ports[n]}`;
  const srvLines = (list: string[]) => list.flatMap((n) => [`srv-host=_fleet._tcp.test,${n}.fleet.test,${ports[n]},0,${weights[n]}`, `host-record=${n}.fleet.test,127.0.0.1`]);
  const dns = await startDnsmasq(t, { ttl: 1, records: srvLines(['b2', 'b3', 'b1']) });

  const common = ['--listen', '127.0.0.1:0', '--strategy', 'ip-hash', '--health-check', 'off', '--admin', '127.0.0.1:0', '--admin-token', TOKEN, '--log-level', 'warn'];
  // A: flags, order b1 b2 b3
  const a = await withLb4(t, [...common, ...['b1', 'b2', 'b3'].flatMap((n) => ['--backend', `127.0.0.1:${ports[n]},name=${full(n)},weight=${weights[n]}`])]);
  // B: YAML, order b3 b1 b2
  const file = join(tempDir(t), 'lb4.yaml');
  const yaml = (list: string[]) => writeConfig(file, ['backends:', ...list.map((n) => `  - { name: "${full(n)}", address: "127.0.0.1:${ports[n]}", weight: ${weights[n]} }`)]);
  yaml(['b3', 'b1', 'b2']);
  const b = await withLb4(t, [...common, '--config', file]);
  // C: SRV records, order b2 b3 b1
  const c = await withLb4(t, [...common, '--backend', 'srv:_fleet._tcp.test', '--resolver', dns.address]);
  const fleet: Array<[string, Lb4Process]> = [['flags', a], ['yaml', b], ['srv', c]];

  const eligibleEverywhere = async (name: string, want: boolean): Promise<void> => {
    for (const [, lb] of fleet) {
      await statsUntil(lb.adminPort!, (s) => (backendOf(s, name)?.state === 'up') === want, 10_000, `${name} ${want ? 'up' : 'gone'}`);
    }
  };
  const round = async (label: string): Promise<string[]> => {
    const started = Date.now();
    const maps = await Promise.all(fleet.map(([, lb]) => mapKeys(lb.ports[0]!)));
    const same = agreement(maps);
    t.comment(`${label}: ${same} of ${KEYS} keys on the same backend in all three (${((100 * same) / KEYS).toFixed(2)}%); shares ${JSON.stringify(shares(maps[0]!))}; ${Date.now() - started} ms`);
    t.equal(same, KEYS, `${label}: every key on the same backend through flags, YAML and SRV`);
    return maps[0]!;
  };

  await eligibleEverywhere(full('b2'), true);
  const before = await round('before');
  const s = shares(before);
  t.ok(s.b1! > 1000 && s.b1! < 2400 && s.b3! > 4000 && s.b3! < 6000, `weights 1:2:3 are honoured (${JSON.stringify(s)})`);

  // b2 leaves: drained (flags), removed from the file (YAML), removed from the records (SRV)
  t.equal((await post(a.adminPort!, `/backends/${full('b2')}/drain`, TOKEN)).status, 200);
  yaml(['b3', 'b1']);
  b.kill('SIGHUP');
  await dns.restart({ records: srvLines(['b3', 'b1']) });
  await eligibleEverywhere(full('b2'), false);
  const during = await round('b2 gone');
  let moved = 0;
  for (let i = 0; i < KEYS; i++) {
    if (before[i] !== 'b2' && during[i] !== before[i]) moved++;
  }
  t.equal(moved, 0, "only b2's keys moved");
  t.notOk(during.includes('b2'));

  // b2 returns
  t.equal((await post(a.adminPort!, `/backends/${full('b2')}/enable`, TOKEN)).status, 200);
  yaml(['b3', 'b1', 'b2']);
  b.kill('SIGHUP');
  await dns.restart({ records: srvLines(['b2', 'b3', 'b1']) });
  await eligibleEverywhere(full('b2'), true);
  const after = await round('b2 back');
  let back = 0;
  for (let i = 0; i < KEYS; i++) if (after[i] === before[i]) back++;
  t.equal(back, KEYS, 'every key is back where it was before b2 left');
});
