/**
 * WaitQueue (src/core/wait-queue.ts): FIFO order, removal from the middle,
 * head and tail, idempotent removal, reuse of an item after it left.
 */
import t from 'tap';
import { WaitQueue, type Queued } from '../../src/core/wait-queue.js';

class Item implements Queued {
  qPrev: Queued | null = null;
  qNext: Queued | null = null;
  queued = false;
  constructor(readonly id: string) {}
}

function drain(q: WaitQueue<Item>): string {
  let s = '';
  for (let x = q.shift(); x; x = q.shift()) s += x.id;
  return s;
}

function fill(q: WaitQueue<Item>, ids: string): Map<string, Item> {
  const m = new Map<string, Item>();
  for (const id of ids) {
    const it = new Item(id);
    m.set(id, it);
    q.push(it);
  }
  return m;
}

t.test('FIFO', async (t) => {
  const q = new WaitQueue<Item>();
  t.equal(q.length, 0);
  t.equal(q.first, null);
  t.equal(q.shift(), null);
  const m = fill(q, 'abcde');
  t.equal(q.length, 5);
  t.equal(q.first, m.get('a'), 'first is the oldest, left in place');
  t.equal(q.length, 5);
  t.ok([...m.values()].every((x) => x.queued));
  t.equal(drain(q), 'abcde');
  t.equal(q.length, 0);
  t.ok([...m.values()].every((x) => !x.queued && x.qPrev === null && x.qNext === null), 'links cleared');
});

t.test('removal from the middle, head and tail', async (t) => {
  const q = new WaitQueue<Item>();
  const m = fill(q, 'abcde');
  q.remove(m.get('c')!);
  t.equal(q.length, 4);
  t.equal(m.get('c')!.queued, false);
  q.remove(m.get('a')!);
  t.equal(q.first, m.get('b'));
  q.remove(m.get('e')!);
  t.equal(q.length, 2);
  q.push(new Item('f'));
  t.equal(drain(q), 'bdf', 'order kept, the tail moved back to d');
});

t.test('removing twice, or an item never queued, is a no-op', async (t) => {
  const q = new WaitQueue<Item>();
  const m = fill(q, 'abc');
  q.remove(m.get('b')!);
  q.remove(m.get('b')!);
  q.remove(new Item('z'));
  t.equal(q.length, 2);
  t.equal(drain(q), 'ac');
});

t.test('an item that left can queue again, at the back', async (t) => {
  const q = new WaitQueue<Item>();
  const m = fill(q, 'abc');
  q.remove(m.get('a')!);
  q.push(m.get('a')!);
  t.equal(drain(q), 'bca');
});

t.test('removing the only item empties the queue', async (t) => {
  const q = new WaitQueue<Item>();
  const m = fill(q, 'x');
  q.remove(m.get('x')!);
  t.equal(q.length, 0);
  t.equal(q.first, null);
  q.push(new Item('y'));
  t.equal(drain(q), 'y');
});

t.test('interleaved push and shift stay FIFO', async (t) => {
  const q = new WaitQueue<Item>();
  let out = '';
  let n = 0;
  for (let round = 0; round < 50; round++) {
    q.push(new Item(String.fromCharCode(65 + (n++ % 26))));
    q.push(new Item(String.fromCharCode(65 + (n++ % 26))));
    out += q.shift()!.id;
  }
  out += drain(q);
  let expect = '';
  for (let i = 0; i < n; i++) expect += String.fromCharCode(65 + (i % 26));
  t.equal(out, expect);
});
