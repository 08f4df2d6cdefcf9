/**
 * The run-time API (README "Admin API"): POST /backends, PUT
 * /backends/NAME/weight and DELETE /backends/NAME through bin/lb4 over real
 * sockets, with the token rules, the answers for bad input, traffic
 * following each change, a removed backend draining before it leaves, a
 * reload ending the changes, and --workers.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { namedBackend } from '../../helpers/backends.js';
import { connect } from '../../helpers/clients.js';
import { call } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';
import { stats, statsUntil, tempDir } from '../../helpers/ops.js';

const TOKEN = 'api-test-token';

/** Which backend the next `n` new connections reach (each named backend says its name first). */
async function names(port: number, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const c = await connect(port);
    const name = (await c.readLine(15_000)).trim();
    out[name] = (out[name] ?? 0) + 1;
    c.destroy();
  }
  return out;
}

t.test('POST /backends, PUT weight, DELETE: token rules, bad input, traffic follows', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', TOKEN, '--health-check', 'off', '--strategy', 'weighted-round-robin', '--backend', `${a.address},name=a`]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;

  // auth first, body unread
  t.equal((await call(admin, 'POST', '/backends', undefined, { address: b.address })).status, 401, 'no Authorization: 401');
  t.equal((await call(admin, 'POST', '/backends', 'wrong', { address: b.address })).status, 403, 'a wrong token: 403');
  t.equal((await call(admin, 'GET', '/backends', TOKEN)).status, 405, 'GET /backends: 405');

  // bad input: 400; an unknown pool: 404
  const bad = [{}, { address: 'nohostport' }, { address: b.address, weight: 2000 }, { address: b.address, name: 'has space' }, { address: b.address, colour: 'red' }, [1, 2]];
  for (const body of bad) t.equal((await call(admin, 'POST', '/backends', TOKEN, body)).status, 400, `400 for ${JSON.stringify(body)}`);
  t.equal((await call(admin, 'POST', '/backends', TOKEN, { address: b.address, pool: 'nope' })).status, 404, 'no such pool: 404');
  t.equal((await stats(admin)).backends.length, 1, 'nothing was added by a refused call');

  // add b
  const added = await call(admin, 'POST', '/backends', TOKEN, { address: b.address, name: 'b', weight: 3 });
  t.equal(added.status, 201);
  t.match(added.json, { name: 'b', address: b.address, weight: 3, state: 'up', source: 'api', active: 0, total: 0 });
  t.equal((await call(admin, 'POST', '/backends', TOKEN, { address: b.address, name: 'b' })).status, 409, 'the name exists: 409');
  t.equal((await call(admin, 'POST', '/backends', TOKEN, { address: a.address, name: 'a' })).status, 409, 'a config backend name too');
  await lb.waitForLog((l) => l.msg === 'backend added' && l.backend === 'b' && l.source === 'api', 15_000);
  t.same(await names(port, 8), { a: 2, b: 6 }, 'weights 1 and 3: smooth weighted round robin over 8 connections');

  // change a's weight (a config backend)
  const w = await call(admin, 'PUT', '/backends/a/weight', TOKEN, { weight: 3 });
  t.equal(w.status, 200);
  t.match(w.json, { name: 'a', weight: 3, source: 'config' });
  t.same(await names(port, 6), { a: 3, b: 3 }, 'equal weights now');
  t.equal((await call(admin, 'PUT', '/backends/zz/weight', TOKEN, { weight: 1 })).status, 404, 'unknown backend: 404');
  t.equal((await call(admin, 'PUT', '/backends/a/weight', TOKEN, { weight: -1 })).status, 400, 'bad weight: 400');
  t.equal((await call(admin, 'PUT', '/backends/a/weight', TOKEN, {})).status, 400, 'no weight: 400');

  // delete b while a connection to it is open: it drains, then leaves
  let held = await connect(port);
  let first = (await held.readLine(15_000)).trim();
  while (first !== 'b') {
    held.destroy();
    held = await connect(port);
    first = (await held.readLine(15_000)).trim();
  }
  const del = await call(admin, 'DELETE', '/backends/b', TOKEN);
  t.equal(del.status, 202);
  t.match(del.json, { name: 'b', state: 'draining', active: 1 });
  t.same(await names(port, 4), { a: 4 }, 'new connections avoid it');
  held.write('still here\n');
  t.equal((await held.readLine(15_000)).trim(), 'still here', 'the open connection is not cut');
  held.end();
  await statsUntil(admin, (s) => s.backends.every((x: { name: string }) => x.name !== 'b'), 20_000, 'b gone after its last connection');
  t.equal((await call(admin, 'DELETE', '/backends/b', TOKEN)).status, 404, 'deleting it again: 404');
});

t.test('a reload ends what the API changed; the config backends come back', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, `healthCheck: off\nbackends: ["${a.address},name=a"]\n`);
  const lb = await withLb4(t, ['--config', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', TOKEN]);
  const admin = lb.adminPort!;
  t.equal((await call(admin, 'POST', '/backends', TOKEN, { address: b.address, name: 'b' })).status, 201);
  t.equal((await call(admin, 'DELETE', '/backends/a', TOKEN)).status, 202);
  await statsUntil(admin, (s) => s.backends.map((x: { name: string }) => x.name).join() === 'b', 20_000, 'only b');
  t.same(await names(lb.ports[0]!, 2), { b: 2 });
  lb.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'config reloaded', 15_000);
  const s = await statsUntil(admin, (s) => s.backends.filter((x: { state: string }) => x.state === 'up').map((x: { name: string }) => x.name).join() === 'a', 20_000, 'a back, b gone');
  t.same(s.backends.find((x: { name: string }) => x.name === 'a').source, 'config');
  t.same(await names(lb.ports[0]!, 2), { a: 2 }, 'traffic follows the file again');
});

t.test('--workers: every worker follows the API', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const lb = await withLb4(t, ['--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', TOKEN, '--health-check', 'off', '--backend', `${a.address},name=a`]);
  const admin = lb.adminPort!;
  t.equal((await call(admin, 'POST', '/backends', TOKEN, { address: b.address, name: 'b' })).status, 201);
  t.equal((await call(admin, 'PUT', '/backends/a/weight', TOKEN, { weight: 0 })).status, 200, 'a gets no new traffic');
  for (const id of [1, 2]) {
    const s = await statsUntil(admin, (s) => s.backends?.some((x: { name: string }) => x.name === 'b'), 20_000, `worker ${id} has b`, `?worker=${id}`);
    t.equal(s.backends.find((x: { name: string }) => x.name === 'a').weight, 0, `worker ${id} has a's weight`);
  }
  t.same(await names(lb.ports[0]!, 6), { b: 6 }, 'whichever worker takes a connection sends it to b');
});
