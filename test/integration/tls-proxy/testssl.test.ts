/**
 * A real TLS scanner against a lb4 listener: perf/testssl.sh (testssl.sh:
 * protocols, cipher categories, forward secrecy) fails when a weak protocol
 * or cipher is offered. Skipped when testssl.sh is not installed.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const installed = spawnSync('sh', ['-c', 'command -v testssl || command -v testssl.sh'], { encoding: 'utf8' }).status === 0;
const root = fileURLToPath(new URL('../../..', import.meta.url));

t.setTimeout(300_000);
t.test('testssl.sh finds no weak protocol or cipher', { skip: installed ? false : 'testssl.sh not installed' }, async (t) => {
  // tap's NODE_OPTIONS (its loaders) are not for the script's own node processes
  const env: NodeJS.ProcessEnv = { ...process.env, TESTSSL_QUICK: '1', TESTSSL_TIMEOUT: '240' };
  delete env.NODE_OPTIONS;
  const p = spawn('perf/testssl.sh', [], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
  t.equal(code, 0, 'perf/testssl.sh exits 0', { output: out.slice(-3000) });
  t.match(out, /SSLv3\s+not offered/);
  t.match(out, /TLS 1\.1\s+not offered/);
  t.match(out, /no weak protocol or cipher offered/);
});
