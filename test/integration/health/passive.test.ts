/**
 * The passive circuit alone (`--health-check off`, README "Health and failover"):
 * `--max-fails` consecutive failed connects on real traffic take a backend
 * out for `--fail-timeout`; while out it gets no connect attempt; then one
 * trial connection decides (a failed trial keeps it out, for twice as long);
 * once it listens again the trial succeeds and it is `up`.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { closedPort, namedBackend } from '../../helpers/backends.js';
import { connect } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { getJson } from '../../helpers/admin.js';
import { backendStats, count, hit, relisten, sleep, stopServer, waitForStats } from './_util.js';

const FAIL_TIMEOUT = 500;

t.test('passive only: ejected after max-fails, half-open trial after fail-timeout, back up', async (t) => {
  const a = await namedBackend('a');
  // d is dead from the start; it listens on its port again later (outside the
  // ephemeral range, so that nobody else's port-0 listener takes it meanwhile)
  const d = await namedBackend('d', await closedPort());
  t.teardown(() => stopServer(a));
  t.teardown(() => stopServer(d));
  await d.close();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${d.address},name=d`,
    '--backend', `${a.address},name=a`,
    '--health-check', 'off',
    '--max-fails', '2',
    '--fail-timeout', `${FAIL_TIMEOUT}ms`,
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;
  t.equal((await backendStats(admin, 'd')).state, 'up', 'up at start: no active checks to say otherwise');

  // steady client traffic in the background, every connection must be served
  const served: Array<string | null> = [];
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      served.push(await hit(port));
      await sleep(20);
    }
  })();
  t.teardown(async () => {
    stop = true;
    await traffic;
  });

  const down = await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'd', 15_000);
  const downSeen = Date.now();
  t.match(down.reason, /^2 failed connects/, `reason: ${down.reason}`);
  t.match(down.reason, /ECONNREFUSED|refused/i);
  let st = await backendStats(admin, 'd');
  t.equal(st.state, 'down');
  t.equal(st.circuit, 'open');
  t.equal(st.failures, 2, 'exactly max-fails failed connects');
  t.equal(st.total, 0);
  t.same((await getJson(admin, '/health')).json, { status: 'ok', up: 1, total: 2 });

  // open: no connect attempts (failures do not grow) during the fail timeout
  await sleep(FAIL_TIMEOUT - 200);
  st = await backendStats(admin, 'd');
  if (Date.now() - down.time < FAIL_TIMEOUT - 10) {
    t.equal(st.failures, 2, `no attempt while open (${served.length} connections so far)`);
    t.equal(st.circuit, 'open');
  } else {
    t.comment('machine too slow to look inside the fail timeout');
  }

  // half-open after the fail timeout: exactly one trial, which fails (still dead)
  st = await waitForStats(admin, 'd', (b) => b.failures >= 3, 15_000);
  const trialSeen = Date.now();
  t.comment(`first trial ${trialSeen - down.time} ms after the circuit opened (fail timeout ${FAIL_TIMEOUT} ms)`);
  t.ok(trialSeen - down.time >= FAIL_TIMEOUT - 20, 'tried again only after the fail timeout');
  t.equal(st.failures, 3, 'one trial');
  t.equal(st.state, 'down', 'a failed trial keeps it down');
  t.equal(lb.logsMatching((l) => l.msg === 'backend up').length, 0);

  // it listens again while the circuit is open (timeout doubled to 2 x fail-timeout):
  // it gets no connection until the next trial
  await relisten(d);
  const acceptedAtRelisten = d.accepted;
  await sleep(FAIL_TIMEOUT + 100); // < 2 x FAIL_TIMEOUT after the failed trial
  st = await backendStats(admin, 'd');
  // trialSeen is when this process saw the trial, maybe long after it on a
  // loaded machine; a circuit still open now was open throughout (a trial
  // meanwhile would have reached the listening d and closed it)
  if (Date.now() - trialSeen < 2 * FAIL_TIMEOUT - 50 && st.circuit === 'open') {
    t.equal(d.accepted, acceptedAtRelisten, 'no connection reached d while the circuit was open');
    t.equal(st.failures, 3, 'no further attempt');
  } else {
    t.comment('machine too slow to check the doubled timeout window');
  }

  // the next trial succeeds: up again
  const up = await lb.waitForLog((l) => l.msg === 'backend up' && l.backend === 'd', 15_000);
  t.comment(`back up ${up.time - down.time} ms after the circuit opened`);
  // opened at down.time, half-open at +FAIL_TIMEOUT, failed trial reopened it for 2 x FAIL_TIMEOUT
  t.ok(up.time - down.time >= 3 * FAIL_TIMEOUT - 5, 'second trial only after the doubled timeout');
  t.equal(up.reason, 'trial connection succeeded');
  st = await waitForStats(admin, 'd', (b) => b.state === 'up', 15_000);
  t.equal(st.circuit, 'closed');
  t.equal(st.failures, 3);
  const n0 = served.length;
  await waitForStats(admin, 'd', (b) => b.total >= 3, 15_000);
  stop = true;
  await traffic;
  t.ok(count(served.slice(n0), 'd') >= 2, 'd gets traffic again');
  t.equal(count(served, null), 0, `every client was served (${served.length} connections)`);
  t.equal(lb.logsMatching((l) => l.msg === 'backend down' && l.backend === 'd').length, 1, 'one down transition');
  t.equal(lb.logsMatching((l) => l.msg === 'panic').length, 0);
});

t.test('passive: max-fails 0 never ejects', async (t) => {
  const a = await namedBackend('a');
  const d = await namedBackend('d');
  t.teardown(() => a.close());
  await d.close();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `${d.address},name=d`,
    '--backend', `${a.address},name=a`,
    '--health-check', 'off',
    '--max-fails', '0',
  ]);
  for (let i = 0; i < 8; i++) t.equal(await hit(lb.ports[0]!), 'a');
  const st = await backendStats(lb.adminPort!, 'd');
  t.equal(st.state, 'up');
  t.ok(st.failures >= 4, `failures counted (${st.failures})`);
  t.equal(lb.logsMatching((l) => l.msg === 'backend down').length, 0);
});

/**
 * A TCP port that accepts the handshake of the first connections (into a
 * backlog nobody drains) and then drops SYNs, so later connects hang: a
 * child process listens with backlog 1 and blocks its event loop.
 */
async function blackhole(t: Test, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').createServer();
       s.listen({ port: ${port}, host: '127.0.0.1', backlog: 1 }, () => {
         // 'ready' is written (synchronously: stdout is a pipe) before the loop blocks
         console.log('ready');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await once(child.stdout!, 'data');
  // fill the accept queue until a connect hangs
  for (let i = 0; i < 8; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    t.teardown(() => s.destroy());
    const r = await Promise.race([once(s, 'connect').then(() => 'connected'), sleep(1000).then(() => 'pending')]);
    if (r === 'pending') return child;
  }
  throw new Error('could not fill the accept queue');
}

t.test('passive: a trial whose client leaves mid-connect does not keep the backend out for good', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const dport = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0',
    '--backend', `127.0.0.1:${dport},name=d`,
    '--backend', `${a.address},name=a`,
    '--health-check', 'off',
    '--max-fails', '1',
    '--fail-timeout', '300ms',
    '--connect-timeout', '10s',
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;
  t.equal(await hit(port), 'a', 'd refused, retried on a');
  await lb.waitForLog((l) => l.msg === 'backend down' && l.backend === 'd', 15_000);

  // d now hangs on connect; after the fail timeout a client becomes its trial
  const child = await blackhole(t, dport);
  // after the fail timeout the circuit is half-open: the next client is its trial
  await waitForStats(admin, 'd', (b) => b.circuit === 'half-open');
  const c = await connect(port);
  await waitForStats(admin, 'd', (b) => b.active === 1, 15_000); // the trial connect is in flight
  c.resetAndDestroy(); // the client leaves before the trial is decided
  await waitForStats(admin, 'd', (b) => b.active === 0, 15_000);

  // d comes back for real: the next trial must happen and succeed
  child.kill('SIGKILL');
  await once(child, 'exit');
  const dSockets = new Set<net.Socket>();
  const d = net.createServer((s) => {
    dSockets.add(s);
    s.on('close', () => dSockets.delete(s));
    s.on('error', () => {});
    s.end('d\n');
  });
  d.listen(dport, '127.0.0.1');
  await once(d, 'listening');
  t.teardown(
    () =>
      new Promise<void>((r) => {
        // (a SYN of the queue filler left pending may have landed here)
        for (const s of dSockets) s.destroy();
        d.close(() => r());
      }),
  );
  const served: Array<string | null> = [];
  const end = Date.now() + 15_000;
  while (Date.now() < end && !served.includes('d')) {
    served.push(await hit(port));
    await sleep(20);
  }
  t.ok(served.includes('d'), `d is tried again and serves (${served.length} connections after it came back)`);
  await lb.waitForLog((l) => l.msg === 'backend up' && l.backend === 'd', 15_000);
  t.equal((await backendStats(admin, 'd')).state, 'up');
});
