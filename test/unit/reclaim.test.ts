/**
 * src/reclaim.ts: when the balancer gives memory back. A collection runs
 * after a large drop in open sessions (at least minDrop, and at least half
 * of the peak), or on the tick after a large hand-over to the native relay,
 * never more often than minIntervalMs.
 */
import t from 'tap';
import { MemoryReclaimer } from '../../src/reclaim.js';

t.test('a spike that ends is reclaimed once', (t) => {
  const r = new MemoryReclaimer(1000, 5000);
  t.equal(r.tick(10, 0, 0), false, 'small load: nothing');
  t.equal(r.tick(5000, 0, 1000), false, 'the spike itself: nothing');
  t.equal(r.tick(3000, 0, 2000), false, 'down 2000 but still above half the peak');
  t.equal(r.tick(2000, 0, 3000), true, 'down 3000 and at or below half the peak');
  t.equal(r.runs, 1);
  t.equal(r.tick(0, 0, 4000), false, 'the peak was reset to 2000: a drop of 2000 ... but within 5 s of the last run');
  t.equal(r.tick(0, 0, 9000), true, 'after the interval the remaining drop counts');
  t.equal(r.tick(0, 0, 20000), false, 'nothing open, nothing dropped');
  t.equal(r.runs, 2);
  t.end();
});

t.test('small drops never collect', (t) => {
  const r = new MemoryReclaimer(1000, 0);
  for (let i = 0; i < 50; i++) {
    t.equal(r.tick(900, 0, i * 1000), false);
    t.equal(r.tick(0, 0, i * 1000 + 500), false);
  }
  t.equal(r.runs, 0);
  t.end();
});

t.test('a large hand-over collects on the next tick', (t) => {
  const r = new MemoryReclaimer(1000, 0);
  t.equal(r.tick(5000, 5000, 1000), false, 'not in the tick of the hand-over');
  t.equal(r.tick(5000, 0, 2000), true, 'the next one');
  t.equal(r.tick(5000, 0, 3000), false, 'once');
  t.equal(r.tick(5000, 999, 4000), false);
  t.equal(r.tick(5000, 0, 5000), false, 'under minDrop: no');
  t.end();
});
