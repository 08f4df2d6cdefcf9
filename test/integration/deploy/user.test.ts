/**
 * `--user` / `--group` (README "Deploying", "Dropping root"): lb4 started as
 * root binds its listeners (a privileged port included) and its admin
 * listener, then runs as the given user and group: the running process's
 * ids are read from /proc/PID/status, for the primary and every --workers
 * worker. A name that does not exist, or a switch without root, is a usage
 * error: one line on stderr, exit 2, nothing started.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePrivilegedPort } from '../../helpers/backends.js';
import { nameOf } from '../../helpers/l4-e2e.js';
import { runLb4, withLb4 } from '../../helpers/lb4.js';
import { backends, stats, tempDir, type Json } from '../../helpers/ops.js';

const isRoot = process.getuid?.() === 0;
const hasNobody = /^nobody:[^:]*:65534:65534:/m.test(readFileSync('/etc/passwd', 'utf8'));
const skip = !isRoot ? 'needs root (switching users needs it)' : !hasNobody ? 'needs the user nobody (uid 65534, gid 65534)' : false;

interface Ids {
  uid: number[];
  gid: number[];
  groups: number[];
}

/** Real, effective, saved and filesystem uids and gids, and the supplementary groups, of a running process. */
function idsOf(pid: number): Ids {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status);
    if (!m) throw new Error(`no ${name} in /proc/${pid}/status`);
    return m[1]!.trim().split(/\s+/).filter(Boolean).map(Number);
  };
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

t.test('one process: binds a privileged port as root, then runs as nobody', { skip }, async (t) => {
  const [a] = await backends(t, 'a');
  const low = await freePrivilegedPort();
  if (low === null) throw new Error('no free port in 900..1023 on 127.0.0.1');
  const lb = await withLb4(t, ['--listen', `127.0.0.1:${low}`, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--user', 'nobody', '--log-level', 'warn'], { coverage: false });
  const ids = idsOf(lb.proc.pid!);
  t.same(ids.uid, [65534, 65534, 65534, 65534], 'real, effective, saved and fs uid are nobody');
  t.same(ids.gid, [65534, 65534, 65534, 65534], "gids are nobody's own group");
  t.same(ids.groups, [65534], "root's supplementary groups are gone");

  const line = lb.logs.find((l) => l.msg === 'running as');
  t.ok(line, 'one `running as` line, whatever --log-level');
  t.match(line, { user: 'nobody', uid: 65534, gid: 65534, groups: [65534] });
  t.ok(lb.logs.indexOf(line!) < lb.logs.findIndex((l) => l.msg === 'listening'), 'before the start-up lines: ready means switched');

  t.equal(lb.ports[0], low, 'the privileged port is served');
  t.equal(await nameOf(low), 'a', 'traffic flows through the port bound before the switch');
  t.equal(await nameOf(lb.ports[1]!), 'a');
  t.equal((await stats(lb.adminPort!)).connections.total, 2, 'the admin listener answers');
  t.same(await lb.stop(), { code: 0, signal: null }, 'SIGTERM still drains and exits 0');
});

t.test('--workers: the primary and every worker run as the user and group', { skip }, async (t) => {
  const [a] = await backends(t, 'a');
  const lb = await withLb4(t, ['--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${a!.address},name=a`], {
    coverage: false,
    env: { LB_USER: 'nobody', LB_GROUP: 'nogroup' },
  });
  const s: Json = await stats(lb.adminPort!);
  const pids: number[] = [lb.proc.pid!, ...(s.workers as Json[]).map((w) => w.pid as number)];
  t.equal(pids.length, 3, 'a primary and two workers');
  for (const pid of pids) {
    const ids = idsOf(pid);
    t.same([ids.uid, ids.gid, ids.groups], [[65534, 65534, 65534, 65534], [65534, 65534, 65534, 65534], [65534]], `pid ${pid} runs as nobody:nogroup`);
  }
  for (let i = 0; i < 4; i++) t.equal(await nameOf(lb.ports[0]!), 'a');
  t.same(await lb.stop(10_000), { code: 0, signal: null });
});

t.test('bare numeric ids without passwd entries', { skip }, async (t) => {
  const [a] = await backends(t, 'a');
  const r = await runLb4(['--listen', '127.0.0.1:0', '--backend', a!.address, '--user', '54321'], { coverage: false });
  t.equal(r.code, 2, 'a bare uid needs --group');
  t.match(r.stderr, /^lb4: --user: uid 54321 has no passwd entry.*--group.*\n$/);
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--user', '54321', '--group', '54322'], { coverage: false });
  const ids = idsOf(lb.proc.pid!);
  t.same([ids.uid, ids.gid, ids.groups], [[54321, 54321, 54321, 54321], [54322, 54322, 54322, 54322], [54322]]);
  t.equal(await nameOf(lb.ports[0]!), 'a');
});

t.test('a bad name is a usage error: one line, exit 2, nothing started', { skip }, async (t) => {
  const [a] = await backends(t, 'a');
  const base = ['--listen', '127.0.0.1:0', '--backend', a!.address];
  const cases: Array<{ args: string[]; env?: Record<string, string>; re: RegExp }> = [
    { args: ['--user', 'no-such-user-lb4'], re: /^lb4: --user: no user named "no-such-user-lb4"/ },
    { args: ['--user', 'nobody', '--group', 'no-such-group-lb4'], re: /^lb4: --group: no group named "no-such-group-lb4"/ },
    { args: [], env: { LB_USER: 'no-such-user-lb4' }, re: /^lb4: --user: no user named/ },
    { args: ['--user', 'bad:name'], re: /^lb4: --user: invalid name "bad:name"/ },
  ];
  for (const c of cases) {
    const r = await runLb4([...base, ...c.args], { env: c.env, coverage: false });
    t.equal(r.code, 2, `${c.args.join(' ') || JSON.stringify(c.env)}: exit 2`);
    t.match(r.stderr, c.re);
    t.equal(r.stderr.split('\n').filter(Boolean).length, 1, 'one line');
    t.equal(r.stdout, '', 'nothing started');
  }
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, `backends: ["${a!.address}"]\nuser: no-such-user-lb4\n`);
  const r = await runLb4(['check', '--config', file], { coverage: false });
  t.equal(r.code, 2, 'lb4 check finds it too');
  t.match(r.stderr, /no user named "no-such-user-lb4"/);
});

t.test('switching needs root: exit 2 when lb4 runs as another user', { skip }, async (t) => {
  const [a] = await backends(t, 'a');
  const r = await runLb4(['--listen', '127.0.0.1:0', '--backend', a!.address, '--user', 'daemon'], { coverage: false, uid: 65534, gid: 65534 });
  t.equal(r.code, 2);
  t.match(r.stderr, /^lb4: --user: switching to user daemon \(uid 1\) and group daemon \(gid 1\) needs root \(lb4 runs as uid 65534, gid 65534\)\n$/);
  t.equal(r.stdout, '', 'nothing started');
  // already that user and group (a worker forked by a switched primary): nothing to switch
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--user', 'nobody'], { coverage: false, uid: 65534, gid: 65534 });
  t.match(lb.logs.find((l) => l.msg === 'running as'), { uid: 65534, gid: 65534 });
  t.equal(await nameOf(lb.ports[0]!), 'a');
});
