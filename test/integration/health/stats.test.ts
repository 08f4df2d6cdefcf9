/**
 * Health checks never count in /stats (docs/reference.md, "Admin API": `total` counts client
 * connections that reached a backend, not health checks): after many check
 * intervals with no traffic, every counter is still 0.
 */
import t from 'tap';
import { httpBackend, namedBackend } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';

for (const check of ['tcp', 'http:/'] as const) {
  t.test(`${check} checks are not traffic`, async (t) => {
    const a = check === 'tcp' ? await namedBackend('a') : await httpBackend('a');
    const b = check === 'tcp' ? await namedBackend('b') : await httpBackend('b');
    t.teardown(() => a.close());
    t.teardown(() => b.close());
    const lb = await withLb4(t, [
      '--listen', '127.0.0.1:0',
      '--admin', '127.0.0.1:0',
      '--backend', `${a.address},name=a`,
      '--backend', `${b.address},name=b`,
      '--health-check', check,
      '--health-interval', '50ms',
      '--health-timeout', '200ms',
    ]);
    // every check is a connection to the backend: wait for several rounds
    await a.waitForAccepted(8);
    await b.waitForAccepted(8);
    const s = await getJson(lb.adminPort!, '/stats');
    t.equal(s.status, 200);
    t.same(s.json.connections, { active: 0, total: 0 }, 'no client connection counted');
    for (const be of s.json.backends) {
      t.equal(be.state, 'up', `${be.name} up`);
      t.equal(be.total, 0, `${be.name} total 0 after ${be.name === 'a' ? a.accepted : b.accepted} checks`);
      t.equal(be.active, 0, `${be.name} active 0`);
      t.equal(be.failures, 0, `${be.name} failures 0`);
      t.equal(be.bytes_in, 0);
      t.equal(be.bytes_out, 0);
      t.equal(be.last_used, null, 'never used');
      t.type(be.check?.last_at, 'string', 'but it was checked');
    }
    const listeners = s.json.listeners as Array<{ accepted: number }> | undefined;
    if (listeners) t.equal(listeners[0]!.accepted, 0, 'the listener accepted nothing');
  });
}
