/**
 * The native relay as an operator meets it, through bin/lb4:
 * - the start-up lines `"msg":"file descriptor limit"` (soft/hard, as the
 *   process really runs) and `"msg":"l4 relay"` (native, or js and why),
 *   through the logger (gone at --log-level warn);
 * - LB4_RELAY_PIPE_SIZE: a splice pipe the kernel gives smaller than 64 KiB
 *   is refused and the direction keeps copying, bytes intact (what happens
 *   past /proc/sys/fs/pipe-user-pages-soft); a bad value exits 2;
 * - the relay thread failing (epoll_wait, through a preloaded fault):
 *   logged at error, its tunnel reset on both sides and logged, new tunnels
 *   in JavaScript, /stats saying so, lb4 serving on;
 * - --workers 2: each worker runs its own relay, the primary none (no
 *   lb4-relay thread), and /stats `relay` is the workers' sum with each
 *   worker's own in `workers`.
 */
import t from 'tap';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { echoBackend } from '../../helpers/backends.js';
import { getJson } from '../../helpers/admin.js';
import { runLb4, withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { tracked, waitAccess, within } from '../../helpers/l4-e2e.js';

const linux = process.platform === 'linux';

/** The soft and hard RLIMIT_NOFILE of a process, as /proc says. */
function nofile(pid: number): [string, string] {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))!;
  return [m[1]!, m[2]!];
}

/** Thread names of a process. */
function threads(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  });
}

async function relayOf(lb: Lb4Process): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return (await getJson(lb.adminPort!, '/stats')).json.relay;
}

async function waitRelay(lb: Lb4Process, pred: (r: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const end = Date.now() + 10_000;
  for (;;) {
    const r = await relayOf(lb);
    if (pred(r)) return r;
    if (Date.now() > end) throw new Error(`${what}: /stats relay is ${JSON.stringify(r)} after 10 s`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Echo `size` random bytes through lb4 on one connection; returns true when they came back intact. */
async function echoThrough(t: Parameters<typeof tracked>[0], port: number, size: number): Promise<boolean> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  t.teardown(() => sock.destroy());
  await once(sock, 'connect');
  const back = createHash('sha256');
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      back.update(d);
      received += d.length;
    });
    sock.once('end', resolve);
    sock.once('error', reject);
  });
  const sent = createHash('sha256');
  for (let n = 0; n < size; ) {
    const b = randomBytes(Math.min(size - n, 65536));
    sent.update(b);
    n += b.length;
    if (!sock.write(b)) await once(sock, 'drain');
  }
  sock.end();
  await within(done, 30_000, `echo of ${size} bytes`);
  return received === size && back.digest('hex') === sent.digest('hex');
}

t.test('start-up lines: file descriptor limit and l4 relay', { skip: linux ? false : 'Linux only' }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const args = ['--listen', '127.0.0.1:0', '--health-check', 'off', '--backend', echo.address];

  const lb = await withLb4(t, args);
  const fd = await lb.waitForLog((l) => l.msg === 'file descriptor limit');
  t.equal(fd.level, 30, 'file descriptor limit: info');
  const [soft, hard] = nofile(lb.proc.pid!);
  t.equal(String(fd.soft), soft, `soft ${fd.soft}, as /proc/PID/limits says`);
  t.equal(String(fd.hard), hard, `hard ${fd.hard}, as /proc/PID/limits says`);
  t.equal(fd.soft, fd.hard, 'raised to the hard limit');
  const relay = await lb.waitForLog((l) => l.msg === 'l4 relay');
  t.equal(relay.level, 30, 'l4 relay: info');
  t.equal(relay.mode, 'native', 'native where the addon is built');
  t.equal(relay.reason, undefined, 'no reason when native');
  t.notOk(threads(lb.proc.pid!).includes('lb4-relay'), 'no relay thread before the first tunnel');

  // make test-native-asan: the rest never loads the sanitizer build (or only fails to)
  if (process.env.LB4_TEST_LD_PRELOAD) return;

  const off = await withLb4(t, args, { env: { LB4_RELAY: 'js' } });
  t.match(await off.waitForLog((l) => l.msg === 'l4 relay'), { mode: 'js', reason: 'turned off (LB4_RELAY=js)' }, 'LB4_RELAY=js: js, and why');

  const missing = await withLb4(t, args, { env: { LB4_RELAY_ADDON: '/nonexistent/lb4_relay.node' } });
  t.match(await missing.waitForLog((l) => l.msg === 'l4 relay'), { mode: 'js', reason: /^cannot load \/nonexistent\/lb4_relay.node/ }, 'no addon: js, and why');
  const fd2 = await missing.waitForLog((l) => l.msg === 'file descriptor limit');
  t.equal(String(fd2.hard), nofile(missing.proc.pid!)[1], 'without the addon: the limit read from /proc/self/limits');

  const l7 = await withLb4(t, ['--mode', 'l7', ...args]);
  t.match(await l7.waitForLog((l) => l.msg === 'l4 relay'), { mode: 'js', reason: /--mode l7/ }, '--mode l7: js, and why');

  const quiet = await withLb4(t, ['--log-level', 'warn', ...args]);
  t.equal(quiet.logsMatching((l) => l.msg === 'l4 relay' || l.msg === 'file descriptor limit').length, 0, '--log-level warn: neither line');

  const bad = await runLb4([...args, '--admin', '127.0.0.1:0'], { env: { LB4_RELAY_PIPE_SIZE: 'lots' } });
  t.equal(bad.code, 2, 'LB4_RELAY_PIPE_SIZE=lots: exit 2');
  t.match(bad.stderr.trim(), /^lb4: LB4_RELAY_PIPE_SIZE: expected a number of bytes/, 'one line naming it');
  t.equal(bad.stderr.trim().split('\n').length, 1);
});

t.test('a splice pipe smaller than 64 KiB is refused: the direction keeps copying', { skip: linux ? false : 'Linux only' }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const args = ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=e`];
  const small = await withLb4(t, args, { env: { LB4_RELAY_PIPE_SIZE: '4096' } });
  t.ok(await echoThrough(t, small.ports[0]!, 8 << 20), '8 MiB echoed intact, sha256 equal');
  const [l] = await waitAccess(small, 1);
  t.equal(l!.bytes_in, 8 << 20, 'bytes_in exact');
  t.equal(l!.bytes_out, 8 << 20, 'bytes_out exact');
  const r = await relayOf(small);
  t.equal(r.total, 1, 'carried by the relay');
  t.ok(r.pipes_refused >= 1, `pipes of 4 KiB refused (${r.pipes_refused})`);
  t.equal(r.pipes, 0, 'none in use');

  const normal = await withLb4(t, args);
  t.ok(await echoThrough(t, normal.ports[0]!, 8 << 20), 'default pipe size: 8 MiB echoed intact');
  t.equal((await relayOf(normal)).pipes_refused, 0, 'default: no pipe refused');
});

t.test('the relay thread fails: logged, its tunnels reset, new ones in JavaScript', { skip: linux ? false : 'Linux only' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-epoll-fault-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shim = join(dir, 'epoll-fault.so');
  const src = fileURLToPath(new URL('../../native/epoll-fault.c', import.meta.url));
  const cc = spawnSync(process.env.CC || 'cc', ['-shared', '-fPIC', '-O1', '-Wall', '-Wextra', '-Werror', src, '-o', shim, '-ldl'], { encoding: 'utf8' });
  if (!t.equal(cc.status, 0, `the fault builds\n${cc.stderr}`)) return;
  const trigger = join(dir, 'fail-now');
  const preload = [process.env.LB4_TEST_LD_PRELOAD, shim].filter(Boolean).join(' ');
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=e`], {
    env: { LD_PRELOAD: preload, LB4_TEST_EPOLL_FAIL_FILE: trigger },
  });
  const a = await tracked(t, lb.ports[0]!);
  a.write('ping');
  t.equal((await a.readBytes(4)).toString(), 'ping');
  await waitRelay(lb, (r) => r.tunnels === 1, 'hand-over');

  writeFileSync(trigger, '');
  const failed = await lb.waitForLog((l) => l.msg === 'l4 relay failed', 5_000);
  t.equal(failed.level, 50, 'logged at error');
  t.equal(failed.errno, 9, 'with the errno (EBADF)');
  t.match(failed.err, /epoll_wait: Bad file descriptor/, 'and what failed');
  const closed = await a.waitClose(5_000);
  t.equal(closed.error?.code, 'ECONNRESET', 'its tunnel: the client got a reset');
  await echo.waitForConnections(0);
  const [l] = await waitAccess(lb, 1);
  t.equal(l!.end, 'shutdown', 'logged as shutdown');
  t.equal(l!.bytes_in, 4);
  const r = await relayOf(lb);
  t.equal(r.mode, 'js', '/stats: js now');
  t.match(r.reason, /^failed: the relay thread stopped: epoll_wait/, 'and why');

  const b = await tracked(t, lb.ports[0]!);
  b.write('still here');
  t.equal((await b.readBytes(10)).toString(), 'still here', 'a new client is served');
  await new Promise((res) => setTimeout(res, 1500)); // past the hand-over age: it stays in JavaScript
  b.write('!');
  t.equal((await b.readBytes(1)).toString(), '!', 'and goes on');
  t.equal((await relayOf(lb)).total, 1, 'in JavaScript: nothing more handed over');
  b.end();
  await b.waitClose();
  lb.kill('SIGTERM');
  t.equal((await lb.exited).code, 0, 'lb4 exits 0 afterwards');
});

t.test('--workers 2: a relay per worker, none in the primary; /stats sums them', { skip: linux ? false : 'Linux only' }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--backend', `${echo.address},name=e`]);
  const n = 6;
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = await tracked(t, lb.ports[0]!);
    s.write('x');
    t.equal((await s.readBytes(1)).toString(), 'x');
    socks.push(s);
  }
  const r = await waitRelay(lb, (r) => r.tunnels === n, `${n} tunnels on the workers' relays`);
  t.equal(r.mode, 'native');
  const st = (await getJson(lb.adminPort!, '/stats')).json;
  const per = st.workers.map((w: { relay: { tunnels: number } | null }) => w.relay);
  t.equal(per.length, 2, 'two workers');
  t.ok(per.every((x: { mode?: string } | null) => x?.mode === 'native'), 'each worker entry has its relay');
  t.equal(per.reduce((s: number, x: { tunnels: number }) => s + x.tunnels, 0), n, 'the per-worker tunnels add up to the sum');
  t.ok(per.every((x: { tunnels: number }) => x.tunnels > 0), `both workers carry tunnels (${per.map((x: { tunnels: number }) => x.tunnels).join(' + ')})`);
  t.notOk(threads(lb.proc.pid!).includes('lb4-relay'), 'the primary runs no relay thread');
  for (const w of st.workers) t.ok(threads(w.pid).includes('lb4-relay'), `worker ${w.id} runs one`);
  const one = (await getJson(lb.adminPort!, `/stats?worker=${st.workers[0].id}`)).json;
  t.equal(one.relay.tunnels, per[0].tunnels, "/stats?worker=ID: that worker's relay");
  for (const s of socks) s.end();
  for (const s of socks) await s.waitClose();
  const after = await waitRelay(lb, (r) => r.tunnels === 0, 'all closed');
  t.equal(after.total, n, `total: ${n} carried in all`);
});
