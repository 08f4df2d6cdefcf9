/**
 * The admin API's read side in L4 mode (docs/reference.md, "Admin API"): /ping, /health
 * (ok, and down when every backend is dead), /stats fields, types and exact
 * byte counts, /config with the token redacted.
 */
import t from 'tap';
import { closedPort, echoBackend } from '../../helpers/backends.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';
import { tracked, waitAccess } from '../../helpers/l4-e2e.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

t.test('/ping, /health, /stats, /config', async (t) => {
  const e1 = await echoBackend();
  t.teardown(() => e1.close());
  const e2 = await echoBackend();
  t.teardown(() => e2.close());
  const token = 'tok-9f3c1d7e-secret';
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--admin-token', token,
    '--access-log',
    '--strategy', 'rr',
    '--backend', `${e1.address},weight=3,name=one`,
    '--backend', `${e2.address}`,
  ]);
  const admin = lb.adminPort!;
  t.ok(admin > 0, 'admin listening line gives the port');

  const ping = await getJson(admin, '/ping');
  t.equal(ping.status, 200);
  t.same(ping.json, { status: 'ok' });
  t.match(ping.headers['content-type'], /application\/json/);

  const health = await getJson(admin, '/health');
  t.equal(health.status, 200);
  t.same(health.json, { status: 'ok', up: 2, total: 2 });

  const s0 = await getJson(admin, '/stats');
  t.equal(s0.status, 200);
  const st = s0.json;
  t.equal(st.mode, 'l4');
  t.equal(st.strategy, 'round-robin', 'canonical name, not the alias "rr"');
  t.type(st.uptime_s, 'number');
  t.ok(st.uptime_s >= 0 && st.uptime_s < 60, `uptime_s ${st.uptime_s}`);
  t.same(st.connections, { active: 0, total: 0 });
  t.equal(st.backends.length, 2);
  const [b1, b2] = st.backends;
  t.match(b1, {
    name: 'one', address: e1.address, weight: 3, state: 'up',
    active: 0, total: 0, failures: 0, bytes_in: 0, bytes_out: 0, last_used: null,
  });
  t.match(b2, {
    name: e2.address, address: e2.address, weight: 1, state: 'up',
    active: 0, total: 0, failures: 0, bytes_in: 0, bytes_out: 0, last_used: null,
  }, 'name defaults to HOST:PORT, weight to 1');
  for (const k of ['active', 'total', 'failures', 'bytes_in', 'bytes_out', 'weight']) t.type(b1[k], 'number', `${k} is a number`);
  t.equal(b1.last_used, null, 'last_used is null before use');

  // One connection through the first backend, held open: active counts it.
  const before = Date.now();
  const c = await tracked(t, lb.ports[0]!);
  const msg = 'exactly 29 bytes of payload\r\n';
  c.write(msg);
  t.equal(await c.readLine(), 'exactly 29 bytes of payload');
  const live = (await getJson(admin, '/stats')).json;
  t.same(live.connections, { active: 1, total: 1 }, 'one active connection');
  t.equal(live.backends[0].active, 1);
  t.equal(live.backends[0].total, 1);
  t.equal(live.backends[1].active, 0);
  c.write('+7 more');
  t.equal((await c.readBytes(7)).toString(), '+7 more');
  c.end();
  await c.readUntilEnd();
  await c.waitClose();
  await waitAccess(lb, 1);

  const after = (await getJson(admin, '/stats')).json;
  t.same(after.connections, { active: 0, total: 1 });
  const u = after.backends[0];
  t.equal(u.active, 0);
  t.equal(u.total, 1);
  t.equal(u.failures, 0);
  t.equal(u.bytes_in, 36, 'bytes_in: exactly what the client sent');
  t.equal(u.bytes_out, 36, 'bytes_out: exactly what the echo sent back');
  t.equal(e1.bytesReceived, 36);
  t.type(u.last_used, 'string');
  t.match(u.last_used, ISO, 'last_used is an ISO timestamp');
  const used = Date.parse(u.last_used);
  t.ok(used >= before - 1000 && used <= Date.now() + 1000, 'last_used is about now');
  t.equal(after.backends[1].last_used, null, 'the unused backend is still null');
  t.equal(after.backends[1].bytes_in, 0);

  const cfg = await getJson(admin, '/config');
  t.equal(cfg.status, 200);
  t.notMatch(cfg.body, token, 'the admin token does not appear in /config');
  t.ok(cfg.json.adminToken !== null && cfg.json.adminToken !== undefined, 'the token setting is shown as redacted');
  t.not(cfg.json.adminToken, token);
  t.equal(cfg.json.strategy, 'round-robin');
  t.equal(cfg.json.mode, 'l4');
  t.equal(cfg.json.accessLog, true);
  t.equal(cfg.json.backends.length, 2);

  const nf = await getJson(admin, '/no-such-thing');
  t.equal(nf.status, 404);
});

t.test('/health 503 "down" when every backend is dead', async (t) => {
  const p1 = await closedPort();
  const p2 = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--health-interval', '100ms',
    '--fall', '1',
    '--backend', `127.0.0.1:${p1},name=d1`,
    '--backend', `127.0.0.1:${p2},name=d2`,
  ]);
  const downs = new Set<string>();
  await lb.waitForLog((l) => {
    if (l.msg === 'backend down') downs.add(l.backend);
    return downs.size === 2;
  }, 5_000);
  const h = await getJson(lb.adminPort!, '/health');
  t.equal(h.status, 503);
  t.same(h.json, { status: 'down', up: 0, total: 2 });
  const st = (await getJson(lb.adminPort!, '/stats')).json;
  t.same(st.backends.map((b: { state: string }) => b.state), ['down', 'down']);
  t.ok(lb.logsMatching((l) => l.msg === 'backend down').every((l) => typeof l.reason === 'string'), 'backend down lines have a reason');
});

t.test('/health while only some backends are down', async (t) => {
  const e = await echoBackend();
  t.teardown(() => e.close());
  const p = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--health-interval', '100ms',
    '--fall', '1',
    '--backend', `${e.address},name=live`,
    '--backend', `127.0.0.1:${p},name=dead`,
  ]);
  await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'dead', 15_000);
  const h = await getJson(lb.adminPort!, '/health');
  t.equal(h.status, 200);
  t.same(h.json, { status: 'ok', up: 1, total: 2 });
});
