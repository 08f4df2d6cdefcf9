/**
 * L4 balancing strategies end to end (README "Strategies"): exact pick sequences
 * for round-robin and smooth weighted round-robin, least-connections against
 * held connections, and ip-hash stickiness per client IP (distinct loopback
 * source addresses).
 */
import t from 'tap';
import { namedBackend, type NamedBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { nameOf, tracked, waitAccess, type Host } from '../../helpers/l4-e2e.js';

async function three(t: Host): Promise<NamedBackend[]> {
  const bs = await Promise.all(['a', 'b', 'c'].map((n) => namedBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  return bs;
}

t.test('round-robin: a b c a b c over six sequential connections', async (t) => {
  const [a, b, c] = await three(t);
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--health-check', 'off',
    '--backend', `${a!.address},name=a`,
    '--backend', `${b!.address},name=b`,
    '--backend', `${c!.address},name=c`,
  ]);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) got.push(await nameOf(lb.ports[0]!));
  t.same(got, ['a', 'b', 'c', 'a', 'b', 'c']);
  t.equal(a!.accepted, 2);
  t.equal(b!.accepted, 2);
  t.equal(c!.accepted, 2);
});

t.test('weighted-round-robin 5,1,1: a a b a c a a', async (t) => {
  const [a, b, c] = await three(t);
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--health-check', 'off',
    '--strategy', 'weighted-round-robin',
    '--backend', `${a!.address},weight=5,name=a`,
    '--backend', `${b!.address},weight=1,name=b`,
    '--backend', `${c!.address},weight=1,name=c`,
  ]);
  const got: string[] = [];
  for (let i = 0; i < 14; i++) got.push(await nameOf(lb.ports[0]!));
  t.same(got.slice(0, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'first period');
  t.same(got.slice(7), ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'second period repeats it');
});

t.test('weight 0 gets no traffic', async (t) => {
  const [a, b, c] = await three(t);
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--health-check', 'off',
    '--backend', `${a!.address},name=a`,
    '--backend', `${b!.address},weight=0,name=b`,
    '--backend', `${c!.address},name=c`,
  ]);
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push(await nameOf(lb.ports[0]!));
  t.same(got, ['a', 'c', 'a', 'c']);
  t.equal(b!.accepted, 0);
});

t.test('least-connections goes to the least loaded backend', async (t) => {
  const [a, b, c] = await three(t);
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--health-check', 'off',
    '--strategy', 'least-connections',
    '--access-log',
    '--backend', `${a!.address},name=a`,
    '--backend', `${b!.address},name=b`,
    '--backend', `${c!.address},name=c`,
  ]);
  const port = lb.ports[0]!;
  const held = new Map<string, Awaited<ReturnType<typeof tracked>>[]>([['a', []], ['b', []], ['c', []]]);
  const open = async (): Promise<string> => {
    const s = await tracked(t, port);
    const name = await s.readLine();
    held.get(name)!.push(s);
    return name;
  };
  const load = (): Record<string, number> => Object.fromEntries([...held].map(([k, v]) => [k, v.length]));

  // Three held connections: one on each (all were at 0).
  const first = [await open(), await open(), await open()];
  t.same([...first].sort(), ['a', 'b', 'c'], 'one connection per backend while all tie');
  // Two more: they land on two distinct backends (ties at 1).
  const n4 = await open();
  const n5 = await open();
  t.not(n4, n5, 'the 4th and 5th go to different backends');
  const lightest = ['a', 'b', 'c'].find((n) => n !== n4 && n !== n5)!;
  t.equal(await open(), lightest, `the 6th goes to the only backend with 1 connection (${lightest})`);
  t.same(load(), { a: 2, b: 2, c: 2 });

  // Free both connections of one backend: it gets the next two.
  const freed = n4;
  const socks = held.get(freed)!.splice(0);
  for (const s of socks) s.end();
  await waitAccess(lb, 2);
  t.equal(await open(), freed, `${freed} (0 active) gets the next connection`);
  t.equal(await open(), freed, `${freed} (1 active, others 2) gets the next one too`);
  t.same(load(), { a: 2, b: 2, c: 2 });
  for (const list of held.values()) for (const s of list) s.destroy();
});

t.test('ip-hash: each client IP sticks to one backend; IPs spread', async (t) => {
  const [a, b, c] = await three(t);
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0', '--health-check', 'off',
    '--strategy', 'ip-hash',
    '--backend', `${a!.address},name=a`,
    '--backend', `${b!.address},name=b`,
    '--backend', `${c!.address},name=c`,
  ]);
  const port = lb.ports[0]!;
  const byIp = new Map<string, string>();
  for (let i = 2; i < 22; i++) {
    const ip = `127.0.0.${i}`;
    const names = [await nameOf(port, ip), await nameOf(port, ip), await nameOf(port, ip)];
    t.same(names, [names[0], names[0], names[0]], `${ip} always lands on ${names[0]}`);
    byIp.set(ip, names[0]!);
  }
  // Interleaved second pass: still the same mapping.
  for (const [ip, name] of byIp) t.equal(await nameOf(port, ip), name, `${ip} again on ${name}`);
  const used = new Set(byIp.values());
  t.ok(used.size >= 2, `20 client IPs use at least two backends (used: ${[...used].sort().join(',')})`);
});
