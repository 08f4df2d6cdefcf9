/**
 * ip-hash with bounded loads (`--hash-balance-factor`, README "Strategies"):
 * with a skewed key distribution (one hot key and a Zipf tail) and
 * connections held open, no backend holds more than factor x its weighted
 * share of the load + 1; with nothing open keys map exactly as without the
 * factor; a changed factor applies on the next rebuild (a reload).
 */
import t from 'tap';
import { Backend } from '../../src/core/backend.js';
import { Pool } from '../../src/core/pool.js';
import { hashString } from '../../src/core/hash.js';
import { ipHash } from '../../src/core/pickers/index.js';
import { prng } from '../helpers/random.js';

/** 1,000 client keys: key 0 takes `hot` of the arrivals, the rest a Zipf(1.1) tail. */
function skewedKeys(seed: number, hot = 0.3): () => number {
  const keys = Array.from({ length: 1000 }, (_, k) => hashString(`203.0.113.${k % 250}:${k}`));
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k < 1000; k++) sum += 1 / Math.pow(k, 1.1);
  let acc = 0;
  for (let k = 1; k < 1000; k++) {
    acc += 1 / Math.pow(k, 1.1) / sum;
    cdf.push(acc);
  }
  const r = prng(seed);
  return () => {
    if (r() < hot) return keys[0]!;
    const u = r();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return keys[lo + 1]!;
  };
}

function makeBackends(weights: readonly number[]): Backend[] {
  return weights.map((weight, i) => new Backend({ name: `app-${i}`, host: '127.0.0.1', port: 9000 + i, weight }));
}

function makePool(list: Backend[], factor: number): Pool {
  return new Pool('default', list, ipHash, { backendMaxConns: 0, slowStart: 0, hashBalanceFactor: factor, random: prng(1), now: () => 0 });
}

/**
 * Place `arrivals` connections (keys from `nextKey`) through the pool,
 * releasing a random open one a third of the time, and check the bound
 * after each placement. Returns the worst max/mean ratio seen and the last
 * violation (or null).
 */
function run(pool: Pool, nextKey: () => number, arrivals: number, factor: number): { worst: number; violation: string | null } {
  const open: Backend[] = [];
  const r = prng(99);
  const list = pool.backends;
  const sumW = list.reduce((a, b) => a + b.configWeight, 0);
  let worst = 0;
  let violation: string | null = null;
  for (let i = 0; i < arrivals; i++) {
    if (open.length > 0 && r() < 0.33) {
      const j = Math.floor(r() * open.length);
      pool.release(open[j]!);
      open[j] = open[open.length - 1]!;
      open.pop();
    }
    const b = pool.pick(nextKey(), 0, null)!;
    open.push(b);
    const total = open.length;
    if (factor > 0) {
      for (const x of list) {
        const bound = (factor / 100) * total * (x.configWeight / sumW) + 1;
        if (x.active > bound) violation = `${x.name}: ${x.active} open > ${bound.toFixed(2)} at ${total} open`;
      }
    }
    if (total >= 100) {
      let max = 0;
      for (const x of list) max = Math.max(max, x.active / (x.configWeight / sumW));
      worst = Math.max(worst, max / total);
    }
  }
  return { worst, violation };
}

t.test('bounded: no backend above factor x average + 1 (hot key and Zipf tail, connections held)', async (t) => {
  for (const factor of [100, 125, 150, 200]) {
    const pool = makePool(makeBackends([1, 1, 1, 1, 1, 1, 1, 1]), factor);
    const { worst, violation } = run(pool, skewedKeys(7), 5000, factor);
    t.equal(violation, null, `factor ${factor}: bound held`);
    t.ok(worst <= factor / 100 + 8 / 100, `factor ${factor}: worst max/mean ${worst.toFixed(3)}`);
  }
});

t.test('bounded: weighted shares', async (t) => {
  const pool = makePool(makeBackends([1, 2, 3, 4, 10]), 125);
  const { violation } = run(pool, skewedKeys(11), 5000, 125);
  t.equal(violation, null);
});

t.test('off (0) concentrates the hot key; the factor spreads it', async (t) => {
  const off = run(makePool(makeBackends([1, 1, 1, 1, 1, 1, 1, 1]), 0), skewedKeys(7), 5000, 0);
  const on = run(makePool(makeBackends([1, 1, 1, 1, 1, 1, 1, 1]), 125), skewedKeys(7), 5000, 125);
  t.ok(off.worst > 2, `off: max/mean ${off.worst.toFixed(2)} (the hot key's backend)`);
  t.ok(on.worst < 1.34, `on: max/mean ${on.worst.toFixed(2)}`);
});

t.test('with nothing open, keys map exactly as without the factor', async (t) => {
  const list = makeBackends([1, 2, 1, 3, 1]);
  const plain = ipHash.build(list, prng(1));
  const bounded = ipHash.build(list, prng(1), -1, { hashBalanceFactor: 150, live: { lowestLatency: 0 } });
  for (let k = 0; k < 20_000; k++) {
    const key = hashString(`10.1.${k >> 8}.${k & 255}`);
    if (plain.pick(key, 0) !== bounded.pick(key, 0)) {
      t.fail(`key ${k} differs`);
      return;
    }
    for (let a = 1; a < 3; a++) {
      if (plain.pick(key, a) !== bounded.pick(key, a)) {
        t.fail(`key ${k} attempt ${a} differs`);
        return;
      }
    }
  }
  t.pass('20,000 keys, attempts 0..2, identical');
});

t.test('a key stays on its backend while that backend is below its bound', async (t) => {
  const list = makeBackends([1, 1, 1, 1]);
  const pool = makePool(list, 150);
  const picker = (): { update(i: number): void } => (pool as unknown as { picker: { update(i: number): void } }).picker;
  const set = (b: Backend, n: number): void => {
    b.active = n;
    picker().update(b.slot);
  };
  const key = hashString('198.51.100.7');
  const home = pool.pick(key, 0, null)!;
  pool.release(home);
  const other = list.find((b) => b !== home)!;
  // 2 on home, 3 elsewhere: capacity ceil(1.5 x 6 / 4) = 3, home is below it
  set(home, 2);
  set(other, 3);
  t.equal(pool.pick(key, 0, null), home, 'still home');
  pool.release(home);
  // the others empty: capacity ceil(1.5 x 3 / 4) = 2, home is at it
  set(other, 0);
  const moved = pool.pick(key, 0, null)!;
  t.not(moved, home, 'forwarded clockwise');
  pool.release(moved);
  set(home, 0);
  t.equal(pool.pick(key, 0, null), home, 'back home once below the bound');
});

t.test('releases are counted: the running total follows reserve and release', async (t) => {
  const list = makeBackends([1, 1]);
  const pool = makePool(list, 100);
  const key = hashString('192.0.2.1');
  const held: Backend[] = [];
  for (let i = 0; i < 10; i++) held.push(pool.pick(key, 0, null)!);
  t.same(list.map((b) => b.active).sort(), [5, 5], 'factor 100: an even split even for one key');
  for (const b of held) pool.release(b);
  const again = pool.pick(key, 0, null)!;
  t.equal(again, held[0], 'all released: the key is home again');
});

t.test('a changed factor applies on rebuild (reload)', async (t) => {
  const list = makeBackends([1, 1, 1, 1]);
  const pool = makePool(list, 0);
  const key = hashString('192.0.2.99');
  for (let i = 0; i < 40; i++) pool.pick(key, 0, null);
  t.equal(Math.max(...list.map((b) => b.active)), 40, 'off: one backend takes them all');
  pool.opts.hashBalanceFactor = 100;
  pool.rebuild();
  for (let i = 0; i < 40; i++) pool.pick(key, 0, null);
  const counts = list.map((b) => b.active).sort((a, b) => a - b);
  t.equal(counts[3], 40, 'on: the loaded one gets none of the next 40');
  t.ok(counts[2]! <= 21, `the others stay within 1.0 x 80 / 4 + 1: ${counts}`);
  t.equal(counts[0]! + counts[1]! + counts[2]!, 40, `the others took the 40: ${counts}`);
});
