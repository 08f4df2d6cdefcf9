/**
 * The per-client table (src/core/client-table.ts): connection counts, the
 * two-window sliding rate estimate (exact values, accuracy against the
 * exact sliding count, Retry-After), and the memory cap with its eviction
 * order (idle entries before those holding connections).
 */
import t from 'tap';
import { ClientTable, RATE_WINDOW_MS, retryAfterSeconds } from '../../src/core/client-table.js';
import { prng } from '../helpers/random.js';

t.test('connections: counted per IP until closed', async (t) => {
  const tb = new ClientTable(16);
  t.equal(tb.openConnection('10.0.0.1'), 1);
  t.equal(tb.openConnection('10.0.0.1'), 2);
  tb.openConnection('10.0.0.2');
  t.equal(tb.connections('10.0.0.1'), 2);
  t.equal(tb.connections('10.0.0.2'), 1);
  t.equal(tb.connections('10.0.0.3'), 0, 'unknown: 0');
  tb.closeConnection('10.0.0.1');
  t.equal(tb.connections('10.0.0.1'), 1);
  tb.closeConnection('10.0.0.9');
  t.notOk(tb.has('10.0.0.9'), 'closing an unknown IP adds nothing');
  tb.closeConnection('10.0.0.2');
  tb.closeConnection('10.0.0.2');
  t.equal(tb.connections('10.0.0.2'), 0, 'never below 0');
  t.equal(tb.size, 2);
});

t.test('rate: the weighted two-window estimate, exactly', async (t) => {
  const tb = new ClientTable(16);
  const ip = '192.0.2.1';
  // 10 events in window 5 (t = 5000..5900)
  for (let i = 0; i < 10; i++) t.equal(tb.admit(ip, 5000 + i * 100, 100), 0);
  t.equal(tb.rate(ip, 5950), 10, 'all in the current window');
  t.equal(tb.rate(ip, 6000), 10, 'start of the next window: the previous one counts whole');
  t.equal(tb.rate(ip, 6250), 7.5, 'a quarter through: 3/4 of it');
  t.ok(Math.abs(tb.rate(ip, 6999) - 0.01) < 1e-9, 'almost gone');
  t.equal(tb.rate(ip, 8000), 0, 'two windows later: nothing');
  t.equal(tb.rate('unknown', 8000), 0);
});

t.test('rate: admit up to the limit, refuse with Retry-After, admit again once the estimate falls', async (t) => {
  const tb = new ClientTable(16);
  const ip = '192.0.2.2';
  for (let i = 0; i < 10; i++) t.equal(tb.admit(ip, 1000 + i * 50, 10), 0, `event ${i}`);
  // 11th in the same window: the estimate is 10, not below the limit
  const ra = tb.admit(ip, 1950, 10);
  t.equal(ra, 1, 'Retry-After 1 s (whole seconds, at least 1)');
  t.equal(tb.rate(ip, 1950), 10, 'the refusal was not counted');
  t.not(tb.admit(ip, 2000, 10), 0, 'at 2000: 10 x 1.0 + 0 is not below 10');
  t.equal(tb.admit(ip, 2001, 10), 0, 'at 2001: 9.99 < 10');
  t.equal(tb.admit(ip, 2001, 10), 1, 'the next one waits: 9.99 + 1');
  t.not(tb.admit(ip, 2100, 10), 0, 'at 2100: 9 + 1 is not below 10');
  t.equal(tb.admit(ip, 2101, 10), 0, 'at 2101: 8.99 + 1 < 10');
});

t.test('retryAfterSeconds: a whole number >= 1, and waiting that long is enough', async (t) => {
  const r = prng(5);
  for (let i = 0; i < 5000; i++) {
    const limit = 1 + Math.floor(r() * 50);
    const prev = Math.floor(r() * 2 * limit);
    const cur = Math.floor(r() * (limit + 1));
    const elapsed = Math.floor(r() * RATE_WINDOW_MS);
    const est = prev * (1 - elapsed / RATE_WINDOW_MS) + cur;
    if (est < limit) continue;
    const s = retryAfterSeconds(prev, cur, elapsed, limit);
    if (!(Number.isInteger(s) && s >= 1)) {
      t.fail(`not a whole number >= 1: ${s}`);
      return;
    }
    // replay: a table in that state, asked again `s` seconds later
    const tb = new ClientTable(4);
    const w0 = 10_000;
    for (let k = 0; k < prev; k++) tb.count('x', w0 - RATE_WINDOW_MS + 1);
    for (let k = 0; k < cur; k++) tb.count('x', w0);
    if (tb.admit('x', w0 + elapsed + s * 1000, limit) !== 0) {
      t.fail(`prev ${prev} cur ${cur} at ${elapsed} ms limit ${limit}: still refused after ${s} s`);
      return;
    }
  }
  t.pass('5,000 random states');
});

t.test('rate: steady offered load at 5x the limit, admitted within 20% of the limit over any sliding second', async (t) => {
  for (const limit of [5, 20, 100]) {
    const tb = new ClientTable(4);
    const r = prng(limit);
    const offered = 5 * limit;
    const admitted: number[] = [];
    let now = 0;
    const end = 30_000;
    while (now < end) {
      now += (-Math.log(1 - r()) * 1000) / offered; // Poisson arrivals
      if (tb.admit('c', now, limit) === 0) admitted.push(now);
    }
    let worst = 0;
    let lo = 0;
    for (let hi = 0; hi < admitted.length; hi++) {
      while (admitted[lo]! <= admitted[hi]! - RATE_WINDOW_MS) lo++;
      worst = Math.max(worst, hi - lo + 1);
    }
    const mean = admitted.length / (end / 1000);
    t.ok(worst <= 1.2 * limit, `limit ${limit}: most in any sliding second ${worst}`);
    t.ok(mean >= 0.8 * limit && mean <= 1.05 * limit, `limit ${limit}: mean ${mean.toFixed(2)}/s`);
  }
});

t.test('memory cap: 1,000,000 distinct IPs never grow the table past its capacity', async (t) => {
  const cap = 4096;
  const tb = new ClientTable(cap);
  // 100 clients hold connections from the start
  for (let i = 0; i < 100; i++) tb.openConnection(`10.9.0.${i}`);
  const t0 = Date.now();
  for (let i = 0; i < 1_000_000; i++) {
    tb.admit(`198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i, 10);
    if (tb.size > cap) {
      t.fail(`size ${tb.size} > ${cap} after ${i + 1}`);
      return;
    }
  }
  const ms = Date.now() - t0;
  t.equal(tb.size, cap, 'full, not more');
  for (let i = 0; i < 100; i++) {
    if (tb.connections(`10.9.0.${i}`) !== 1) {
      t.fail(`busy client 10.9.0.${i} was evicted`);
      return;
    }
  }
  t.pass('the 100 clients holding connections survived the flood');
  t.ok(ms < 20_000, `1,000,000 admits in ${ms} ms`);
});

t.test('eviction order: least recently seen idle first; busy ones only when nothing is idle', async (t) => {
  const tb = new ClientTable(3);
  tb.count('a', 0);
  tb.count('b', 0);
  tb.count('c', 0);
  tb.count('a', 1); // a is now the most recent
  tb.count('d', 2); // evicts b
  t.ok(tb.has('a') && tb.has('c') && tb.has('d'));
  t.notOk(tb.has('b'));
  tb.openConnection('c');
  tb.openConnection('a');
  tb.count('e', 3); // idle: d only -> evicts d
  t.ok(tb.has('a') && tb.has('c') && tb.has('e'));
  t.notOk(tb.has('d'));
  tb.openConnection('e');
  tb.count('f', 4); // all busy: the least recently seen busy one (c) goes
  t.notOk(tb.has('c'));
  t.ok(tb.has('a') && tb.has('e') && tb.has('f'));
  tb.closeConnection('c'); // evicted: nothing happens
  t.equal(tb.size, 3);
  tb.closeConnection('a'); // idle again, and seen last
  tb.count('g', 5); // the least recently seen idle one is f
  t.notOk(tb.has('f'));
  t.ok(tb.has('a') && tb.has('e') && tb.has('g'));
});
