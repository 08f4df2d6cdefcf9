/**
 * HTTP health probe (`--health-check http:/PATH`, docs/reference.md, "Settings"): a backend
 * whose TCP port is open but whose /healthz answers 503 is down with reason
 * `status 503`; the one answering 200 stays up and gets all the traffic.
 */
import t from 'tap';
import type http from 'node:http';
import { httpBackend } from '../../helpers/backends.js';
import { connect, request } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';
import { FAST_CHECKS, backendStats } from './_util.js';

/** Answers `healthStatus` on /healthz and 200 with its name elsewhere. */
function handler(name: string, healthStatus: number) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume();
    const status = req.url === '/healthz' ? healthStatus : 200;
    res.writeHead(status, { 'x-backend': name, 'content-type': 'text/plain' });
    res.end(name);
  };
}

t.test('http:/healthz: 503 is down while its port is open, 200 stays up', async (t) => {
  const sick = await httpBackend('sick', { handler: handler('sick', 503) });
  const well = await httpBackend('well', { handler: handler('well', 200) });
  t.teardown(() => sick.close());
  t.teardown(() => well.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${sick.address},name=sick`,
    '--backend', `${well.address},name=well`,
    '--health-check', 'http:/healthz',
    ...FAST_CHECKS,
  ]);
  const down = await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'sick', 15_000);
  t.equal(down.reason, 'status 503');

  // its TCP port is open all along
  const direct = await connect(sick.port, sick.host);
  direct.destroy();

  const admin = lb.adminPort!;
  const s = await backendStats(admin, 'sick');
  t.equal(s.state, 'down');
  t.equal(s.check?.last, 'status 503', 'last check result in /stats');
  const w = await backendStats(admin, 'well');
  t.equal(w.state, 'up');
  const h = await getJson(admin, '/health');
  t.same(h.json, { status: 'ok', up: 1, total: 2 });

  // the probe is a real GET /healthz with Connection: close
  const probe = sick.requestLog.find((r) => r.url === '/healthz')!;
  t.ok(probe, 'sick saw the probe');
  t.equal(probe.method, 'GET');
  t.equal(probe.headers.connection, 'close');
  t.equal(probe.headers.host, sick.address);

  // traffic only to the healthy one
  const before = sick.requestLog.filter((r) => r.url !== '/healthz').length;
  for (let i = 0; i < 10; i++) {
    const r = await request(lb.ports[0]!, `/page/${i}`);
    t.equal(r.status, 200);
    t.equal(r.headers['x-backend'], 'well', `request ${i} served by well`);
  }
  t.equal(sick.requestLog.filter((r) => r.url !== '/healthz').length, before, 'sick got no client request');
  t.equal(lb.logsMatching((l) => l.msg === 'backend down' && l.backend === 'well').length, 0, 'well never went down');
  t.equal((await backendStats(admin, 'sick')).total, 0);
  t.equal((await backendStats(admin, 'well')).total, 10);
});

t.test('http probe: 3xx is healthy, 404 is not', async (t) => {
  const moved = await httpBackend('moved', { handler: handler('moved', 302) });
  const missing = await httpBackend('missing', { handler: handler('missing', 404) });
  t.teardown(() => moved.close());
  t.teardown(() => missing.close());
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${moved.address},name=moved`,
    '--backend', `${missing.address},name=missing`,
    '--health-check', 'http:/healthz',
    ...FAST_CHECKS,
  ]);
  const down = await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'missing', 15_000);
  t.equal(down.reason, 'status 404');
  // several check rounds later, moved is still up
  await moved.waitForRequests(4);
  t.equal((await backendStats(lb.adminPort!, 'moved')).state, 'up');
  t.equal(lb.logsMatching((l) => l.msg === 'backend down' && l.backend === 'moved').length, 0);
});
