/**
 * History (src/admin/history.ts), the ring buffers behind /stats/history:
 * rates are differences over the time between samples, the ring keeps the
 * newest `capacity` points oldest first, backends that join get nulls for
 * the points before them and leave with their series, and counters that go
 * backwards never make a negative rate.
 */
import t from 'tap';
import { History, type BackendSnapshot, type HistorySnapshot } from '../../src/admin/history.js';

function be(name: string, total: number, over: Partial<BackendSnapshot> = {}): BackendSnapshot {
  return { pool: 'default', name, active: 0, total, bytesIn: total * 10, bytesOut: total * 100, errors: 0, ...over };
}

function snap(connections: number, backends: BackendSnapshot[], over: Partial<HistorySnapshot> = {}): HistorySnapshot {
  return { connections, active: 0, queued: 0, backends, ...over };
}

t.test('rates over the sampling interval, values now', async (t) => {
  const h = new History(5000, 4);
  h.start(1_000_000, snap(100, [be('a', 50), be('b', 50)]));
  h.record(1_005_000, snap(150, [be('a', 80, { active: 3, errors: 5 }), be('b', 70, { active: 1 })], { active: 4, queued: 2 }));
  const j = h.toJSON();
  t.same(j.t, [1_005_000]);
  t.equal(j.interval_ms, 5000);
  t.equal(j.capacity, 4);
  t.equal(j.series.conn_rate[0], 10, '50 connections in 5 s');
  t.equal(j.series.req_rate[0], 10, '(30 + 20) over 5 s');
  t.equal(j.series.bytes_in_rate[0], 100);
  t.equal(j.series.bytes_out_rate[0], 1000);
  t.equal(j.series.error_rate[0], 1, 'failures + response errors per second');
  t.equal(j.series.active[0], 4);
  t.equal(j.series.queued[0], 2);
  t.same(
    j.backends.map((b) => [b.name, b.active, b.rate]),
    [['a', [3], [6]], ['b', [1], [4]]],
  );
});

t.test('bounded: the newest `capacity` points, oldest first, whatever the uptime', async (t) => {
  const h = new History(1000, 5);
  h.start(1000, snap(0, [be('a', 0)]));
  for (let i = 1; i <= 23; i++) h.record(1000 + i * 1000, snap(i * i, [be('a', i)], { active: i }));
  const j = h.toJSON();
  t.equal(h.length, 5);
  t.same(j.t, [20_000, 21_000, 22_000, 23_000, 24_000]);
  t.same(j.series.active, [19, 20, 21, 22, 23]);
  t.same(j.series.conn_rate, [19 * 19 - 18 * 18, 20 * 20 - 19 * 19, 21 * 21 - 20 * 20, 22 * 22 - 21 * 21, 23 * 23 - 22 * 22]);
  t.same(j.backends[0]!.active.length, 5);
});

t.test('backends that join get nulls before them; backends that leave are dropped', async (t) => {
  const h = new History(1000, 10);
  h.start(0 + 1, snap(0, [be('a', 0)]));
  h.record(1001, snap(0, [be('a', 2)]));
  h.record(2001, snap(0, [be('a', 4), be('new', 3, { active: 1 })]));
  let j = h.toJSON();
  const n = j.backends.find((b) => b.name === 'new')!;
  t.same(n.active, [null, 1]);
  t.same(n.rate, [null, 3], 'a newcomer counts from 0');
  t.equal(h.backendCount, 2);
  h.record(3001, snap(0, [be('new', 3)]));
  j = h.toJSON();
  t.same(j.backends.map((b) => b.name), ['new'], 'a gone, its series with it');
  t.equal(h.backendCount, 1);
});

t.test('counters that go backwards (a backend replaced under its name) never give a negative rate', async (t) => {
  const h = new History(1000, 10);
  h.start(1, snap(10, [be('a', 100)]));
  h.record(1001, snap(5, [be('a', 4)]));
  const j = h.toJSON();
  t.equal(j.backends[0]!.rate[0], 4, 'the new counter, from 0');
  t.equal(j.series.conn_rate[0], 0);
  t.ok(Object.values(j.series).every((s) => s.every((v) => v === null || v >= 0)));
});

t.test('without a starting line the first point has no rate (null), later ones do', async (t) => {
  const h = new History(1000, 10);
  h.record(1000, snap(10, [be('a', 10)]));
  h.record(2000, snap(12, [be('a', 11)]));
  const j = h.toJSON();
  t.same(j.series.conn_rate, [null, 2]);
  t.same(j.series.active, [0, 0]);
});
