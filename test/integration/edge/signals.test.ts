/**
 * SIGTERM, SIGINT, SIGQUIT and SIGUSR1 all stop lb4 the same way: the
 * listeners close (new connects are refused), open connections finish
 * (--drain-timeout), /health answers `draining` meanwhile, then exit 0. No
 * signal opens Node's inspector (SIGUSR1 would by default, on 127.0.0.1:9229)
 * or ends lb4 without the drain; only a second SIGTERM/SIGINT cuts the drain
 * short. The same holds for a --workers primary and for each worker.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { echoBackend, type EchoBackend } from '../../helpers/backends.js';
import { connect, type TestSocket } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { isListening, waitUntil } from '../../helpers/edge.js';

const INSPECTOR_PORT = 9229;

/** pids of processes listening on the inspector port (`ss -p`), as far as they are visible. */
function inspectorOwners(): number[] {
  const out = execFileSync('ss', ['-Hltnp', 'sport', '=', `:${INSPECTOR_PORT}`], { encoding: 'utf8' });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

/** Neither lb4 (nor any of `pids`) has opened Node's inspector. */
async function noInspector(t: Test, lb: Lb4Process, pids: number[], wasListening: boolean): Promise<void> {
  t.notMatch(lb.stderr, /Debugger listening/, 'no inspector announced on stderr');
  for (const pid of pids) t.notOk(inspectorOwners().includes(pid), `pid ${pid} does not listen on ${INSPECTOR_PORT}`);
  if (!wasListening) t.equal(await isListening(INSPECTOR_PORT), false, `nothing listens on 127.0.0.1:${INSPECTOR_PORT}`);
}

async function echoed(c: TestSocket, line: string): Promise<boolean> {
  c.write(`${line}\n`);
  return (await c.readLine(15_000)) === line;
}

let echo: EchoBackend;
t.before(async () => {
  echo = await echoBackend();
});
t.teardown(() => echo.close());

for (const signal of ['SIGUSR1', 'SIGQUIT', 'SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal}: listeners closed, open connections drained, exit 0`, async (t) => {
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0', '--drain-timeout', '60s'], { timeoutMs: 30_000 });
    const port = lb.ports[0]!;
    const c = await connect(port, '127.0.0.1', { timeoutMs: 15_000 });
    t.teardown(() => c.destroy());
    t.ok(await echoed(c, 'before'), 'a tunnel is open');
    const inspectorBefore = await isListening(INSPECTOR_PORT);

    lb.kill(signal);
    await lb.waitForLog((l) => l.msg === 'shutting down' && l.signal === signal, 15_000);
    await waitUntil(async () => !(await isListening(port)), 15_000, 'the listener closed');
    t.pass('new connects are refused');
    const h = await getJson(lb.adminPort!, '/health', { timeoutMs: 15_000 });
    t.equal(h.status, 503, '/health answers 503 during the drain');
    t.equal(h.json?.status, 'draining');
    if (signal === 'SIGUSR1' || signal === 'SIGQUIT') {
      // a second one does not cut the drain short
      lb.kill(signal);
      await lb.waitForLog((l) => l.msg === 'already draining' && l.signal === signal, 15_000);
    }
    t.ok(await echoed(c, 'during the drain'), 'the open connection still works');
    t.equal(lb.hasExited, false, 'lb4 waits for it');
    await noInspector(t, lb, [lb.proc.pid!], inspectorBefore);

    c.end();
    const exit = await Promise.race([lb.exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    t.same(exit, { code: 0, signal: null }, 'exit 0 once the connection finished');
  });
}

t.test('a second SIGTERM cuts the drain short (exit 0)', async (t) => {
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--drain-timeout', '60s'], { timeoutMs: 30_000 });
  const c = await connect(lb.ports[0]!, '127.0.0.1', { timeoutMs: 15_000 });
  t.teardown(() => c.destroy());
  t.ok(await echoed(c, 'x'));
  lb.kill('SIGUSR1');
  await lb.waitForLog((l) => l.msg === 'draining', 15_000);
  lb.kill('SIGTERM');
  const exit = await Promise.race([lb.exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
  t.same(exit, { code: 0, signal: null });
});

t.test('--workers: SIGUSR1 and SIGQUIT drain the primary and its workers, and a worker on its own', async (t) => {
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', echo.address, '--health-check', 'off', '--admin', '127.0.0.1:0', '--drain-timeout', '60s', '--workers', '2'], { timeoutMs: 60_000 });
  const port = lb.ports[0]!;
  const stats = async () => (await getJson(lb.adminPort!, '/stats', { timeoutMs: 15_000 })).json;
  const workers: Array<{ id: number; pid: number }> = (await stats()).workers;
  const inspectorBefore = await isListening(INSPECTOR_PORT);

  // a worker signalled on its own drains and exits 0 (not killed by the signal); the primary replaces it
  // (one at a time: with port 0, the port lasts only while some worker holds it)
  for (const [i, signal] of (['SIGUSR1', 'SIGQUIT'] as const).entries()) {
    const w = workers[i]!;
    process.kill(w.pid, signal);
    const exited = await lb.waitForLog((l) => l.msg === 'worker exited' && l.worker_pid === w.pid, 30_000);
    t.equal(exited.code, 0, `worker ${w.id}: ${signal} → exit 0`);
    t.equal(exited.signal, null, 'not killed by the signal');
    await waitUntil(async () => (await stats()).workers.every((x: { state: string; pid: number }) => x.state === 'listening' && x.pid !== w.pid), 60_000, `worker ${w.id} replaced`);
  }
  const now: Array<{ pid: number }> = (await stats()).workers;

  const c = await connect(port, '127.0.0.1', { timeoutMs: 15_000 });
  t.teardown(() => c.destroy());
  t.ok(await echoed(c, 'before'), 'a tunnel through a worker');
  lb.kill('SIGUSR1');
  await lb.waitForLog((l) => l.msg === 'shutting down' && l.signal === 'SIGUSR1', 15_000);
  // SIGUSR1 sent to a draining worker as well: still no inspector, still draining
  for (const w of now) process.kill(w.pid, 'SIGUSR1');
  await waitUntil(async () => !(await isListening(port)), 30_000, 'the listeners closed');
  t.pass('new connects are refused');
  t.ok(await echoed(c, 'during the drain'), 'the open connection still works');
  await noInspector(t, lb, [lb.proc.pid!, ...workers.map((w) => w.pid), ...now.map((w) => w.pid)], inspectorBefore);
  c.end();
  const exit = await Promise.race([lb.exited, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
  t.same(exit, { code: 0, signal: null }, 'exit 0 once the connection finished');
  for (const w of now) {
    const l = lb.logsMatching((x) => x.msg === 'worker exited' && x.worker_pid === w.pid)[0];
    t.equal(l?.code, 0, `worker ${w.pid} exited 0`);
  }
});
