/**
 * `make bench` and `make soak` install nothing and touch no system service
 * (README "Performance"): with a tool missing they print one line naming
 * `make bench-deps` and exit non-zero, before building anything. Every
 * command that could install or stop something (apt-get, apt, dpkg, sudo,
 * systemctl, service, invoke-rc.d) is shadowed on PATH by a stub that
 * records its call. `make bench-deps` (perf/deps.sh install) is the one
 * that runs apt-get, with a policy-rc.d in place that forbids service
 * starts, and it still stops nothing.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../../helpers/l4-e2e.js';

const root = join(import.meta.dirname, '..', '..', '..');
const SHADOWED = ['apt-get', 'apt', 'dpkg', 'sudo', 'systemctl', 'service', 'invoke-rc.d'];

interface Run {
  code: number | null;
  out: string;
  calls: string[];
}

function sandbox(t: Host): { dir: string; log: string; policy: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-bench-deps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls.log');
  const policy = join(dir, 'policy-rc.d');
  writeFileSync(log, '');
  for (const cmd of SHADOWED) {
    const stub = join(dir, cmd);
    // records its name, its arguments and whether the no-start policy is in place;
    // `sudo CMD...` records itself and runs CMD (tee, chmod, rm, or a stubbed apt-get)
    const body = cmd === 'sudo'
      ? `#!/bin/sh\necho "sudo $*" >> "${log}"\nexec "$@"\n`
      : `#!/bin/sh\necho "${cmd} $* policy=$( [ -x "${policy}" ] && "${policy}"; echo $? )" >> "${log}"\nexit 0\n`;
    writeFileSync(stub, body);
    chmodSync(stub, 0o755);
  }
  return { dir, log, policy };
}

function run(cmd: string, args: string[], box: { dir: string; log: string; policy: string }, env: Record<string, string>): Promise<Run> {
  const base = { ...process.env };
  // not the make of `make test`: no jobserver or level from it
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES']) delete base[k];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...base, ...env, PATH: `${box.dir}:${process.env.PATH}`, LB4_POLICY_RC_D: box.policy },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, calls: readFileSync(box.log, 'utf8').split('\n').filter((l) => l.length > 0) });
    });
  });
}

t.test('make bench with wrk missing: names make bench-deps, installs and stops nothing', async (t) => {
  const box = sandbox(t);
  const r = await run('make', ['--no-print-directory', 'bench'], box, { LB4_BENCH_ASSUME_MISSING: 'wrk nginx' });
  t.not(r.code, 0, `exits non-zero\n${r.out}`);
  t.match(r.out, /^bench: wrk not installed; install with: make bench-deps\b/m, 'one line names the missing tool and make bench-deps');
  t.match(r.out, /nginx is not installed: a node HTTP server stands in/, 'an optional tool missing is a line, not a failure');
  t.same(r.calls, [], 'no apt-get, dpkg, sudo, systemctl or service call');
  t.notMatch(r.out, /\btsc\b|npm run/, 'stopped before building');
});

t.test('make soak with wrk missing: the same', async (t) => {
  const box = sandbox(t);
  const r = await run('make', ['--no-print-directory', 'soak'], box, { LB4_BENCH_ASSUME_MISSING: 'wrk' });
  t.not(r.code, 0, `exits non-zero\n${r.out}`);
  t.match(r.out, /^soak: wrk not installed; install with: make bench-deps\b/m);
  t.same(r.calls, [], 'nothing installed, nothing stopped');
});

t.test('perf/bench.sh run directly checks the same way', async (t) => {
  const box = sandbox(t);
  const r = await run('perf/bench.sh', [], box, { LB4_BENCH_ASSUME_MISSING: 'haproxy' });
  t.equal(r.code, 1, `exit 1\n${r.out}`);
  t.match(r.out, /haproxy not installed; install with: make bench-deps/);
  t.same(r.calls, []);
});

t.test('make bench-deps: apt-get install under a no-start policy, nothing stopped', async (t) => {
  const box = sandbox(t);
  const r = await run('make', ['--no-print-directory', 'bench-deps'], box, {});
  t.equal(r.code, 0, `exit 0\n${r.out}`);
  const apt = r.calls.filter((c) => c.startsWith('apt-get '));
  t.equal(apt.length, 1, `one apt-get call: ${r.calls.join(' | ')}`);
  t.match(apt[0], /^apt-get install -y -q --no-install-recommends haproxy wrk nginx-light iperf3 /);
  t.match(apt[0], /policy=101$/, 'policy-rc.d forbids starting services during the install');
  t.same(r.calls.filter((c) => /^(systemctl|service|invoke-rc\.d|dpkg) /.test(c)), [], 'no service stopped or started');
  t.notOk(existsSync(box.policy), 'the policy file it wrote is removed afterwards');
});
