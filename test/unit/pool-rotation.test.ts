// A rebuilt round-robin picker continues after the backend picked last, so
// frequent rebuilds (health flaps, slow-start ticks) do not favour the first backends.
import t from 'tap';
import { Backend } from '../../src/core/backend.js';
import { Pool } from '../../src/core/pool.js';
import { findPickerFactory } from '../../src/core/pickers/index.js';

function makePool(names: string[]): Pool {
  const backends = names.map((name, i) => new Backend({ name, host: '127.0.0.1', port: 1000 + i, weight: 1 }));
  return new Pool('p', backends, findPickerFactory('round-robin')!, { backendMaxConns: 0, slowStart: 0, random: () => 0.5, now: () => 1 });
}

function pickName(pool: Pool): string {
  const b = pool.pick(0, 0, null)!;
  pool.release(b);
  return b.name;
}

t.test('round robin survives rebuilds without restarting at the first backend', async (t) => {
  const pool = makePool(['a', 'b', 'c']);
  const seq: string[] = [];
  for (let i = 0; i < 9; i++) {
    seq.push(pickName(pool));
    pool.rebuild(); // e.g. a slow-start tick after every connection
  }
  t.same(seq, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
});

t.test('when the last-picked backend leaves, the cycle goes on with the rest', async (t) => {
  const pool = makePool(['a', 'b', 'c']);
  t.equal(pickName(pool), 'a');
  t.equal(pickName(pool), 'b');
  pool.backends[1]!.admin = 'disabled';
  pool.rebuild();
  const seq = [pickName(pool), pickName(pool), pickName(pool)];
  t.same(seq, ['c', 'a', 'c']);
});

t.test('slow start leaves consistent hashing alone (no ramp, no key moves)', async (t) => {
  let now = 1_000_000;
  const backends = ['a', 'b', 'c'].map((name, i) => new Backend({ name, host: '127.0.0.1', port: 2000 + i, weight: 2 }));
  const pool = new Pool('p', backends, findPickerFactory('ip-hash')!, { backendMaxConns: 0, slowStart: 10_000, random: () => 0.5, now: () => now });
  backends[1]!.upSince = now; // b just came back
  pool.rebuild();
  t.equal(backends[1]!.weight, backends[0]!.weight, 'no reduced weight for the returning backend');
  t.equal(pool.rampingUntil(), 0, 'nothing to re-tick');
  const wrr = new Pool('w', backends, findPickerFactory('weighted-round-robin')!, { backendMaxConns: 0, slowStart: 10_000, random: () => 0.5, now: () => now });
  t.ok(backends[1]!.weight < backends[0]!.weight, 'weighted strategies do ramp');
  t.ok(wrr.rampingUntil() > now);
  now += 20_000;
});
