/**
 * Keeps the `make bench` harness (perf/bench.mjs) from rotting: one smoke run
 * (BENCH_SMOKE=1: 1-second runs, one round, one workload per proxy, 100 held
 * connections) must finish and write a RESULTS.md with lb4 beside HAProxy.
 * Needs haproxy and wrk on PATH (skipped otherwise); nginx is optional (the
 * harness falls back to a node backend). Writes to a temporary directory,
 * never to perf/out/.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = ['haproxy', 'wrk'].filter((c) => !has(c));

t.test('bench harness smoke run', { skip: missing.length ? `needs ${missing.join(' and ')}` : false, timeout: 90_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'lb4-perf-smoke-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const child = spawn(process.execPath, [join(root, 'perf', 'bench.mjs')], {
    cwd: root,
    env: { ...process.env, BENCH_SMOKE: '1', BENCH_OUT: out, BENCH_CAP_SECONDS: '80' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0, 'bench.mjs exits 0', { log: log.slice(-3000) });
  const md = readFileSync(join(out, 'RESULTS.md'), 'utf8');
  t.match(md, /\| ka \| lb4-l4 \| haproxy-tcp \| [\d.]+ \| [\d.]+ \| [\d.]+× /, 'lb4 l4 beside HAProxy tcp, with a cost ratio');
  t.match(md, /\| lb4-l7 \| [\d.]+/, 'lb4 l7 row');
  t.match(md, /\| lb4-tls \| [\d.]+/, 'lb4 TLS row');
  t.match(md, /## Memory/, 'memory section');
  t.match(md, /\| lb4-l4 \| 100 \|/, 'lb4 held the smoke connections');
});
