/**
 * deploy/healthcheck.mjs, the image's HEALTHCHECK (README "Deploying"),
 * against a real lb4: it finds lb4's admin address in lb4's own arguments,
 * environment or --config file, and is healthy only when GET /health there
 * answers 200 (not when no backend is up, nor while draining); without an
 * admin listener it is healthy while lb4 runs.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedPort } from '../../helpers/backends.js';
import { tracked } from '../../helpers/l4-e2e.js';
import { withLb4 } from '../../helpers/lb4.js';
import { backends, statsUntil, tempDir, writeConfig } from '../../helpers/ops.js';
import { getJson } from '../../helpers/admin.js';

const SCRIPT = fileURLToPath(new URL('../../../deploy/healthcheck.mjs', import.meta.url));

function check(pid: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SCRIPT, String(pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

t.test('--admin: healthy on /health 200, unhealthy with no backend up', async (t) => {
  const [a] = await backends(t, 'a');
  const admin = await closedPort();
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${admin}`, '--backend', `${a!.address},name=a`, '--health-interval', '100ms', '--fall', '1']);
  const ok = await check(lb.proc.pid!);
  t.equal(ok.code, 0, ok.out);
  t.match(ok.out, /^healthy: \/health 200 \{"status":"ok","up":1,"total":1\}\n$/);
  a!.close();
  await statsUntil(admin, (s) => s.backends[0].state === 'down', 10_000, 'the backend down');
  const down = await check(lb.proc.pid!);
  t.equal(down.code, 1, 'no backend up: unhealthy');
  t.match(down.out, /^unhealthy: \/health 503 .*"status":"down"/);
});

t.test('draining: unhealthy', async (t) => {
  const [a] = await backends(t, 'a');
  const admin = await closedPort();
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${admin}`, '--backend', `${a!.address},name=a`]);
  const c = await tracked(t, lb.ports[0]!);
  t.equal(await c.readLine(), 'a');
  lb.kill('SIGTERM');
  await lb.waitForLog((l) => l.msg === 'draining');
  t.equal((await getJson(admin, '/health')).status, 503);
  const r = await check(lb.proc.pid!);
  t.equal(r.code, 1);
  t.match(r.out, /"status":"draining"/);
  c.end();
});

t.test('the admin address from LB_ADMIN, or from --config (a wildcard address is asked on the loopback)', async (t) => {
  const [a] = await backends(t, 'a');
  const fromEnv = await closedPort();
  const lb1 = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', a!.address], { env: { LB_ADMIN: `127.0.0.1:${fromEnv}` } });
  const r1 = await check(lb1.proc.pid!);
  t.equal(r1.code, 0, r1.out);
  t.match(r1.out, /\/health 200/);

  const fromFile = await closedPort();
  const file = join(tempDir(t), 'lb4.yaml');
  writeConfig(file, [`admin: "0.0.0.0:${fromFile}"`, 'listen: 127.0.0.1:0', `backends: ["${a!.address}"]`]);
  const lb2 = await withLb4(t, ['--config', file]);
  const r2 = await check(lb2.proc.pid!);
  t.equal(r2.code, 0, r2.out);
  t.match(r2.out, /\/health 200/);
});

t.test('no admin listener: healthy while lb4 runs; no lb4: unhealthy', async (t) => {
  const [a] = await backends(t, 'a');
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', a!.address]);
  const r = await check(lb.proc.pid!);
  t.equal(r.code, 0);
  t.match(r.out, /^healthy: lb4 runs \(pid \d+\); no admin listener to ask\n$/);
  const none = await check(process.pid);
  t.equal(none.code, 1, 'a process that is not lb4');
  t.match(none.out, /^unhealthy: no lb4 process found\n$/);
});
