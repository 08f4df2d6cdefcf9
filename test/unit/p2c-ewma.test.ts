/**
 * p2c-ewma (README "Strategies"): the peak-EWMA estimate (src/core/ewma.ts)
 * and the power-of-two-choices picker over it (src/core/pickers/p2c-ewma.ts),
 * with an injected random source so every pick is exact; the pool's decay
 * and lowest-latency bookkeeping; no allocation per pick.
 */
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EWMA_DECAY_MS, PeakEwma } from '../../src/core/ewma.js';
import { Backend } from '../../src/core/backend.js';
import { Pool } from '../../src/core/pool.js';
import { findPickerFactory, p2cEwma, type PoolLive } from '../../src/core/pickers/index.js';
import { prng } from '../helpers/random.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface TB {
  name: string;
  weight: number;
  active: number;
  ewma: PeakEwma;
}

/** Backends with the given estimates (null = no sample yet) and active counts. */
function list(latency: readonly (number | null)[], active: readonly number[] = []): TB[] {
  return latency.map((ms, i) => {
    const ewma = new PeakEwma();
    if (ms !== null) ewma.observe(ms, 0);
    return { name: `b${i}`, weight: 1, active: active[i] ?? 0, ewma };
  });
}

/** A random source that returns the given numbers in turn, then throws. */
function script(...xs: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= xs.length) throw new Error('random source exhausted');
    return xs[i++]!;
  };
}

/**
 * xorshift32 in [0, 1). The state lives in a Uint32Array: a closure
 * variable above 2^30 would be a heap number, allocated on every call.
 */
function live(lowest = 0): PoolLive {
  return { lowestLatency: lowest };
}

const opts = (l: PoolLive) => ({ hashBalanceFactor: 0, live: l });

t.test('registry: p2c-ewma with its aliases', async (t) => {
  t.equal(findPickerFactory('p2c-ewma'), p2cEwma);
  t.equal(findPickerFactory('peak-ewma'), p2cEwma);
  t.equal(findPickerFactory('p2c'), p2cEwma);
  t.equal(p2cEwma.needs, 'none');
});

t.test('PeakEwma', async (t) => {
  t.test('the first sample is the value', async (t) => {
    const e = new PeakEwma();
    t.equal(e.sampled, false);
    e.observe(12, 1000);
    t.equal(e.sampled, true);
    t.equal(e.value, 12);
  });
  t.test('peak: a higher sample replaces the value at once', async (t) => {
    const e = new PeakEwma();
    e.observe(10, 0);
    e.observe(80, 1);
    t.equal(e.value, 80);
  });
  t.test('a lower sample pulls with weight 1 - e^(-dt/10s)', async (t) => {
    const e = new PeakEwma();
    e.observe(100, 0);
    e.observe(0, EWMA_DECAY_MS); // one time constant: 1/e of the old value left
    t.ok(Math.abs(e.value - 100 / Math.E) < 1e-9, `${e.value}`);
    const f = new PeakEwma();
    f.observe(100, 0);
    f.observe(50, 0); // dt = 0: no weight for the new sample
    t.equal(f.value, 100);
    f.observe(50, 5000);
    const w = Math.exp(-0.5);
    t.ok(Math.abs(f.value - (100 * w + 50 * (1 - w))) < 1e-9, `${f.value}`);
  });
  t.test('decay: toward 0 without a sample; nothing before the first one', async (t) => {
    const e = new PeakEwma();
    e.decay(5000);
    t.equal(e.value, 0);
    t.equal(e.sampled, false);
    e.observe(100, 0);
    e.decay(1000);
    e.decay(2000);
    t.ok(Math.abs(e.value - 100 * Math.exp(-2000 / EWMA_DECAY_MS)) < 1e-9, 'two 1 s steps = one 2 s step');
    e.decay(1500); // a clock that went back: no change
    t.ok(Math.abs(e.value - 100 * Math.exp(-0.2)) < 1e-9);
    e.decay(2000 + 10 * EWMA_DECAY_MS);
    t.ok(e.value < 0.01, 'gone after 10 time constants');
  });
  t.test('a negative or NaN sample is ignored', async (t) => {
    const e = new PeakEwma();
    e.observe(-1, 0);
    e.observe(NaN, 0);
    t.equal(e.sampled, false);
  });
});

t.test('pick: exact choices with a scripted random source', async (t) => {
  t.test('two distinct candidates, the cheaper wins', async (t) => {
    // draws: i = floor(0.0 * 3) = 0; j = floor(0.5 * 2) = 1 -> >= i -> 2
    const b = list([10, 50, 20]);
    t.equal(p2cEwma.build(b, script(0.0, 0.5), -1, opts(live())).pick(0, 0), 0, '10 ms beats 20 ms');
    // i = floor(0.4 * 3) = 1; j = floor(0.9 * 2) = 1 -> 2: 50 ms vs 20 ms
    t.equal(p2cEwma.build(b, script(0.4, 0.9), -1, opts(live())).pick(0, 0), 2);
    // i = 2, j = floor(0.0 * 2) = 0: 20 vs 10
    t.equal(p2cEwma.build(b, script(0.99, 0.0), -1, opts(live())).pick(0, 0), 0);
  });
  t.test('cost is latency x (active + 1)', async (t) => {
    // 10 ms with 3 active = 40 against 20 ms idle = 20
    const b = list([10, 50, 20], [3, 0, 0]);
    t.equal(p2cEwma.build(b, script(0.0, 0.5), -1, opts(live())).pick(0, 0), 2);
    // 10 ms with 1 active = 20 against 20 ms idle = 20: a tie, fewer active wins
    b[0]!.active = 1;
    t.equal(p2cEwma.build(b, script(0.0, 0.5), -1, opts(live())).pick(0, 0), 2);
    // equal cost and equal active: the first drawn
    const c = list([10, 10]);
    t.equal(p2cEwma.build(c, script(0.9, 0.0), -1, opts(live())).pick(0, 0), 1);
    t.equal(p2cEwma.build(c, script(0.1, 0.0), -1, opts(live())).pick(0, 0), 0);
  });
  t.test('active is read live', async (t) => {
    const b = list([10, 10]);
    const p = p2cEwma.build(b, script(0.1, 0.0, 0.1, 0.0), -1, opts(live()));
    t.equal(p.pick(0, 0), 0);
    b[0]!.active = 2;
    t.equal(p.pick(0, 0), 1, '10 x 3 > 10 x 1');
  });
  t.test('no sample yet: charged the pool\'s lowest latency', async (t) => {
    const b = list([30, null, 50]);
    const l = live(30);
    // b0 (30 ms, 1 active = 60) against b1 (no sample: 30 ms, idle = 30)
    b[0]!.active = 1;
    t.equal(p2cEwma.build(b, script(0.0, 0.0), -1, opts(l)).pick(0, 0), 1);
    // with 2 active the newcomer costs 90, b2 idle 50
    b[1]!.active = 2;
    t.equal(p2cEwma.build(b, script(0.5, 0.9), -1, opts(l)).pick(0, 0), 2);
    // the lowest is read live: at 10 ms the newcomer costs 30 < 50
    l.lowestLatency = 10;
    t.equal(p2cEwma.build(b, script(0.5, 0.9), -1, opts(l)).pick(0, 0), 1);
  });
  t.test('no sample anywhere: every cost is 0, fewer active wins', async (t) => {
    const b = list([null, null, null], [4, 1, 2]);
    t.equal(p2cEwma.build(b, script(0.0, 0.0), -1, opts(live())).pick(0, 0), 1);
    t.equal(p2cEwma.build(b, script(0.99, 0.0), -1, opts(live())).pick(0, 0), 2);
    // built without options (tests, benchmarks): no latency known either
    t.equal(p2cEwma.build(b, script(0.99, 0.0)).pick(0, 0), 2);
  });
  t.test('below the 1 ms floor latencies compare equal: the connection counts decide', async (t) => {
    // 0.2 ms with 2 active against 0.9 ms with 1 active: 1 x 3 > 1 x 2
    const b = list([0.2, 0.9], [2, 1]);
    t.equal(p2cEwma.build(b, script(0.0, 0.0), -1, opts(live(0.2))).pick(0, 0), 1);
    // equal counts: a tie, the first drawn (not the 0.2 ms one)
    b[0]!.active = 1;
    t.equal(p2cEwma.build(b, script(0.9, 0.0), -1, opts(live(0.2))).pick(0, 0), 1);
    // above the floor the estimate counts again: 5 ms x 2 > 1 x 2
    const c = list([5, 0.3], [1, 1]);
    t.equal(p2cEwma.build(c, script(0.0, 0.0), -1, opts(live(0.3))).pick(0, 0), 1);
    // a backend without a sample is charged the lowest, floored too
    const d = list([null, 0.4], [0, 1]);
    t.equal(p2cEwma.build(d, script(0.9, 0.0), -1, opts(live(0.4))).pick(0, 0), 0, '1 x 1 < 1 x 2');
  });
  t.test('alternatives: never the first choice when the draw offers another', async (t) => {
    const b = list([10, 50]);
    const p = p2cEwma.build(b, script(0.0, 0.0, 0.0, 0.0, 0.7, 0.0), -1, opts(live()));
    t.equal(p.pick(0, 0), 0, 'first choice');
    t.equal(p.pick(0, 1), 1, 'retry: the other one, although slower');
    t.equal(p.pick(0, 2), 1, 'any order of the draw');
  });
  t.test('one backend, and none', async (t) => {
    const one = p2cEwma.build(list([5]), script(), -1, opts(live()));
    t.equal(one.pick(0, 0), 0);
    t.equal(one.pick(0, 3), 0);
  });
});

t.test('a slow backend is avoided, a fresh one is tried', async (t) => {
  const b = list([10, 10, 100]);
  const p = p2cEwma.build(b, prng(42), -1, opts(live(10)));
  const counts = [0, 0, 0];
  for (let i = 0; i < 30_000; i++) counts[p.pick(0, 0)]!++;
  t.equal(counts[2], 0, 'never picked while the others are idle: it loses every pair it is in');
  t.ok(Math.abs(counts[0]! - counts[1]!) < 1500, `the two fast ones share: ${counts}`);

  // holding connections: picks follow cost = latency x (active + 1)
  const held = list([10, 10, 100]);
  const q = p2cEwma.build(held, prng(7), -1, opts(live(10)));
  for (let i = 0; i < 3000; i++) held[q.pick(0, 0)]!.active++;
  const [a, c, slow] = held.map((x) => x.active);
  t.ok(slow! > 0 && slow! < 0.1 * 3000, `the slow one gets a little once the others are loaded: ${slow}`);
  t.ok(Math.abs(a! - c!) < 0.1 * 3000, `${a} ~ ${c}`);
});

t.test('Pool: decayLatency decays every backend and keeps the lowest current', async (t) => {
  const bs = ['a', 'b', 'c'].map((name, i) => new Backend({ name, host: '127.0.0.1', port: 8000 + i, weight: 1 }));
  const pool = new Pool('default', bs, p2cEwma, { backendMaxConns: 0, slowStart: 0, random: prng(1), now: () => 0 });
  t.equal(pool.live.lowestLatency, 0, 'no sample yet');
  bs[0]!.observeLatency(40, 0);
  bs[1]!.observeLatency(20, 0);
  pool.decayLatency(0);
  t.equal(pool.live.lowestLatency, 20);
  pool.decayLatency(EWMA_DECAY_MS);
  t.ok(Math.abs(bs[0]!.ewma.value - 40 / Math.E) < 1e-9, 'decayed');
  t.ok(Math.abs(pool.live.lowestLatency - 20 / Math.E) < 1e-9, 'lowest recomputed');
  t.equal(bs[2]!.ewma.sampled, false, 'no sample, no value');
  // a backend out of the eligible set does not count for the lowest
  bs[1]!.admin = 'disabled';
  pool.rebuild();
  t.ok(Math.abs(pool.live.lowestLatency - 40 / Math.E) < 1e-9, 'lowest among the eligible');
  // the picker built by the pool reads the same live object
  const picked = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const b = pool.pick(0, 0, null)!;
    picked.add(b.name);
    pool.release(b);
  }
  t.ok(picked.has('c'), 'the backend without a sample is tried (it costs the lowest)');
  t.notOk(picked.has('b'), 'a disabled backend never');
});

t.test('pick() allocates nothing (1,000 backends)', async (t) => {
  const lat: (number | null)[] = [];
  for (let i = 0; i < 1000; i++) lat.push(i % 10 === 0 ? null : 1 + (i % 37));
  const b = list(lat, lat.map((_, i) => i % 5));
  const p = p2cEwma.build(b, prng(3), -1, opts(live(1)));
  let sink = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) sink = (sink + p.pick(0, i & 1)) & 0xffff;
  };
  run(200_000);
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    gc();
    run(20_000);
    const h0 = process.memoryUsage().heapUsed;
    run(50_000);
    const h1 = process.memoryUsage().heapUsed;
    best = Math.min(best, Math.max(0, h1 - h0) / 50_000);
  }
  t.ok(best < 0.5, `bytes per pick ${best}`);
  t.ok(sink >= 0);
});
