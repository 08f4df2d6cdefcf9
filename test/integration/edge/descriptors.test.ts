/**
 * Running out of file descriptors is lb4's problem, never a backend's:
 *
 * - Under a low descriptor limit (prlimit, soft = hard, so nothing can raise
 *   it), a storm of 500 clients holding connections: lb4 serves as many as
 *   its descriptor ceiling allows and closes the rest at once, the admin API
 *   answers throughout, lb4 does not spin, it logs a rate-limited
 *   "out of file descriptors", and afterwards every backend is up with 0
 *   failures, no panic, and new clients are served.
 * - When the descriptors are gone anyway (test/fixtures/fd-hog.cjs takes
 *   them inside lb4): a backend connect failing with EMFILE closes the
 *   client (`no-backend`, no retry) without counting against the backend,
 *   and health checks failing with EMFILE give no verdict.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { echoBackend, httpBackend, type EchoBackend } from '../../helpers/backends.js';
import { connect, request } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { backendsUntouched, cpuMs, waitUntil } from '../../helpers/edge.js';

const HOG = fileURLToPath(new URL('../../fixtures/fd-hog.cjs', import.meta.url));
const LIMIT = 256;

async function echoes(t: Test, n: number): Promise<EchoBackend[]> {
  const out: EchoBackend[] = [];
  for (let i = 0; i < n; i++) {
    const b = await echoBackend();
    t.teardown(() => b.close());
    out.push(b);
  }
  return out;
}

/** A client through lb4 gets its line echoed. */
async function served(port: number, line: string): Promise<boolean> {
  const c = await connect(port, '127.0.0.1', { timeoutMs: 15_000 });
  try {
    c.write(`${line}\n`);
    return (await c.readLine(15_000)) === line;
  } finally {
    c.destroy();
  }
}

t.test(`a storm of 500 clients under a limit of ${LIMIT} descriptors`, async (t) => {
  const [a, b] = await echoes(t, 2);
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', a!.address, '--backend', b!.address, '--admin', '127.0.0.1:0', '--health-interval', '200ms'], {
    nofile: LIMIT,
    timeoutMs: 30_000,
  });
  const port = lb.ports[0]!;
  const pid = lb.proc.pid!;
  const before = (await getJson(lb.adminPort!, '/stats')).json;
  t.equal(before.descriptors?.limit, LIMIT, '/stats shows the descriptor limit');
  const ceiling: number = before.descriptors?.max_clients ?? 0;
  t.ok(ceiling > 0 && ceiling < 250, `a client ceiling derived from it (${ceiling})`);

  // 500 clients that each send a line and keep their connection
  const stormStart = Date.now();
  const clients: net.Socket[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  let echoed = 0;
  let closed = 0;
  await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      new Promise<void>((resolve) => {
        const c = net.connect({ port, host: '127.0.0.1' });
        clients.push(c);
        c.on('error', () => {});
        c.once('connect', () => c.write(`client ${i}\n`));
        c.once('data', () => {
          echoed++;
          resolve();
        });
        c.once('close', () => {
          closed++;
          resolve();
        });
      }),
    ),
  );
  t.equal(echoed + closed, 500, `every client was either served (${echoed}) or closed at once (${closed})`);
  t.ok(echoed >= ceiling * 0.9 && echoed <= ceiling, `about the ceiling were served (${echoed} of ${ceiling})`);

  // while they hold their connections: the admin API answers, lb4 does not spin
  const cpu0 = cpuMs(pid);
  const wall0 = Date.now();
  let answered = 0;
  while (answered < 5 || Date.now() - wall0 < 2000) {
    const r = await getJson(lb.adminPort!, '/stats', { timeoutMs: 10_000 });
    if (r.status !== 200 || r.json.connections.active !== echoed) t.fail(`/stats during the storm: ${r.status} ${r.body.slice(0, 200)}`);
    answered++;
    // more clients knocking meanwhile
    await Promise.all(
      Array.from({ length: 20 }, () =>
        new Promise<void>((resolve) => {
          const c = net.connect({ port, host: '127.0.0.1' });
          c.on('error', () => {});
          c.once('close', () => resolve());
          c.resume();
        }),
      ),
    );
  }
  t.pass(`/stats answered ${answered} times during the storm, with the ${echoed} clients held`);
  const cpu = cpuMs(pid) - cpu0;
  const wall = Date.now() - wall0;
  t.ok(cpu < wall * 0.8, `lb4 did not spin: ${cpu} ms of CPU in ${wall} ms`);
  const warn = await lb.waitForLog((l) => l.msg === 'out of file descriptors', 10_000);
  t.equal(warn.level, 40, 'a warning');
  const warnings = lb.logsMatching((l) => l.msg === 'out of file descriptors').length;
  const storm = Date.now() - stormStart;
  t.ok(warnings <= Math.ceil(storm / 1000) + 1, `rate-limited: ${warnings} lines in ${storm} ms, for ${500 - echoed + answered * 20} clients turned away`);

  // the storm's connections close: served again, nothing blamed on the backends
  for (const c of clients) c.destroy();
  await waitUntil(async () => (await getJson(lb.adminPort!, '/stats')).json.connections.active === 0, 30_000, 'the storm connections closed in lb4');
  for (let i = 0; i < 5; i++) t.ok(await served(port, `after ${i}`), `a new client is served (${i + 1})`);
  await backendsUntouched(t, lb);
});

t.test('a backend connect failing with EMFILE is not the backend\'s failure, nor retried', async (t) => {
  const [a, b] = await echoes(t, 2);
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', a!.address, '--backend', b!.address, '--admin', '127.0.0.1:0',
    '--health-check', 'off', '--max-fails', '1', '--retries', '2', '--access-log'], {
    nofile: LIMIT,
    timeoutMs: 30_000,
    // one descriptor left: enough to accept a client, not to connect to a backend
    env: { NODE_OPTIONS: `--require ${HOG}`, LB4_TEST_HOG_LEAVE: '1' },
  });
  const port = lb.ports[0]!;
  t.ok(await served(port, 'before'), 'served before');
  // that connection's descriptors must be closed before the hog counts what is left
  await waitUntil(async () => (await getJson(lb.adminPort!, '/stats')).json.connections.active === 0, 15_000, 'no connection open');
  const since = lb.logs.length;
  lb.kill('SIGUSR2');
  await lb.waitForLog((l) => l.msg === 'fd-hog' && l.held > 0, 15_000, since);

  for (let i = 0; i < 5; i++) {
    const from = lb.logs.length;
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('error', () => {});
    c.resume();
    await waitUntil(() => c.destroyed, 15_000, `client ${i + 1} closed by lb4`, () => lb.logs.slice(from));
    const l = await lb.waitForLog((x) => x.msg === 'connection', 15_000, from);
    t.equal(l.end, 'no-backend', `client ${i + 1} closed: no-backend`);
    t.equal(l.retries, 0, 'not retried on the other backend');
  }
  const warn = lb.logsMatching((l) => l.msg === 'out of file descriptors');
  t.ok(warn.length >= 1, 'warned: out of file descriptors');
  t.match(warn[0]?.reason, /EMFILE/);

  lb.kill('SIGUSR2');
  await lb.waitForLog((l) => l.msg === 'fd-hog' && l.held === 0, 15_000, since);
  t.ok(await served(port, 'after'), 'served again once descriptors are free');
  await backendsUntouched(t, lb);
});

t.test('l7: a backend connect failing with EMFILE is answered 503, not blamed on the backend', async (t) => {
  const a = await httpBackend('a');
  t.teardown(() => a.close());
  const lb = await withLb4(t, ['--mode', 'l7', '--listen', '127.0.0.1:0', '--backend', a.address, '--admin', '127.0.0.1:0',
    '--health-check', 'off', '--max-fails', '1', '--access-log'], {
    nofile: LIMIT,
    timeoutMs: 30_000,
    env: { NODE_OPTIONS: `--require ${HOG}`, LB4_TEST_HOG_LEAVE: '1' },
  });
  const port = lb.ports[0]!;
  const since = lb.logs.length;
  lb.kill('SIGUSR2');
  await lb.waitForLog((l) => l.msg === 'fd-hog' && l.held > 0, 15_000, since);
  for (let i = 0; i < 3; i++) {
    const from = lb.logs.length;
    const r = await request(port, `/x${i}`, { timeoutMs: 15_000, headers: { connection: 'close' } });
    t.equal(r.status, 503, `request ${i + 1}: 503`);
    // its descriptor is free again once lb4 has logged the connection's end
    t.equal((await lb.waitForLog((x) => x.msg === 'connection', 15_000, from)).end, 'no-backend');
  }
  t.equal(a.requests, 0, 'nothing reached the backend');
  lb.kill('SIGUSR2');
  await lb.waitForLog((l) => l.msg === 'fd-hog' && l.held === 0, 15_000, since);
  t.equal((await request(port, '/after', { timeoutMs: 15_000 })).status, 200, 'served again once descriptors are free');
  await backendsUntouched(t, lb);
});

t.test('a health check failing with EMFILE gives no verdict', async (t) => {
  const [a] = await echoes(t, 1);
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', a!.address, '--admin', '127.0.0.1:0',
    '--health-interval', '50ms', '--fall', '1', '--log-level', 'debug'], {
    nofile: LIMIT,
    timeoutMs: 30_000,
    env: { NODE_OPTIONS: `--require ${HOG}`, LB4_TEST_HOG_LEAVE: '0' },
  });
  const since = lb.logs.length;
  lb.kill('SIGUSR2');
  await lb.waitForLog((l) => l.msg === 'fd-hog' && l.held > 0, 15_000, since);
  // several checks fail for want of descriptors, each of which would take the backend down (--fall 1)
  const inconclusive = () => lb.logsMatching((l) => l.msg === 'health check inconclusive');
  await waitUntil(() => inconclusive().length >= 5 || lb.logsMatching((l) => l.msg === 'backend down').length > 0, 30_000, '5 checks');
  t.match(inconclusive()[0]?.reason, /EMFILE/, 'logged (debug) as inconclusive');
  lb.kill('SIGUSR2');
  await lb.waitForLog((l) => l.msg === 'fd-hog' && l.held === 0, 15_000, since);
  t.ok(await served(lb.ports[0]!, 'after'), 'served');
  await backendsUntouched(t, lb);
});
