import t from 'tap';
import { BlockList } from 'node:net';
import { CidrSet, LOOPBACK_CIDRS, formatIPv6Groups, ipv4ToInt, ipv6ToGroups, parseCidr } from '../../src/core/cidr.js';

t.test('parseCidr accepts addresses and blocks', async (t) => {
  const cases: Array<[string, 4 | 6, number, string]> = [
    ['1.2.3.4', 4, 32, '1.2.3.4/32'],
    ['1.2.3.0/24', 4, 24, '1.2.3.0/24'],
    ['10.1.2.3/8', 4, 8, '10.0.0.0/8'], // host bits cleared
    ['0.0.0.0/0', 4, 0, '0.0.0.0/0'],
    ['255.255.255.255', 4, 32, '255.255.255.255/32'],
    ['::1', 6, 128, '::1/128'],
    ['fd00::/8', 6, 8, 'fd00::/8'],
    ['FD12:3456::1/8', 6, 8, 'fd00::/8'],
    ['::/0', 6, 0, '::/0'],
    ['2001:db8::/33', 6, 33, '2001:db8::/33'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', 6, 128, '2001:db8::1/128'],
    ['::ffff:1.2.3.4', 4, 32, '1.2.3.4/32'], // IPv4-mapped is IPv4
    ['::ffff:10.0.0.0/104', 4, 8, '10.0.0.0/8'],
    ['::ffff:0a00:0001/120', 4, 24, '10.0.0.0/24'],
    ['1:2:3:4:5:6:1.2.3.4/128', 6, 128, '1:2:3:4:5:6:102:304/128'],
  ];
  for (const [text, family, prefix, canon] of cases) {
    const c = parseCidr(text);
    t.equal(c.family, family, `${text} family`);
    t.equal(c.prefix, prefix, `${text} prefix`);
    t.equal(c.text, canon, `${text} canonical`);
    t.equal(c.words.length, family === 4 ? 1 : 4);
  }
});

t.test('parseCidr rejects bad input with a message naming it', async (t) => {
  const bad = [
    '', 'abc', 'localhost', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1.2.3.4/33', '1.2.3.4/',
    '1.2.3.4/08', '1.2.3.4/-1', '1.2.3.4/ 8', ' 1.2.3.4', '1.2.3.4 ', '::1/129', '1::2::3',
    'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', '12345::', ':1', '1:', '1:::2', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4',
    '1.2.3.4/1/2', 'g::1',
  ];
  for (const text of bad) {
    let message = '';
    try {
      parseCidr(text);
    } catch (err) {
      message = (err as Error).message;
    }
    t.ok(message.startsWith(`invalid CIDR ${JSON.stringify(text)}: `), `${JSON.stringify(text)} -> ${message}`);
  }
  t.throws(() => new CidrSet(['10.0.0.0/8', 'nope']), /invalid CIDR "nope"/);
});

t.test('ipv4ToInt is strict', async (t) => {
  t.equal(ipv4ToInt('0.0.0.0'), 0);
  t.equal(ipv4ToInt('255.255.255.255'), 0xffffffff);
  t.equal(ipv4ToInt('10.1.2.3'), 0x0a010203);
  t.equal(ipv4ToInt('x10.1.2.3y', 1, 9), 0x0a010203);
  for (const s of ['', '1', '1.2.3', '1.2.3.', '.1.2.3', '1..2.3', '00.1.2.3', '1.2.3.04', '1.2.3.1000', '256.0.0.0', '1.2.3.4.']) {
    t.equal(ipv4ToInt(s), -1, JSON.stringify(s));
  }
});

t.test('ipv6ToGroups parses RFC 4291 text forms', async (t) => {
  const g = new Uint16Array(8);
  const good: Array<[string, number[]]> = [
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
    ['1:2:3:4:5:6:7:8', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['1:2:3:4:5:6:7::', [1, 2, 3, 4, 5, 6, 7, 0]],
    ['::2:3:4:5:6:7:8', [0, 2, 3, 4, 5, 6, 7, 8]],
    ['2001:DB8::ff00:42:8329', [0x2001, 0xdb8, 0, 0, 0, 0xff00, 0x42, 0x8329]],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]],
    ['1:2:3:4:5:6:1.2.3.4', [1, 2, 3, 4, 5, 6, 0x102, 0x304]],
  ];
  for (const [s, want] of good) {
    t.ok(ipv6ToGroups(s, g), s);
    t.same(Array.from(g), want, s);
  }
  for (const s of ['', ':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '12345::', '1:', ':1', 'g::', '::1.2.3', '1.2.3.4', '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4']) {
    t.notOk(ipv6ToGroups(s, g), JSON.stringify(s));
  }
});

t.test('formatIPv6Groups is RFC 5952 canonical', async (t) => {
  const fmt = (s: string, dotted = true): string => {
    const g = new Uint16Array(8);
    t.ok(ipv6ToGroups(s, g), s);
    return formatIPv6Groups(g, dotted);
  };
  t.equal(fmt('0:0:0:0:0:0:0:0'), '::');
  t.equal(fmt('0:0:0:0:0:0:0:1'), '::1');
  t.equal(fmt('2001:0db8:0:0:0:0:0:1'), '2001:db8::1');
  t.equal(fmt('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // tie: first run
  t.equal(fmt('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a lone zero stays
  t.equal(fmt('2001:db8:0:0:1:0:0:0'), '2001:db8:0:0:1::'); // longest run wins
  t.equal(fmt('1:0:0:0:0:0:0:0'), '1::');
  t.equal(fmt('::ffff:102:304'), '::ffff:1.2.3.4');
  t.equal(fmt('::ffff:102:304', false), '::ffff:102:304');
});

t.test('CidrSet.has', async (t) => {
  const set = new CidrSet(['10.0.0.0/8', '192.168.0.0/22', '::1', 'fd00::/8', '2001:db8::/33', 'fe80::/10']);
  t.equal(set.size, 6);
  const yes = [
    '10.0.0.0', '10.255.255.255', '10.1.2.3', '::ffff:10.1.2.3', '::FFFF:10.1.2.3', '192.168.0.0', '192.168.3.255',
    '::1', 'fd12:3456::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8::1', '2001:db8:7fff:ffff::', 'fe80::1%eth0',
    '2001:db8:1::2', '0:0:0:0:0:0:0:1',
  ];
  const no = [
    '9.255.255.255', '11.0.0.0', '192.168.4.0', '192.167.255.255', '::2', 'fe00::1', 'fc00::1', '2001:db8:8000::',
    '2001:db8:8000::1', '127.0.0.1', '', 'abc', '10.1.2.3%x', '10.1.2', '::ffff:11.0.0.1', '::10.1.2.3',
  ];
  for (const a of yes) t.ok(set.has(a), `${a} is in`);
  for (const a of no) t.notOk(set.has(a), `${a} is out`);

  const narrow = new CidrSet(['2001:db8:1::/127', '2001:db8:2::/65']);
  t.ok(narrow.has('2001:db8:1::1'));
  t.notOk(narrow.has('2001:db8:1::2'));
  t.ok(narrow.has('2001:db8:2:0:7fff:ffff:ffff:ffff'));
  t.notOk(narrow.has('2001:db8:2:0:8000::'));

  const all4 = new CidrSet(['0.0.0.0/0']);
  t.ok(all4.has('1.2.3.4'));
  t.ok(all4.has('::ffff:1.2.3.4'));
  t.notOk(all4.has('::1'));
  const all6 = new CidrSet(['::/0']);
  t.ok(all6.has('2001:db8::1'));
  t.notOk(all6.has('1.2.3.4'), 'IPv4 is matched against IPv4 blocks only');
  t.notOk(new CidrSet([]).has('1.2.3.4'));
});

t.test('LOOPBACK_CIDRS', async (t) => {
  t.same(LOOPBACK_CIDRS, ['127.0.0.0/8', '::1/128']);
  t.ok(Object.isFrozen(LOOPBACK_CIDRS));
  const lo = new CidrSet(LOOPBACK_CIDRS);
  for (const a of ['127.0.0.1', '127.255.255.254', '::1', '::ffff:127.0.0.1']) t.ok(lo.has(a), a);
  for (const a of ['128.0.0.1', '126.255.255.255', '::2', '::', '10.0.0.1']) t.notOk(lo.has(a), a);
});

t.test('CidrSet agrees with node:net BlockList on random blocks and addresses', async (t) => {
  let seed = 0x12345678;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const v4 = (x: number): string => `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
  const v6 = (): string => Array.from({ length: 8 }, () => (rnd() & 3 ? (rnd() & 0x3) : rnd() & 0xffff).toString(16)).join(':');
  let mismatches = 0;
  let checked = 0;
  let hits = 0;
  for (let round = 0; round < 40; round++) {
    const list: string[] = [];
    // One BlockList per family: BlockList also matches IPv4 addresses
    // against IPv6 rules (as ::ffff:a.b.c.d), which CidrSet deliberately does not.
    const bl4 = new BlockList();
    const bl6 = new BlockList();
    for (let k = 0; k < 4; k++) {
      const p4 = rnd() % 33;
      const a4 = v4(rnd() & 0xff0f0f0f);
      list.push(`${a4}/${p4}`);
      bl4.addSubnet(a4, p4, 'ipv4');
      const p6 = rnd() % 129;
      const a6 = v6();
      list.push(`${a6}/${p6}`);
      bl6.addSubnet(a6, p6, 'ipv6');
    }
    const set = new CidrSet(list);
    for (let k = 0; k < 200; k++) {
      const a4 = v4(rnd() & 0xff0f0f0f);
      if (set.has(a4)) hits++;
      if (set.has(a4) !== bl4.check(a4, 'ipv4')) mismatches++;
      const a6 = v6();
      if (set.has(a6) !== bl6.check(a6, 'ipv6')) mismatches++;
      checked++;
    }
  }
  t.equal(mismatches, 0);
  t.ok(hits > 100 && hits < checked, `a useful mix of hits (${hits}) and misses`);
});
