/**
 * A real non-HTTP service behind lb4: redis-server, driven with redis-cli
 * and a short redis-benchmark through the balancer. Skipped when
 * redis-server is not installed.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { closedPort } from '../../helpers/backends.js';
import { withLb4 } from '../../helpers/lb4.js';
import { within } from '../../helpers/l4-e2e.js';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, killed after `timeoutMs`. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: still running after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const haveRedis = onPath('redis-server') && onPath('redis-cli');
const haveBenchmark = onPath('redis-benchmark');

t.test('redis through lb4', { skip: haveRedis ? false : 'redis-server/redis-cli not on PATH' }, async (t) => {
  const redisPort = await closedPort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const redisExit = new Promise<void>((resolve) => redis.once('close', () => resolve()));
  t.teardown(async () => {
    redis.kill('SIGKILL');
    await redisExit;
  });
  let log = '';
  await within(
    new Promise<void>((resolve, reject) => {
      redis.stdout.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        if (/ready to accept connections/i.test(log)) resolve();
      });
      redis.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
      redis.once('close', (code) => reject(new Error(`redis-server exited ${code}:\n${log}`)));
    }),
    10_000,
    'redis-server start',
  );
  const direct = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redisPort), 'ping'], 5_000);
  t.equal(direct.stdout.trim(), 'PONG', 'redis answers directly');

  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--access-log', '--backend', `127.0.0.1:${redisPort},name=redis`]);
  const port = String(lb.ports[0]!);
  const cli = (...args: string[]): Promise<Run> => run('redis-cli', ['-h', '127.0.0.1', '-p', port, ...args], 5_000);

  const ping = await cli('PING');
  t.equal(ping.code, 0);
  t.equal(ping.stdout.trim(), 'PONG', 'PING → PONG through lb4');
  const key = `lb4:test:${process.pid}`;
  const set = await cli('SET', key, 'hello through lb4');
  t.equal(set.stdout.trim(), 'OK');
  const get = await cli('GET', key);
  t.equal(get.stdout.trim(), 'hello through lb4', 'SET then GET through lb4');
  const big = 'x'.repeat(100_000);
  t.equal((await cli('SET', `${key}:big`, big)).stdout.trim(), 'OK');
  t.equal((await cli('STRLEN', `${key}:big`)).stdout.trim(), '100000', 'a 100 kB value went through whole');
  const directGet = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redisPort), 'GET', key], 5_000);
  t.equal(directGet.stdout.trim(), 'hello through lb4', 'the value really is in redis');
  await lb.waitForLog((l) => l.msg === 'connection'); // lines may reach this process after redis-cli exits
  const access = lb.logsMatching((l) => l.msg === 'connection');
  t.ok(access.length >= 1 && access.every((l) => l.backend === 'redis' && l.end === 'client-close'), 'redis-cli sessions logged');

  if (!haveBenchmark) {
    t.comment('redis-benchmark not on PATH: benchmark part skipped');
    return;
  }
  const bench = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', port, '-n', '2000', '-c', '10', '-t', 'set,get', '-q'], 60_000);
  t.equal(bench.code, 0, `redis-benchmark exits 0 (${bench.stderr.trim()})`);
  const out = bench.stdout.replace(/\r/g, '\n');
  t.match(out, /SET: [\d.]+ requests per second/, 'SET requests per second reported');
  t.match(out, /GET: [\d.]+ requests per second/, 'GET requests per second reported');
  t.equal(lb.hasExited, false);
});
