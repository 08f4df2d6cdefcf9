/**
 * `make demo` (scripts/demo.mjs) binds the loopback address only: lb4's
 * listener, its admin server and the three demo backends all listen on
 * 127.0.0.1, and the listener is not reachable on the machine's other
 * addresses. Run with LB4_DEMO_PORTS=free (free ports instead of 4443, 9090,
 * 8081..8083) and a temporary certificate directory, then stopped with
 * SIGINT as a user's Ctrl-C does.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');

/** A non-loopback IPv4 address of this machine, if it has one. */
function otherAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function connectResult(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(5000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

t.test('make demo listens on 127.0.0.1 only', { timeout: 90_000 }, async (t) => {
  const certDir = mkdtempSync(join(tmpdir(), 'lb4-demo-'));
  t.teardown(() => rmSync(certDir, { recursive: true, force: true }));
  const env: Record<string, string | undefined> = { ...process.env, LB4_DEMO_PORTS: 'free', LB4_DEMO_CERT_DIR: certDir };
  for (const k of Object.keys(env)) if (k.startsWith('LB_')) delete env[k];
  const child = spawn(process.execPath, [join(root, 'scripts', 'demo.mjs'), '--health-check', 'off'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  // ready: the demo prints its "what to try" block once lb4 logged its start-up lines
  const end = Date.now() + 60_000;
  while (!/lb4 demo is running/.test(stdout)) {
    if (child.exitCode !== null) break;
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!t.match(stdout, /lb4 demo is running/, 'the demo started')) {
    t.comment(stderr);
    return;
  }
  const logs = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const listening = logs.filter((l) => l.msg === 'listening');
  t.equal(listening.length, 1, 'one listener');
  for (const l of listening) t.equal(l.address, '127.0.0.1', 'the listener binds 127.0.0.1');
  const admin = logs.find((l) => l.msg === 'admin listening');
  t.equal(admin?.address, '127.0.0.1', 'the admin server binds 127.0.0.1');
  const backendLines = stderr.split('\n').filter((l) => /^\[demo\] backend-\d on /.test(l));
  t.equal(backendLines.length, 3, 'three backends');
  for (const l of backendLines) t.match(l, /on 127\.0\.0\.1:\d+$/, 'a backend on 127.0.0.1');
  const help = stdout.slice(stdout.indexOf('lb4 demo is running'));
  t.match(help, /curl -k https:\/\/127\.0\.0\.1:\d+\//, 'the printed commands use 127.0.0.1');
  t.notMatch(help, /localhost/, 'and not localhost, which may resolve to ::1');

  const port = listening[0]!.port as number;
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(b));
      })
      .on('error', reject);
  });
  t.match(body, /^hello from backend-\d\n$/, 'a request goes through lb4 to a demo backend');

  const other = otherAddress();
  if (other) t.not(await connectResult(other, port), 'connected', `not reachable on ${other}`);
  else t.comment('no non-loopback address on this machine: reachability check skipped');

  child.kill('SIGINT');
  const [code] = await exited;
  t.equal(code, 0, 'Ctrl-C stops the demo cleanly');
  t.match(stderr, /lb4 stopped, backends closed/);
});
