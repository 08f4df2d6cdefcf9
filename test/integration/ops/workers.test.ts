/**
 * `--workers N` through `bin/lb4` (issue 5 "Multi-core", docs/reference.md):
 * start-up lines printed once by the primary; connections spread over the
 * workers; /stats sums them (and gives per-worker numbers); health checks
 * run once in the primary and reach every worker; admin actions and SIGHUP
 * reach every worker; a killed worker is logged and replaced while the
 * listener keeps serving; SIGTERM drains every worker and exits 0.
 */
import t from 'tap';
import net from 'node:net';
import { join } from 'node:path';
import { getJson, post } from '../../helpers/admin.js';
import { nameOf, tracked, within } from '../../helpers/l4-e2e.js';
import { runLb4, withLb4 } from '../../helpers/lb4.js';
import { backends, backendOf, entry, sleep, stats, statsUntil, tempDir, writeConfig, type Host, type Json } from '../../helpers/ops.js';

/** `n` connections, `batch` at a time; returns the names served. */
async function burst(port: number, n: number, batch: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    out.push(...(await Promise.all(Array.from({ length: k }, () => nameOf(port)))));
  }
  return out;
}

/** One connection: the backend's name, or null when it failed or timed out. */
async function tryName(port: number, ms: number): Promise<string | null> {
  try {
    return await within(nameOf(port), ms, 'a connection');
  } catch {
    return null;
  }
}

const count = (names: string[]): Record<string, number> => {
  const o: Record<string, number> = {};
  for (const n of names) o[n] = (o[n] ?? 0) + 1;
  return o;
};

const TOKEN = 'workers-test-token';

t.test('two workers: spread, sums, per-worker numbers, admin actions, health', async (t) => {
  const [a, b] = await backends(t, 'a', 'b');
  const lb = await withLb4(t, [
    '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', TOKEN,
    '--backend', `${a!.address},name=a`, '--backend', `${b!.address},name=b`,
    '--health-interval', '100ms', '--health-timeout', '200ms', '--fall', '2', '--rise', '2',
  ]);
  const port = lb.ports[0]!;
  await sleep(200); // an observation window: no second start-up line comes
  t.equal(lb.logsMatching((l) => l.msg === 'listening').length, 1, 'one `listening` line for one listener');
  t.equal(lb.logsMatching((l) => l.msg === 'admin listening').length, 1, 'one `admin listening` line');
  for (const l of lb.logsMatching((l) => l.msg === 'listening' || l.msg === 'admin listening')) t.equal(l.pid, lb.proc.pid, `${l.msg} printed by the primary`);
  t.not(port, 0, 'the real port');

  const names = await burst(port, 100, 10);
  t.equal(names.length, 100);
  const c = count(names);
  t.ok(c.a! >= 40 && c.b! >= 40, `both backends served (${JSON.stringify(c)}; each worker round-robins on its own)`);

  const s = await stats(lb.adminPort!);
  t.equal(s.connections.total, 100, '/stats sums the workers: 100 connections');
  t.equal(s.connections.active, 0);
  t.equal(backendOf(s, 'a').total + backendOf(s, 'b').total, 100, 'backend totals sum to 100');
  t.equal(s.workers.length, 2, 'a `workers` array');
  const pids = new Set<number>(s.workers.map((w: Json) => w.pid));
  t.equal(pids.size, 2, 'two worker pids');
  t.notOk(pids.has(lb.proc.pid!), 'workers are not the primary');
  let sum = 0;
  for (const w of s.workers) {
    t.ok(w.connections.total > 0, `worker ${w.id} got ${w.connections.total} connections`);
    sum += w.connections.total;
    const one = await stats(lb.adminPort!, `?worker=${w.id}`);
    t.equal(one.worker, w.id);
    t.equal(one.pid, w.pid);
    t.equal(one.connections.total, w.connections.total, `/stats?worker=${w.id} agrees`);
    t.ok(one.connections.total > 0, `worker ${w.id} total > 0 in its own document`);
  }
  t.equal(sum, 100, 'per-worker totals sum to 100');
  t.equal((await getJson(lb.adminPort!, '/stats?worker=9')).status, 404, 'unknown worker: 404');

  const m = await getJson(lb.adminPort!, '/metrics');
  t.match(m.body, /^lb4_connections_total 100$/m, '/metrics shows the sum');
  t.equal((await getJson(lb.adminPort!, '/health')).json.status, 'ok');
  t.equal((await getJson(lb.adminPort!, '/config')).json.workers, 2, '/config shows workers');

  // a drain reaches every worker
  const d = await post(lb.adminPort!, '/backends/a/drain', TOKEN);
  t.equal(d.status, 200);
  t.same(count(await burst(port, 20, 5)), { b: 20 }, 'after drain, every worker sends to b only');
  for (const id of [1, 2]) t.equal(backendOf(await stats(lb.adminPort!, `?worker=${id}`), 'a').state, 'draining', `worker ${id} drains a`);
  t.equal((await post(lb.adminPort!, '/backends/a/enable', TOKEN)).status, 200);

  // active checks run once, in the primary, and reach the workers
  await a!.close();
  await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'a', 15_000);
  // every worker learns the verdict (over IPC)
  for (const id of [1, 2]) {
    await statsUntil(lb.adminPort!, (s) => backendOf(s, 'a').state === 'down', 30_000, `worker ${id} knows a is down`, `?worker=${id}`);
    t.pass(`worker ${id} knows a is down`);
  }
  const downs = lb.logsMatching((l) => l.msg === 'backend down' && l.backend === 'a');
  t.equal(downs.length, 1, 'one `backend down` line');
  t.equal(downs[0]!.pid, lb.proc.pid, 'from the primary');
  t.same(count(await burst(port, 10, 5)), { b: 10 }, 'no worker tries the down backend');
  t.equal(backendOf(await stats(lb.adminPort!), 'a').failures, 0, 'no failed connects: the workers knew before trying');
});

t.test('SIGHUP reloads every worker', async (t) => {
  const [a, b] = await backends(t, 'a', 'b');
  const file = join(tempDir(t), 'lb4.yaml');
  writeConfig(file, ['listen: 127.0.0.1:0', 'healthCheck: off', 'workers: 2', 'backends:', entry('a', a!.address)]);
  const lb = await withLb4(t, ['--config', file, '--admin', '127.0.0.1:0']);
  const port = lb.ports[0]!;
  t.same(count(await burst(port, 10, 5)), { a: 10 });
  writeConfig(file, ['listen: 127.0.0.1:0', 'healthCheck: off', 'workers: 3', 'strategy: weighted-round-robin', 'backends:', entry('a', a!.address, 0), entry('b', b!.address)]);
  const since = lb.logs.length;
  lb.kill('SIGHUP');
  let n = 0;
  await lb.waitForLog((l) => l.msg === 'config reloaded' && l.worker !== undefined && ++n >= 2, 15_000, since);
  await lb.waitForLog((l) => l.msg === 'config reloaded' && l.worker === undefined, 15_000, since);
  const primary = lb.logs.slice(since).filter((l) => l.msg === 'config reloaded' && l.worker === undefined);
  t.equal(primary.length, 1, 'the primary reloaded once');
  t.same(
    lb.logs.slice(since).filter((l) => l.msg === 'config change needs restart').map((l) => [l.setting, l.pid]),
    [['workers', lb.proc.pid]],
    'a workers change needs a restart, logged once by the primary',
  );
  t.same(count(await burst(port, 10, 5)), { b: 10 }, 'every worker follows the new file');
  const s = await stats(lb.adminPort!);
  t.equal(s.strategy, 'weighted-round-robin');
  t.equal(s.workers.length, 2, 'still two workers');

  // a removed backend drains in the worker that carries it, and /stats shows it
  const long = await tracked(t, port);
  t.equal(await long.readLine(), 'b');
  writeConfig(file, ['listen: 127.0.0.1:0', 'healthCheck: off', 'workers: 2', 'backends:', entry('a', a!.address)]);
  const since2 = lb.logs.length;
  lb.kill('SIGHUP');
  await lb.waitForLog((l) => l.msg === 'config reloaded' && l.worker === undefined, 15_000, since2);
  const d = await statsUntil(lb.adminPort!, (x) => backendOf(x, 'b')?.state === 'draining', 3000, 'b draining');
  t.equal(backendOf(d, 'b').active, 1, 'b is draining with its one tunnel');
  long.write('ping\n');
  t.equal(await long.readLine(), 'ping', 'the tunnel survives the reload');
  t.same(count(await burst(port, 6, 3)), { a: 6 }, 'new connections go to a');
  long.end();
  await long.waitClose();
  const gone = await statsUntil(lb.adminPort!, (x) => backendOf(x, 'b') === undefined, 5000, 'b to leave /stats');
  t.same(gone.backends.map((x: Json) => x.name), ['a'], 'b disappears after its last connection');
});

t.test('a killed worker is replaced and the listener keeps serving', async (t) => {
  const [a] = await backends(t, 'a');
  const lb = await withLb4(t, ['--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--health-check', 'off']);
  const port = lb.ports[0]!;
  t.equal((await burst(port, 20, 5)).length, 20);
  const before = await stats(lb.adminPort!);
  t.equal(before.connections.total, 20);
  const victim = before.workers[0];
  const other = before.workers[1];

  // traffic during the crash and the restart
  // A connection that node:cluster's primary had handed to the worker at
  // the instant of the SIGKILL is lost (README "Operating lb4"): allow one
  // or two, with a short client timeout.
  let served = 0;
  let lost = 0;
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      if ((await tryName(port, 5000)) === 'a') served++;
      else lost++;
    }
  })();
  process.kill(victim.pid, 'SIGKILL');
  const exited = await lb.waitForLog((l) => l.msg === 'worker exited' && l.worker === victim.id, 15_000);
  t.equal(exited.signal, 'SIGKILL', '`worker exited` names the signal');
  t.equal(exited.code, null);
  t.equal(exited.level, 40, 'logged as a warning');
  await lb.waitForLog((l) => l.msg === 'worker listening' && l.worker === victim.id, 15_000);
  const end = Date.now() + 30_000;
  while (served < 5 && Date.now() < end) await sleep(50); // the traffic loop runs meanwhile: a poll, bounded
  stop = true;
  await within(traffic, 30_000, 'the traffic loop');
  t.ok(served > 0, `${served} connections served during the crash and restart`);
  t.ok(lost <= 2, `at most the connections in flight to the killed worker were lost (${lost})`);

  const after = await statsUntil(lb.adminPort!, (s) => s.workers.every((w: Json) => w.state === 'listening'), 30_000, 'both workers listening');
  const replaced = after.workers.find((w: Json) => w.id === victim.id);
  t.not(replaced.pid, victim.pid, 'a new process under the same id');
  t.equal(replaced.restarts, 1);
  t.equal(after.workers.find((w: Json) => w.id === other.id).pid, other.pid, 'the other worker untouched');
  t.ok(after.connections.total >= 20 + served, `totals do not go backwards (${after.connections.total})`);
  t.equal((await burst(port, 20, 10)).length, 20, 'serving with the replacement');
  const fresh = await stats(lb.adminPort!, `?worker=${victim.id}`);
  t.equal(fresh.pid, replaced.pid);

  // dying again within the minute: the restart backs off
  const since = lb.logs.length;
  process.kill(replaced.pid, 'SIGKILL');
  const again = await lb.waitForLog((l) => l.msg === 'worker exited' && l.worker === victim.id, 15_000, since);
  t.equal(again.restart_in_ms, 250, 'the second exit within a minute waits 250 ms');
  t.equal(exited.restart_in_ms, 0, 'the first was replaced at once');
  await lb.waitForLog((l) => l.msg === 'worker listening' && l.worker === victim.id, 15_000, since);
  t.equal((await burst(port, 10, 5)).length, 10, 'serving after the second restart');
});

t.test('SIGTERM drains every worker and exits 0', async (t) => {
  const [a] = await backends(t, 'a');
  const lb = await withLb4(t, ['--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--health-check', 'off', '--drain-timeout', '10s']);
  const port = lb.ports[0]!;
  // two long tunnels, one per worker (round robin over the workers)
  const c1 = await tracked(t, port);
  const c2 = await tracked(t, port);
  t.equal(await c1.readLine(), 'a');
  t.equal(await c2.readLine(), 'a');
  const s = await stats(lb.adminPort!);
  t.same(s.workers.map((w: Json) => w.connections.active), [1, 1], 'one tunnel in each worker');

  lb.kill('SIGTERM');
  await lb.waitForLog((l) => l.msg === 'draining' && l.worker === undefined, 15_000);
  let n = 0;
  await lb.waitForLog((l) => l.msg === 'draining' && l.worker !== undefined && ++n >= 2, 15_000);
  const h = await getJson(lb.adminPort!, '/health');
  t.equal(h.status, 503);
  t.equal(h.json.status, 'draining', '/health answers draining');
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', () => resolve(true));
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
  });
  t.ok(refused, 'new connects are refused');
  for (const c of [c1, c2]) {
    c.write('still here\n');
    t.equal(await c.readLine(), 'still here', 'open tunnels keep working during the drain');
  }
  t.notOk(lb.hasExited, 'waits for the open tunnels');
  c1.end();
  c2.end();
  const exit = await within(lb.exited, 30_000, 'the exit');
  t.same(exit, { code: 0, signal: null }, 'exit 0 once every worker has drained');
  t.equal(lb.logsMatching((l) => l.msg === 'worker exited').length, 2, 'both workers exited');
  t.equal(lb.logsMatching((l) => l.msg === 'connection' && l.end === 'shutdown').length, 0, 'nothing cut');
});

t.test('a worker that cannot listen fails the start: exit 1', async (t) => {
  const [a] = await backends(t, 'a');
  const r = await runLb4(['--workers', '2', '--listen', a!.address, '--backend', a!.address], { timeoutMs: 60_000 });
  t.equal(r.code, 1, `exit 1 (${r.stderr})`);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
  t.match(r.stderr, /EADDRINUSE/);
  t.notMatch(r.stdout, /"msg":"listening"/, 'no start-up line');
});

t.test('--workers values', async (t) => {
  const bad = await runLb4(['check', '--backend', '127.0.0.1:1', '--workers', '0']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--workers/);
  const auto = await runLb4(['check', '--backend', '127.0.0.1:1', '--workers', 'auto']);
  t.equal(auto.code, 0, 'auto is accepted');
  const env = await runLb4(['check', '--backend', '127.0.0.1:1'], { env: { LB_WORKERS: 'x' } });
  t.equal(env.code, 2);
  t.match(env.stderr, /LB_WORKERS/);
});
