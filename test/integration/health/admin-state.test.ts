/**
 * Admin state changes (docs/reference.md, "Admin API"): drain keeps open tunnels flowing and
 * sends new connections elsewhere; disable and enable; each POST answers the
 * backend's /stats entry; and the exact auth matrix (401 / 403 / 404 / 200,
 * auth checked before the backend name).
 */
import t from 'tap';
import { namedBackend } from '../../helpers/backends.js';
import { connect } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson, post } from '../../helpers/admin.js';
import { backendStats, count, hits } from './_util.js';

const TOKEN = 'secret';

/** The documented core fields of a /stats backend entry (others, like check times, move on their own). */
function specFields(b: Record<string, unknown>): Record<string, unknown> {
  const { name, address, weight, state, active, total, failures, bytes_in, bytes_out, last_used } = b;
  return { name, address, weight, state, active, total, failures, bytes_in, bytes_out, last_used };
}

t.test('drain, disable, enable', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--admin-token', TOKEN,
    '--backend', `${a.address},name=a`,
    '--backend', `${b.address},name=b`,
    '--health-check', 'off',
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;

  // an open tunnel to a
  const tunnel = await connect(port);
  t.equal(await tunnel.readLine(), 'a', 'first connection on a (round robin)');
  tunnel.write('before\n');
  t.equal(await tunnel.readLine(), 'before');

  const drained = await post(admin, '/backends/a/drain', TOKEN);
  t.equal(drained.status, 200);
  t.equal(drained.json.name, 'a');
  t.equal(drained.json.state, 'draining');
  t.equal(drained.json.active, 1, 'the open tunnel is still counted');
  t.same(specFields(drained.json), specFields(await backendStats(admin, 'a')), 'the answer is the /stats entry');
  // (the log line may reach this process after the HTTP answer)
  await lb.waitForLog((l) => l.msg === 'backend drain' && l.backend === 'a');
  t.ok(lb.logsMatching((l) => l.msg === 'backend drain' && l.backend === 'a').length === 1, 'logged');

  // the open tunnel keeps flowing, both ways
  for (let i = 0; i < 3; i++) {
    tunnel.write(`during ${i}\n`);
    t.equal(await tunnel.readLine(), `during ${i}`, 'tunnel to a still flows');
  }
  // new connections go to b only
  const during = await hits(port, 6);
  t.same(during, ['b', 'b', 'b', 'b', 'b', 'b'], 'new connections on b');
  t.equal((await backendStats(admin, 'a')).state, 'draining');
  t.same((await getJson(admin, '/health')).json, { status: 'ok', up: 1, total: 2 });
  tunnel.end('last\n');
  t.equal((await tunnel.readUntilEnd()).toString(), 'last\n', 'the tunnel finishes normally');
  await a.waitForConnections(0);

  const disabled = await post(admin, '/backends/a/disable', TOKEN);
  t.equal(disabled.status, 200);
  t.equal(disabled.json.state, 'disabled');
  t.same(specFields(disabled.json), specFields(await backendStats(admin, 'a')));
  t.same(await hits(port, 4), ['b', 'b', 'b', 'b']);

  // disable again: same state, still 200 with the entry
  const again = await post(admin, '/backends/a/disable', TOKEN);
  t.equal(again.status, 200);
  t.equal(again.json.state, 'disabled');

  const enabled = await post(admin, '/backends/a/enable', TOKEN);
  t.equal(enabled.status, 200);
  t.equal(enabled.json.state, 'up');
  t.same(specFields(enabled.json), specFields(await backendStats(admin, 'a')));
  const after = await hits(port, 6);
  t.equal(count(after, 'a'), 3, `traffic returns to a: ${after.join(' ')}`);
  t.equal(count(after, 'b'), 3);

  // drain b, then disable it too: nothing to try
  t.equal((await post(admin, '/backends/b/disable', TOKEN)).status, 200);
  t.equal((await post(admin, '/backends/a/drain', TOKEN)).status, 200);
  t.same(await hits(port, 2), [null, null], 'every backend draining or disabled: clients are closed');
  const h = await getJson(admin, '/health');
  t.equal(h.status, 503);
  t.same(h.json, { status: 'down', up: 0, total: 2 });
  t.equal(lb.logsMatching((l) => l.msg === 'panic').length, 0, 'draining/disabled is not panic');
});

t.test('auth matrix', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--admin-token', TOKEN,
    '--backend', `${a.address},name=a`,
    '--health-check', 'off',
  ]);
  const admin = lb.adminPort!;
  const cases: Array<[string, string | undefined, string | undefined, number]> = [
    // path, token, raw Authorization header, expected status
    ['/backends/a/drain', undefined, undefined, 401],
    ['/backends/a/drain', 'wrong', undefined, 403],
    ['/backends/a/drain', undefined, 'Basic c2VjcmV0', 403],
    ['/backends/a/drain', undefined, 'Bearer', 403],
    ['/backends/nope/drain', undefined, undefined, 401],
    ['/backends/nope/drain', 'wrong', undefined, 403],
    ['/backends/nope/drain', TOKEN, undefined, 404],
    ['/backends/a/disable', undefined, undefined, 401],
    ['/backends/a/enable', 'wrong', undefined, 403],
  ];
  for (const [path, token, raw, status] of cases) {
    const r = await post(admin, path, token, raw === undefined ? {} : { rawAuthorization: raw });
    t.equal(r.status, status, `POST ${path} token=${token ?? '-'} raw=${JSON.stringify(raw)} → ${status}`);
  }
  t.equal((await backendStats(admin, 'a')).state, 'up', 'no rejected call changed anything');
  const ok = await post(admin, '/backends/a/drain', TOKEN);
  t.equal(ok.status, 200);
  t.equal(ok.json.state, 'draining');
  t.equal((await post(admin, '/backends/a/enable', TOKEN, { rawAuthorization: `bearer ${TOKEN}` })).status, 200, 'scheme is case-insensitive');
});

t.test('auth without --admin-token: any token is 403', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${a.address},name=a`,
    '--health-check', 'off',
  ]);
  const admin = lb.adminPort!;
  t.equal((await post(admin, '/backends/a/drain')).status, 401, 'no header: 401');
  t.equal((await post(admin, '/backends/a/drain', TOKEN)).status, 403);
  t.equal((await post(admin, '/backends/a/drain', '')).status, 403);
  t.equal((await post(admin, '/backends/nope/drain', TOKEN)).status, 403, 'auth before the name');
  t.equal((await backendStats(admin, 'a')).state, 'up');
});
