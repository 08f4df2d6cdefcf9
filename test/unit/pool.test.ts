/**
 * The pool (src/core/pool.ts) with the real pickers and a fake clock:
 * eligibility (README "Health and failover"), panic mode, the per-backend cap and the
 * queue signal (lastPickFull), the backend to avoid on retry, the half-open
 * trial connection, slow-start weights, and the fallback scan.
 */
import t from 'tap';
import { Backend } from '../../src/core/backend.js';
import { Pool, type PoolOptions } from '../../src/core/pool.js';
import { findPickerFactory } from '../../src/core/pickers/index.js';
import type { PickerFactory } from '../../src/core/pickers/picker.js';

interface Clock {
  now: number;
}

function backends(...names: string[]): Backend[] {
  return names.map((name, i) => new Backend({ name, host: '127.0.0.1', port: 9000 + i, weight: 1 }));
}

function factory(name: string): PickerFactory {
  const f = findPickerFactory(name);
  if (!f) throw new Error(`no strategy ${name}`);
  return f;
}

function makePool(
  list: Backend[],
  opts: Partial<PoolOptions> & { strategy?: string; clock?: Clock; panics?: boolean[] } = {},
): Pool {
  const clock = opts.clock ?? { now: 1_000_000 };
  const panics = opts.panics;
  return new Pool('default', list, factory(opts.strategy ?? 'round-robin'), {
    backendMaxConns: opts.backendMaxConns ?? 0,
    slowStart: opts.slowStart ?? 0,
    random: opts.random ?? (() => 0.5),
    now: () => clock.now,
    onPanic: (_p, panic) => panics?.push(panic),
  });
}

/** Pick `n` times, releasing each at once; returns the names. */
function picks(pool: Pool, n: number, avoid: Backend | null = null, key = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const b = pool.pick(key, 0, avoid);
    out.push(b ? b.name : '-');
    if (b) pool.release(b);
  }
  return out;
}

/** Drive the active checks of `b` to down (fall 1). */
function checkDown(b: Backend): void {
  b.check.record(false, 1, 1);
}

t.test('eligibility: down, draining, disabled, removed and weight 0 are excluded', async (t) => {
  const [a, b, c, d, e, f] = backends('a', 'b', 'c', 'd', 'e', 'f');
  const pool = makePool([a!, b!, c!, d!, e!, f!]);
  t.same(pool.eligible.map((x) => x.name), ['a', 'b', 'c', 'd', 'e', 'f'], 'all up at start (backends start up)');
  checkDown(b!);
  c!.admin = 'draining';
  d!.admin = 'disabled';
  e!.configWeight = 0;
  f!.removed = true;
  pool.rebuild();
  t.same(pool.eligible.map((x) => x.name), ['a']);
  t.same(picks(pool, 5), ['a', 'a', 'a', 'a', 'a']);
  t.same([a, b, c, d, e, f].map((x) => x!.state), ['up', 'down', 'draining', 'disabled', 'up', 'draining']);
  t.equal(pool.upCount(), 2, 'a and the weight-0 e are up by state');
  t.equal(pool.panic, false);
  for (const x of [a, b, c, d, e, f]) if (!pool.eligible.includes(x!)) t.equal(x!.slot, -1, `${x!.name} has no slot`);
});

t.test('eligibility: an open circuit takes a backend out like a failed check', async (t) => {
  const [a, b] = backends('a', 'b');
  const pool = makePool([a!, b!]);
  b!.circuit.onFailure(0, 1, 1000);
  pool.rebuild();
  t.equal(b!.state, 'down');
  t.same(picks(pool, 4), ['a', 'a', 'a', 'a']);
});

t.test('nothing to try: everything draining/disabled/weight 0 → null, not full, no panic', async (t) => {
  const [a, b, c] = backends('a', 'b', 'c');
  const panics: boolean[] = [];
  a!.admin = 'draining';
  b!.admin = 'disabled';
  c!.configWeight = 0;
  const pool = makePool([a!, b!, c!], { panics });
  t.equal(pool.pick(0, 0, null), null);
  t.equal(pool.lastPickFull, false);
  t.equal(pool.panic, false);
  t.same(panics, []);
  t.equal(makePool([]).pick(0, 0, null), null, 'empty pool');
});

t.test('panic mode: no backend up but some down → picks among down ones', async (t) => {
  for (const strategy of ['round-robin', 'random', 'weighted-round-robin', 'least-connections', 'ip-hash']) {
    const [a, b, c] = backends('a', 'b', 'c');
    const panics: boolean[] = [];
    const pool = makePool([a!, b!, c!], { panics, strategy });
    c!.admin = 'disabled';
    pool.rebuild();
    checkDown(a!);
    pool.rebuild();
    t.equal(pool.panic, false, `${strategy}: one up, no panic`);
    t.same(picks(pool, 3), ['b', 'b', 'b']);
    checkDown(b!);
    pool.rebuild();
    t.equal(pool.panic, true, `${strategy}: panic`);
    t.same(panics, [true], `${strategy}: onPanic(true) at the state change`);
    t.same(pool.eligible.map((x) => x.name), ['a', 'b'], `${strategy}: the down ones, never the disabled one`);
    const got = new Set(picks(pool, 20, null, 0).concat(picks(pool, 20, null, 12345)));
    t.notOk(got.has('c'), `${strategy}: disabled never picked`);
    t.notOk(got.has('-'), `${strategy}: always something to try`);
    pool.rebuild();
    t.same(panics, [true], `${strategy}: a rebuild without change does not call onPanic again`);
    b!.check.record(true, 1, 1);
    pool.rebuild();
    t.equal(pool.panic, false);
    t.same(panics, [true, false], `${strategy}: onPanic(false) when a backend is up again`);
    t.same(picks(pool, 3), ['b', 'b', 'b']);
  }
});

t.test('panic mode with round robin visits every down backend', async (t) => {
  const list = backends('a', 'b', 'c');
  const pool = makePool(list);
  for (const b of list) checkDown(b);
  pool.rebuild();
  t.equal(pool.panic, true);
  t.same(picks(pool, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
});

t.test('panic mode: only down + draining counts as panic; draining is not picked', async (t) => {
  const [a, b] = backends('a', 'b');
  const panics: boolean[] = [];
  const pool = makePool([a!, b!], { panics });
  b!.admin = 'draining';
  checkDown(a!);
  pool.rebuild();
  t.equal(pool.panic, true);
  t.same(picks(pool, 3), ['a', 'a', 'a']);
  a!.admin = 'disabled';
  pool.rebuild();
  t.equal(pool.panic, false, 'nothing down-but-usable left: not panic, nothing to try');
  t.same(panics, [true, false]);
  t.equal(pool.pick(0, 0, null), null);
  t.equal(pool.lastPickFull, false);
});

t.test('backendMaxConns: a full backend is skipped; all full → null with lastPickFull', async (t) => {
  for (const strategy of ['round-robin', 'random', 'weighted-round-robin', 'least-connections', 'ip-hash']) {
    const [a, b] = backends('a', 'b');
    const pool = makePool([a!, b!], { backendMaxConns: 1, strategy });
    const first = pool.pick(7, 0, null);
    const second = pool.pick(7, 0, null);
    t.ok(first && second, strategy);
    t.not(first, second, `${strategy}: the second pick skips the full one`);
    t.equal(a!.active, 1);
    t.equal(b!.active, 1);
    t.equal(pool.hasFreeSlot(), false);
    t.equal(pool.pick(7, 0, null), null, `${strategy}: all full`);
    t.equal(pool.lastPickFull, true, `${strategy}: the caller should queue`);
    pool.release(first!);
    t.equal(pool.hasFreeSlot(), true);
    const third = pool.pick(7, 0, null);
    t.equal(third, first, `${strategy}: the freed one`);
    t.equal(pool.lastPickFull, false, 'reset on the next pick');
  }
});

t.test('backendMaxConns: full + avoided → null and full; only avoided → null, not full', async (t) => {
  const [a, b] = backends('a', 'b');
  const pool = makePool([a!, b!], { backendMaxConns: 1 });
  const x = pool.pick(0, 0, null)!;
  const other = x === a ? b! : a!;
  t.equal(pool.pick(0, 1, other), null);
  t.equal(pool.lastPickFull, true, 'a full candidate existed');
  const [solo] = backends('solo');
  const p2 = makePool([solo!]);
  t.equal(p2.pick(0, 1, solo!), null);
  t.equal(p2.lastPickFull, false, 'nothing else to try: not a queue case');
});

t.test('pick reserves a slot; connected counts; release gives it back', async (t) => {
  const [a] = backends('a');
  const pool = makePool([a!]);
  const b = pool.pick(0, 0, null)!;
  t.equal(b.active, 1);
  t.equal(b.total, 0, 'total only once connected');
  pool.connected(b, 1234);
  t.equal(b.total, 1);
  t.equal(b.lastUsed, 1234);
  pool.release(b);
  t.equal(b.active, 0);
});

t.test('avoid: the backend that just failed is never returned', async (t) => {
  for (const strategy of ['round-robin', 'random', 'weighted-round-robin', 'least-connections', 'ip-hash']) {
    const list = backends('a', 'b', 'c');
    let seed = 1;
    const pool = makePool(list, { strategy, random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) });
    for (const avoid of list) {
      for (let i = 0; i < 30; i++) {
        const got = pool.pick(i * 2654435761 >>> 0, 1, avoid);
        t.ok(got, `${strategy}: something`);
        if (got === avoid) t.fail(`${strategy}: returned the avoided ${avoid.name}`);
        if (got) pool.release(got);
      }
    }
  }
});

t.test('avoid with least-connections: the least loaded is skipped when avoided', async (t) => {
  const [a, b] = backends('a', 'b');
  const pool = makePool([a!, b!], { strategy: 'least-connections' });
  const held = pool.pick(0, 0, null)!; // one is loaded now
  const idle = held === a ? b! : a!;
  const got = pool.pick(0, 1, idle);
  t.equal(got, held, 'goes to the loaded one rather than the avoided idle one');
});

t.test('half-open circuit: exactly one trial connection', async (t) => {
  const clock = { now: 10_000 };
  const [a, b] = backends('a', 'b');
  const pool = makePool([a!, b!], { clock });
  b!.circuit.onFailure(clock.now, 1, 500);
  pool.rebuild();
  t.same(pool.eligible.map((x) => x.name), ['a'], 'open: out');
  clock.now += 500;
  t.equal(b!.circuit.tick(clock.now), true);
  pool.rebuild();
  t.equal(b!.state, 'down', 'half-open is still down');
  t.same(pool.eligible.map((x) => x.name), ['a', 'b'], 'half-open: eligible for one trial');
  const got: string[] = [];
  let trial: Backend | null = null;
  for (let i = 0; i < 6; i++) {
    const x = pool.pick(0, 0, null)!;
    got.push(x.name);
    if (x === b) trial = x; // keep the trial in flight
    else pool.release(x);
  }
  t.equal(got.filter((n) => n === 'b').length, 1, `one trial only: ${got.join(' ')}`);
  t.ok(trial);
  t.equal(b!.circuit.trialInFlight, true, 'the pool marked the trial');
  t.same(pool.eligible.map((x) => x.name), ['a'], 'out of the snapshot while the trial runs');

  // trial fails: reopens with the timeout doubled
  pool.release(b!);
  t.equal(b!.circuit.onFailure(clock.now, 1, 500), true);
  pool.rebuild();
  t.equal(b!.circuit.state, 'open');
  t.equal(b!.circuit.openUntil, clock.now + 1000);
  t.same(picks(pool, 4), ['a', 'a', 'a', 'a']);

  // next trial succeeds: closed, back in rotation
  clock.now += 1000;
  b!.circuit.tick(clock.now);
  pool.rebuild();
  let x: Backend;
  do {
    x = pool.pick(0, 0, null)!;
    if (x !== b) pool.release(x);
  } while (x !== b);
  t.same(picks(pool, 3), ['a', 'a', 'a'], 'no second trial while the first is in flight');
  t.equal(b!.circuit.onSuccess(), true);
  pool.release(b!);
  pool.rebuild();
  t.equal(b!.state, 'up');
  t.same(picks(pool, 4).sort(), ['a', 'a', 'b', 'b']);
});

t.test('half-open but the active checks say down: no trial', async (t) => {
  const [a, b] = backends('a', 'b');
  const pool = makePool([a!, b!]);
  b!.circuit.onFailure(0, 1, 500);
  b!.circuit.tick(500);
  checkDown(b!);
  pool.rebuild();
  t.same(pool.eligible.map((x) => x.name), ['a']);
});

t.test('slow start: a backend that came back ramps its effective weight', async (t) => {
  const clock = { now: 1_000_000 };
  const [a, b] = backends('a', 'b');
  const pool = makePool([a!, b!], { clock, slowStart: 1000, strategy: 'weighted-round-robin' });
  t.equal(a!.weight, 10, 'weights scaled by 10 while slow start is on, full at start (upSince 0)');
  t.equal(b!.weight, 10);
  t.equal(pool.rampingUntil(), 0, 'nothing ramps at process start');
  b!.upSince = clock.now;
  pool.rebuild();
  t.equal(b!.weight, 1, '10% at the start of the ramp');
  t.equal(pool.rampingUntil(), clock.now + 1000);
  const first = picks(pool, 11);
  t.equal(first.filter((n) => n === 'b').length, 1, `1 of 11 picks: ${first.join('')}`);
  clock.now += 500;
  pool.rebuild();
  t.ok(b!.weight >= 5 && b!.weight <= 6, `about 55% half way (${b!.weight}/10)`);
  clock.now += 500;
  pool.rebuild();
  t.equal(b!.weight, 10, 'full after the window');
  t.equal(pool.rampingUntil(), 0);
  const after = picks(pool, 20);
  t.equal(after.filter((n) => n === 'b').length, 10, 'even split after the window');
});

t.test('slow start off: weights are the configured ones', async (t) => {
  const clock = { now: 5000 };
  const list = backends('a', 'b');
  list[1]!.configWeight = 3;
  const pool = makePool(list, { clock, slowStart: 0 });
  list[1]!.upSince = 5000;
  pool.rebuild();
  t.equal(list[0]!.weight, 1);
  t.equal(list[1]!.weight, 3);
  t.equal(pool.rampingUntil(), 0);
});

/** A picker that keeps returning index 0 (to reach the pool's fallback scan). */
const stuckOnFirst: PickerFactory = {
  name: 'stuck',
  aliases: [],
  needs: 'none',
  build: () => ({ pick: () => 0 }),
};
/** A picker that returns -1 (gives up). */
const givesUp: PickerFactory = {
  name: 'gives-up',
  aliases: [],
  needs: 'none',
  build: () => ({ pick: () => -1 }),
};

t.test('fallback scan: a picker that keeps returning an unusable backend', async (t) => {
  const list = backends('a', 'b', 'c');
  const pool = new Pool('default', list, stuckOnFirst, { backendMaxConns: 1, slowStart: 0, random: () => 0, now: () => 1 });
  const x = pool.pick(0, 0, null)!;
  t.equal(x.name, 'a');
  const y = pool.pick(0, 0, null)!;
  t.ok(y && y.name !== 'a', `the scan found ${y?.name}`);
  const z = pool.pick(0, 0, null)!;
  t.ok(z && z !== y && z.name !== 'a', `and then ${z?.name}`);
  t.equal(pool.pick(0, 0, null), null);
  t.equal(pool.lastPickFull, true);
  pool.release(y);
  t.equal(pool.pick(0, 0, null), y);
  // avoid + stuck picker: the scan skips the avoided one too
  const p2 = new Pool('default', backends('a', 'b'), stuckOnFirst, { backendMaxConns: 0, slowStart: 0, random: () => 0, now: () => 1 });
  for (let i = 0; i < 5; i++) {
    const got = p2.pick(0, 1, p2.backends[0]!)!;
    t.equal(got.name, 'b');
    p2.release(got);
  }
  const p3 = new Pool('default', backends('a', 'b'), givesUp, { backendMaxConns: 0, slowStart: 0, random: () => 0, now: () => 1 });
  const g = p3.pick(0, 0, null);
  t.ok(g, 'a picker returning -1 still gets a backend from the scan');
});
