/**
 * SRV priorities in the pool (src/core/pool.ts, README "Discovery"): among
 * the backends of one source, only the lowest priority that has a backend
 * up gets traffic; the next one only when none of it is up; sources (and
 * backends without a priority) do not affect each other.
 */
import t from 'tap';
import { Backend } from '../../src/core/backend.js';
import { Pool } from '../../src/core/pool.js';
import { findPickerFactory } from '../../src/core/pickers/index.js';

function srv(name: string, priority: number, source = 'srv:_a._tcp.test'): Backend {
  return new Backend({ name, host: '127.0.0.1', port: 1, weight: 1, source, priority });
}

function pool(list: Backend[]): Pool {
  return new Pool('default', list, findPickerFactory('round-robin')!, { backendMaxConns: 0, slowStart: 0, random: () => 0.5, now: () => 1000 });
}

const names = (p: Pool): string[] => p.eligible.map((b) => b.name).sort();
const down = (b: Backend): void => void b.check.reset(false);
const up = (b: Backend): void => void b.check.reset(true);

t.test('the lowest priority with a backend up is used; the next only when none of it is up', async (t) => {
  const a = srv('a', 10);
  const b = srv('b', 10);
  const c = srv('c', 20);
  const d = srv('d', 30);
  const p = pool([c, a, d, b]);
  t.same(names(p), ['a', 'b'], 'priority 10 only');
  down(a);
  p.rebuild();
  t.same(names(p), ['b'], 'one of priority 10 is still up: c waits');
  down(b);
  p.rebuild();
  t.same(names(p), ['c'], 'none of 10 up: priority 20');
  t.equal(p.panic, false);
  down(c);
  p.rebuild();
  t.same(names(p), ['d'], 'then 30');
  down(d);
  p.rebuild();
  t.equal(p.panic, true, 'nothing up: panic');
  t.same(names(p), ['a', 'b', 'c', 'd'], 'panic tries every priority');
  up(b);
  p.rebuild();
  t.same(names(p), ['b'], 'b back: priority 10 again, panic over');
  t.equal(p.panic, false);
});

t.test('drained, disabled or removed backends do not hold a priority', async (t) => {
  const a = srv('a', 1);
  const c = srv('c', 2);
  const p = pool([a, c]);
  t.same(names(p), ['a']);
  a.admin = 'draining';
  p.rebuild();
  t.same(names(p), ['c'], 'a draining: c');
  a.admin = 'enabled';
  a.removed = true;
  p.rebuild();
  t.same(names(p), ['c'], 'a removed: c');
});

t.test('priorities are per source; backends without one are unaffected', async (t) => {
  const a = srv('a', 1, 'srv:one');
  const b = srv('b', 2, 'srv:one');
  const x = srv('x', 5, 'srv:two');
  const y = srv('y', 9, 'srv:two');
  const plain = new Backend({ name: 'plain', host: '127.0.0.1', port: 2, weight: 1 });
  const p = pool([a, b, x, y, plain]);
  t.same(names(p), ['a', 'plain', 'x'], "each source's best priority, and the plain backend");
  down(x);
  p.rebuild();
  t.same(names(p), ['a', 'plain', 'y'], 'srv:two falls back on its own');
});
