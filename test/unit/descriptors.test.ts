/**
 * src/descriptors.ts: the client ceiling derived from the descriptor limit,
 * and the rate-limited warning.
 */
import t from 'tap';
import { DescriptorBudget, descriptorLimit, openDescriptors, RESERVED_DESCRIPTORS } from '../../src/stream/descriptors.js';
import { RateLimitedWarning } from '../../src/logger.js';

t.test('the limit and the open count of this process', async (t) => {
  const limit = descriptorLimit();
  const open = openDescriptors();
  t.ok(limit > 0, `a limit (${limit})`);
  t.ok(open > 2 && open < limit, `open descriptors (${open})`);
});

t.test('the ceiling leaves the reserve and two descriptors per client', async (t) => {
  const b = new DescriptorBudget();
  b.measure(3);
  const room = b.limit - openDescriptors() - RESERVED_DESCRIPTORS - 3;
  t.ok(Math.abs(b.maxClients - Math.floor(room / 2)) <= 1, `max clients ${b.maxClients} for ${room} free descriptors`);

  const c = new DescriptorBudget();
  c.maxClients = 10;
  t.equal(c.admits(9, 0), true, 'the 10th client fits');
  t.equal(c.admits(10, 0), false, 'the 11th does not');
  t.equal(c.admits(8, 2), true, '8 clients and 2 handshakes leave room for one more');
  t.equal(c.admits(8, 3), false, 'a handshake takes one descriptor');
  const none = new DescriptorBudget();
  t.equal(none.admits(1e9, 1e9), true, 'no ceiling when the limit is unknown');
});

t.test('the warning: at most one a second, with the count held back', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const log = { warn: (o: object, msg: string) => lines.push({ ...o, msg }) };
  const w = new RateLimitedWarning('out of file descriptors', 1000);
  for (let i = 0; i < 100; i++) w.note(log, { i });
  t.equal(lines.length, 1);
  t.same(lines[0], { i: 0, suppressed: 0, msg: 'out of file descriptors' });
  const slow = new RateLimitedWarning('x', 0);
  slow.note(log, {});
  slow.note(log, {});
  t.equal(lines.length, 3, 'an interval of 0 logs every one');
});
