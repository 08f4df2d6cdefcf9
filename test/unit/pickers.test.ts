/**
 * Unit tests of the balancing strategies (README "Strategies"; the picker
 * contract in src/core/pickers/picker.ts): exact pick sequences, distributions within a tolerance, and
 * which keys move when a backend leaves or returns.
 */
import t from 'tap';
import { hashString } from '../../src/core/hash.js';
import {
  findPickerFactory,
  ipHash,
  leastConnections,
  pickerFactories,
  random,
  roundRobin,
  strategyNames,
  weightedRoundRobin,
} from '../../src/core/pickers/index.js';
import { buildWeightedRoundRobin } from '../../src/core/pickers/weighted-round-robin.js';
import type { Picker } from '../../src/core/pickers/picker.js';
import { prng, noRandom } from '../helpers/random.js';

interface TestBackend {
  name: string;
  weight: number;
  active: number;
}

function backends(weights: readonly number[], names?: readonly string[]): TestBackend[] {
  return weights.map((weight, i) => ({ name: names?.[i] ?? `b${i}`, weight, active: 0 }));
}

function picks(p: Picker, count: number, key = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(p.pick(key, 0));
  return out;
}

/** The first choice and the alternatives 1..n-1 right after it. */
function attemptRun(p: Picker, n: number, key = 0): number[] {
  const out: number[] = [];
  for (let a = 0; a < n; a++) out.push(p.pick(key, a));
  return out;
}

function sortedUnique(xs: readonly number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

t.test('registry: names, aliases, order, needs', async (t) => {
  t.same(
    pickerFactories.map((f) => f.name),
    ['round-robin', 'random', 'weighted-round-robin', 'least-connections', 'ip-hash', 'p2c-ewma'],
  );
  const expected: Record<string, string[]> = {
    'round-robin': ['round_robin', 'roundrobin', 'rr'],
    random: [],
    'weighted-round-robin': ['weighted', 'wrr', 'weighted_round_robin'],
    'least-connections': ['least_conn', 'leastconnections', 'lc'],
    'ip-hash': ['ip_hash', 'iphash', 'consistent-hash'],
    'p2c-ewma': ['peak-ewma', 'p2c'],
  };
  for (const f of pickerFactories) {
    t.same([...f.aliases], expected[f.name], `aliases of ${f.name}`);
    t.equal(f.needs, f.name === 'ip-hash' ? 'client-ip' : 'none', `needs of ${f.name}`);
    t.equal(findPickerFactory(f.name), f);
    for (const alias of f.aliases) t.equal(findPickerFactory(alias), f, `alias ${alias}`);
  }
  t.same(
    [...strategyNames],
    Object.entries(expected).flatMap(([name, aliases]) => [name, ...aliases]),
  );
  t.equal(findPickerFactory('RR'), undefined, 'case-sensitive');
  t.equal(findPickerFactory('Round-Robin'), undefined);
  t.equal(findPickerFactory(''), undefined);
  t.equal(findPickerFactory('least-conn'), undefined);
  t.equal(findPickerFactory('toString'), undefined, 'no prototype names');
  t.equal(roundRobin, findPickerFactory('rr'));
});

t.test('round-robin', async (t) => {
  t.test('cycles in configured order, weights ignored', async (t) => {
    const p = roundRobin.build(backends([5, 1, 1]), noRandom);
    t.same(picks(p, 9), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });
  t.test('alternatives visit every backend once within n attempts', async (t) => {
    const p = roundRobin.build(backends([1, 1, 1]), noRandom);
    t.same(attemptRun(p, 3), [0, 1, 2]);
    p.pick(0, 0);
    t.same(sortedUnique(attemptRun(p, 3)), [0, 1, 2]);
    const q = roundRobin.build(backends(range(7).map(() => 1)), noRandom);
    q.pick(0, 0);
    q.pick(0, 0);
    t.same(sortedUnique(attemptRun(q, 7)), range(7));
  });
  t.test('one backend', async (t) => {
    const p = roundRobin.build(backends([1]), noRandom);
    t.same(attemptRun(p, 3), [0, 0, 0]);
  });
});

t.test('random', async (t) => {
  t.test('uniform within 5% over 30,000 picks, from the random argument', async (t) => {
    const p = random.build(backends([1, 5, 1]), prng(42));
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[p.pick(0, 0)]!++;
    for (const c of counts) t.ok(c >= 9500 && c <= 10500, `count ${c} within 10,000 +-5%`);
  });
  t.test('deterministic for a given source', async (t) => {
    const a = random.build(backends([1, 1, 1, 1]), prng(7));
    const b = random.build(backends([1, 1, 1, 1]), prng(7));
    t.same(picks(a, 50), picks(b, 50));
    t.equal(random.build(backends([1, 1, 1]), () => 0).pick(0, 0), 0);
    t.equal(random.build(backends([1, 1, 1]), () => 0.999999).pick(0, 0), 2);
    t.equal(random.build(backends([1, 1, 1]), () => 1).pick(0, 0), 2, 'clamped');
  });
  t.test('alternatives are distinct and cover all n', async (t) => {
    const rnd = prng(99);
    for (const n of [1, 2, 6, 7, 12]) {
      const p = random.build(backends(range(n).map(() => 1)), rnd);
      for (let trial = 0; trial < 20; trial++) {
        t.same(sortedUnique(attemptRun(p, n)), range(n), `n=${n}`);
      }
    }
  });
});

/** nginx's loop, O(n) per pick: the reference for weighted-round-robin. */
function naiveSmooth(weights: readonly number[], count: number): number[] {
  const current = weights.map(() => 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  for (let s = 0; s < count; s++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(best);
  }
  return out;
}

t.test('weighted-round-robin', async (t) => {
  t.test('weights 5,1,1 give a a b a c a a, twice in a row', async (t) => {
    const p = weightedRoundRobin.build(backends([5, 1, 1]), noRandom);
    t.same(picks(p, 14), [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    const live = buildWeightedRoundRobin(backends([5, 1, 1]), 0);
    t.same(picks(live, 14), [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0], 'without the table');
  });

  t.test('equals the naive O(n) algorithm on random weight sets', async (t) => {
    const rnd = prng(2024);
    const ranges = [1, 2, 5, 10, 100, 1000];
    let mismatches = 0;
    for (let trial = 0; trial < 240; trial++) {
      const n = 1 + Math.floor(rnd() * 60);
      const maxW = ranges[trial % ranges.length]!;
      const weights = range(n).map(() => 1 + Math.floor(rnd() * maxW));
      if (trial % 10 === 0) for (let i = 0; i < n; i++) weights[i]! *= 6; // gcd > 1
      const total = weights.reduce((a, b) => a + b, 0);
      const count = Math.min(2 * total + 17, 20000);
      const expected = naiveSmooth(weights, count);
      for (const memo of [1 << 20, 0]) {
        const got = picks(buildWeightedRoundRobin(backends(weights), memo), count);
        if (JSON.stringify(got) !== JSON.stringify(expected)) {
          mismatches++;
          t.fail(`weights ${weights.join(',')} memo ${memo}`);
        }
      }
    }
    t.equal(mismatches, 0);
  });

  t.test('over sum(weights) picks each of 1,000 backends gets exactly its weight', async (t) => {
    const rnd = prng(5);
    const weights = range(1000).map(() => 1 + Math.floor(rnd() * 50));
    const total = weights.reduce((a, b) => a + b, 0);
    for (const memo of [1 << 20, 0]) {
      const p = buildWeightedRoundRobin(backends(weights), memo);
      for (let period = 0; period < 2; period++) {
        const counts = new Array<number>(1000).fill(0);
        for (let s = 0; s < total; s++) counts[p.pick(0, 0)]!++;
        t.same(counts, weights, `period ${period}, memo ${memo}`);
      }
    }
  });

  t.test('alternatives walk to the other backends', async (t) => {
    const p = weightedRoundRobin.build(backends([100, 1, 1, 1]), noRandom);
    for (let i = 0; i < 5; i++) {
      const run = attemptRun(p, 4);
      t.equal(run[0], 0);
      t.same(sortedUnique(run), [0, 1, 2, 3]);
    }
    t.same(picks(p, 1), [0], 'alternatives do not advance the schedule');
  });
});

t.test('least-connections', async (t) => {
  t.test('fewest active wins and follows updates', async (t) => {
    const bs = backends([1, 1, 1]);
    bs[0]!.active = 2;
    bs[2]!.active = 1;
    const p = leastConnections.build(bs, noRandom);
    t.equal(p.pick(0, 0), 1);
    bs[1]!.active = 3;
    p.update!(1);
    t.equal(p.pick(0, 0), 2, 'active 2,3,1');
    bs[0]!.active = 0;
    p.update!(0);
    t.equal(p.pick(0, 0), 0, 'active 0,3,1');
    bs[0]!.active = 5;
    p.update!(0);
    bs[2]!.active = 4;
    p.update!(2);
    t.equal(p.pick(0, 0), 1, 'active 5,3,4');
  });

  t.test('held connections: the pool takes and drops', async (t) => {
    const bs = backends([1, 1, 1]);
    const p = leastConnections.build(bs, noRandom);
    const take = (): number => {
      const i = p.pick(0, 0);
      bs[i]!.active++;
      p.update!(i);
      return i;
    };
    t.same([take(), take(), take(), take(), take(), take()], [0, 1, 2, 0, 1, 2]);
    bs[1]!.active = 0;
    p.update!(1);
    t.same([take(), take(), take()], [1, 1, 0]);
  });

  t.test('weights: active 2 at weight 2 ties with active 1 at weight 1', async (t) => {
    const bs = backends([2, 1, 1]);
    bs[0]!.active = 2;
    bs[1]!.active = 1;
    bs[2]!.active = 2;
    const p = leastConnections.build(bs, noRandom);
    t.same(picks(p, 6), [0, 1, 0, 1, 0, 1]);
    const q = leastConnections.build(backends([3, 1]), noRandom);
    const bq = backends([3, 1]);
    const r = leastConnections.build(bq, noRandom);
    const got: number[] = [];
    for (let i = 0; i < 8; i++) {
      const j = r.pick(0, 0);
      bq[j]!.active++;
      r.update!(j);
      got.push(j);
    }
    // (0,0) tie -> 0; (1,0) -> 1; (1,1): 1/3 < 1 -> 0; (2,1) -> 0; (3,1) tie,
    // 1 picked less recently -> 1; (3,2) -> 0; (4,2) -> 0; (5,2) -> 0.
    t.same(got, [0, 1, 0, 0, 1, 0, 0, 0]);
    t.equal(q.pick(0, 0), 0);
  });

  t.test('ties rotate', async (t) => {
    const p = leastConnections.build(backends([1, 1, 1, 1]), noRandom);
    t.same(picks(p, 8), [0, 1, 2, 3, 0, 1, 2, 3]);
  });

  t.test('alternatives cover all n within n attempts', async (t) => {
    const rnd = prng(11);
    for (const n of [1, 2, 5, 16, 33]) {
      const bs = backends(range(n).map(() => 1 + Math.floor(rnd() * 3)));
      for (const b of bs) b.active = Math.floor(rnd() * 4);
      const p = leastConnections.build(bs, noRandom);
      for (let trial = 0; trial < 5; trial++) {
        const run = attemptRun(p, n);
        t.same(sortedUnique(run), range(n), `n=${n}`);
      }
    }
  });

  t.test('matches a naive scan under random takes and drops', async (t) => {
    const rnd = prng(77);
    const n = 40;
    const bs = backends(range(n).map(() => 1 + Math.floor(rnd() * 4)));
    const p = leastConnections.build(bs, noRandom);
    const lastPicked = range(n).map((i) => i - n);
    let seq = 0;
    let bad = 0;
    for (let step = 0; step < 5000; step++) {
      if (rnd() < 0.55) {
        let best = 0;
        for (let i = 1; i < n; i++) {
          const l = bs[i]!.active * bs[best]!.weight;
          const r = bs[best]!.active * bs[i]!.weight;
          if (l < r || (l === r && lastPicked[i]! < lastPicked[best]!)) best = i;
        }
        const got = p.pick(0, 0);
        if (got !== best) bad++;
        lastPicked[got] = ++seq;
        bs[got]!.active++;
        p.update!(got);
      } else {
        const i = Math.floor(rnd() * n);
        if (bs[i]!.active > 0) {
          bs[i]!.active--;
          p.update!(i);
        }
      }
    }
    t.equal(bad, 0);
  });
});

function ipKeys(count: number): number[] {
  const keys: number[] = [];
  for (let i = 0; i < count; i++) keys.push(hashString(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
  return keys;
}

/** For each key, the name of the backend it maps to. */
function mapping(list: readonly TestBackend[], keys: readonly number[]): string[] {
  const p = ipHash.build(list, noRandom);
  return keys.map((k) => list[p.pick(k, 0)]!.name);
}

t.test('ip-hash', async (t) => {
  const names = ['app-1:8080', 'app-2:8080', 'app-3:8080', 'app-4:8080', 'app-5:8080'];
  const five = backends([1, 1, 1, 1, 1], names);
  const keys = ipKeys(10000);
  const original = mapping(five, keys);

  t.test('10,000 keys over 5 equal backends within 15% of even', async (t) => {
    for (const name of names) {
      const c = original.filter((n) => n === name).length;
      t.ok(c >= 1700 && c <= 2300, `${name} has ${c} keys`);
    }
  });

  t.test('the same key maps the same way, whatever the configured order', async (t) => {
    t.same(mapping(five, keys), original, 'rebuilt');
    const shuffled = [five[3]!, five[0]!, five[4]!, five[2]!, five[1]!].map((b) => ({ ...b }));
    t.same(mapping(shuffled, keys), original, 'shuffled');
    t.same(mapping([...five].reverse(), keys), original, 'reversed');
  });

  t.test('a backend leaves: exactly its keys move; it returns: they move back', async (t) => {
    for (const gone of [0, 2, 4]) {
      const rest = five.filter((_, i) => i !== gone);
      const after = mapping(rest, keys);
      let moved = 0;
      let wrong = 0;
      for (let k = 0; k < keys.length; k++) {
        if (original[k] === names[gone]) moved++;
        else if (after[k] !== original[k]) wrong++;
      }
      t.equal(wrong, 0, `${names[gone]} left: no other key moved`);
      t.ok(moved > 1500, `${moved} keys were on it`);
      const back = [five[gone]!, ...rest];
      t.same(mapping(back, keys), original, `${names[gone]} returned: original mapping`);
    }
  });

  t.test('exact disruption with weights and 100 backends', async (t) => {
    const rnd = prng(3);
    const many = backends(range(100).map(() => 1 + Math.floor(rnd() * 5)), range(100).map((i) => `10.1.0.${i}:80`));
    const before = mapping(many, keys);
    const rest = many.filter((_, i) => i !== 37);
    const after = mapping(rest, keys);
    let wrong = 0;
    for (let k = 0; k < keys.length; k++) {
      if (before[k] !== many[37]!.name && after[k] !== before[k]) wrong++;
      if (after[k] === many[37]!.name) wrong++;
    }
    t.equal(wrong, 0);
    t.same(mapping([...rest.slice(0, 50), many[37]!, ...rest.slice(50)], keys), before);
  });

  t.test('weight 2 gets about twice the keys of weight 1', async (t) => {
    const list = backends([2, 1, 1], ['heavy', 'light-a', 'light-b']);
    const m = mapping(list, keys);
    const heavy = m.filter((n) => n === 'heavy').length;
    const a = m.filter((n) => n === 'light-a').length;
    const b = m.filter((n) => n === 'light-b').length;
    t.ok(heavy / a > 1.7 && heavy / a < 2.3, `heavy/light-a = ${heavy / a}`);
    t.ok(heavy / b > 1.7 && heavy / b < 2.3, `heavy/light-b = ${heavy / b}`);
  });

  t.test('alternatives: different from attempt 0, all n within n, deterministic', async (t) => {
    const p = ipHash.build(five, noRandom);
    const q = ipHash.build([...five].reverse(), noRandom);
    let same = 0;
    let uncovered = 0;
    let orderDependent = 0;
    let outOfOrder = 0;
    for (let k = 0; k < 2000; k++) {
      const key = keys[k]!;
      if (p.pick(key, 1) === p.pick(key, 0)) same++;
      const run = attemptRun(p, 5, key);
      if (sortedUnique(run).length !== 5) uncovered++;
      if (attemptRun(q, 5, key).some((i, a) => 4 - i !== run[a])) orderDependent++;
      if (p.pick(key, 3) !== run[3] || p.pick(key, 2) !== run[2]) outOfOrder++;
    }
    t.equal(same, 0, 'attempt 1 differs from attempt 0');
    t.equal(uncovered, 0, 'attempts 0..4 visit all 5');
    t.equal(orderDependent, 0, 'same backends (by name) whatever the configured order');
    t.equal(outOfOrder, 0, 'an attempt asked out of order gives the same answer');
  });

  t.test('points at the same position go to the smaller name, in any order', async (t) => {
    // Found offline: point 805 of node-93 and point 61 of node-102 share a position.
    const position = 3269808747;
    const a = backends([1, 1], ['node-93', 'node-102']);
    const b = [a[1]!, a[0]!];
    t.equal(a[ipHash.build(a, noRandom).pick(position, 0)]!.name, 'node-102');
    t.equal(b[ipHash.build(b, noRandom).pick(position, 0)]!.name, 'node-102');
    t.equal(a[ipHash.build(a, noRandom).pick(position, 1)]!.name, 'node-93');
  });

  t.test('pinned mapping (the ring formula must not change silently)', async (t) => {
    const p = ipHash.build(five, noRandom);
    const ips = ['10.0.0.1', '10.0.0.2', '192.168.1.7', '::1', '2001:db8::42', '10.9.8.7', '172.16.0.3', '8.8.8.8'];
    t.same(
      ips.map((ip) => names[p.pick(hashString(ip), 0)]),
      ['app-5:8080', 'app-1:8080', 'app-1:8080', 'app-5:8080', 'app-4:8080', 'app-2:8080', 'app-3:8080', 'app-5:8080'],
    );
  });
});
