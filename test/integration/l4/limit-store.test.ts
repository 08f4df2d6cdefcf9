/**
 * --limit-store (README "Per-client limits"): two lb4 instances count one
 * --client-rate in a real redis-server on loopback, so what both admit
 * together stays within the limit; when Redis stops each instance falls
 * back to counting locally (and logs `limit store down`), and when it is
 * back they share the limit again (`limit store up`).
 */
import net from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import t from 'tap';
import { namedBackend } from '../../helpers/backends.js';
import { attachHelpers } from '../../helpers/clients.js';
import { withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { within, type Host } from '../../helpers/l4-e2e.js';
import { statsUntil } from '../../helpers/ops.js';
import { freePort } from '../../helpers/tls-proxy.js';

const haveRedis = spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;

/** Start redis-server on 127.0.0.1:port (no persistence); resolves once it accepts connections. */
async function startRedis(t: Host, port: number): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => p.once('close', () => resolve()));
  t.teardown(async () => {
    p.kill('SIGKILL');
    await exited;
  });
  let log = '';
  await within(
    new Promise<void>((resolve, reject) => {
      p.stdout!.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        if (/ready to accept connections/i.test(log)) resolve();
      });
      p.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
      p.once('close', (code) => reject(new Error(`redis-server exited ${code}:\n${log}`)));
    }),
    10_000,
    'redis-server start',
  );
  return p;
}

async function stopRedis(p: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => p.once('close', () => resolve()));
  p.kill('SIGTERM');
  await within(exited, 10_000, 'redis-server stop');
}

/** One connection from `localAddress`: true when admitted (the backend's line arrived), false when closed at once. */
async function admitted(port: number, localAddress: string): Promise<boolean> {
  const s = attachHelpers(net.connect({ port, host: '127.0.0.1', localAddress }));
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    try {
      await s.readLine(5000);
      return true;
    } catch {
      return false;
    }
  } finally {
    s.destroy();
  }
}

/** `n` connections from `ip`, alternating between the instances; admitted per instance and the time taken. */
async function burst(lbs: Lb4Process[], ip: string, n: number): Promise<{ each: number[]; ms: number }> {
  const each = lbs.map(() => 0);
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const k = i % lbs.length;
    if (await admitted(lbs[k]!.ports[0]!, ip)) each[k]!++;
  }
  return { each, ms: Date.now() - t0 };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

t.test('two instances share one --client-rate in Redis; local fallback while it is down', { skip: haveRedis ? false : 'redis-server not on PATH' }, async (t) => {
  const redisPort = await freePort();
  let redis = await startRedis(t, redisPort);
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const LIMIT = 8;
  const args = ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--client-rate', String(LIMIT), '--limit-store', `redis://127.0.0.1:${redisPort}`, '--backend', `${a.address},name=a`];
  const lbs = [await withLb4(t, args), await withLb4(t, args)];
  for (const lb of lbs) await statsUntil(lb.adminPort!, (s) => s.clients.store === 'up', 10_000, 'the limit store up');

  // shared: a fresh client gets a burst of LIMIT in total, not per instance
  const shared = await burst(lbs, '127.0.1.1', 3 * LIMIT);
  const slack = Math.ceil((shared.ms / 1000) * LIMIT); // the window slides while the burst runs
  t.ok(sum(shared.each) >= LIMIT - 1 && sum(shared.each) <= LIMIT + slack, `shared: admitted ${shared.each} (sum ${sum(shared.each)}, limit ${LIMIT} + ${slack}) in ${shared.ms} ms`);
  t.ok(shared.each.every((x) => x > 0), 'both instances admitted some');

  // Redis goes away: each instance logs it once and counts on its own
  const mark = lbs.map((lb) => lb.logs.length);
  await stopRedis(redis);
  for (const lb of lbs) await lb.waitForLog((l) => l.msg === 'limit store down', 10_000);
  const local = await burst(lbs, '127.0.1.2', 4 * LIMIT);
  t.ok(local.each.every((x) => x >= LIMIT - 1), `local fallback: each instance admits its own ${LIMIT}: ${local.each}`);
  t.ok(sum(local.each) > LIMIT + Math.ceil((local.ms / 1000) * LIMIT), 'more than the shared limit in total: the instances count apart');
  for (const [i, lb] of lbs.entries()) {
    t.equal(lb.logs.slice(mark[i]).filter((l) => l.msg === 'limit store down').length, 1, 'down logged once');
    t.equal(lb.hasExited, false);
  }

  // Redis is back: logged, and the limit is shared again
  redis = await startRedis(t, redisPort);
  for (const lb of lbs) await lb.waitForLog((l) => l.msg === 'limit store up', 10_000);
  for (const lb of lbs) await statsUntil(lb.adminPort!, (s) => s.clients.store === 'up', 10_000, 'the limit store up again');
  const again = await burst(lbs, '127.0.1.3', 3 * LIMIT);
  const slack2 = Math.ceil((again.ms / 1000) * LIMIT);
  t.ok(sum(again.each) <= LIMIT + slack2, `shared again: ${again.each} (limit ${LIMIT} + ${slack2})`);
  const down = lbs.map((lb) => lb.logsMatching((l) => l.msg === 'limit store down')[0]);
  t.match(down[0], { level: 40, store: `redis://127.0.0.1:${redisPort}` });

  // Redis connected but not answering (CLIENT PAUSE 3 s): the wait is
  // bounded, the local count decides, the client is served at once
  await redisCommand(redisPort, ['CLIENT', 'PAUSE', '3000', 'ALL']);
  const t0 = Date.now();
  t.equal(await admitted(lbs[0]!.ports[0]!, '127.0.1.4'), true, 'admitted while Redis is paused');
  const took = Date.now() - t0;
  t.ok(took < 1500, `answered in ${took} ms, well before the pause ends`);
});

/** Send one command to Redis over a raw socket (RESP) and wait for its reply line. */
async function redisCommand(port: number, args: string[]): Promise<string> {
  const s = attachHelpers(net.connect({ port, host: '127.0.0.1' }));
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    return await s.readLine(5000);
  } finally {
    s.destroy();
  }
}

t.test('--limit-store in l7: the rate of requests is shared too; refusals are 429 with Retry-After', { skip: haveRedis ? false : 'redis-server is not installed' }, async (t) => {
  const redisPort = await freePort();
  await startRedis(t, redisPort);
  const http = await import('node:http');
  const backend = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => backend.close(() => r())));
  const bport = (backend.address() as net.AddressInfo).port;
  const args = ['--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--client-rate', '4', '--limit-store', `redis://127.0.0.1:${redisPort}`, '--backend', `127.0.0.1:${bport}`];
  const one = await withLb4(t, args);
  const two = await withLb4(t, args);
  await statsUntil(one.adminPort!, (s) => s.clients.store === 'up', 20_000, 'lb4 one connected to redis');
  await statsUntil(two.adminPort!, (s) => s.clients.store === 'up', 20_000, 'lb4 two connected to redis');
  /** One request from 127.0.0.51 on a fresh connection; its status and Retry-After. */
  const ask = (port: number): Promise<{ status: number; retryAfter: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', localAddress: '127.0.0.51', path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      });
      req.on('error', reject);
      req.end();
    });
  const results = [];
  // alternate between the two instances: one client, one shared limit of 4 per second
  for (let i = 0; i < 10; i++) results.push(await ask(i % 2 === 0 ? one.ports[0]! : two.ports[0]!));
  const ok = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 429);
  t.ok(ok >= 3 && ok <= 6, `${ok} of 10 admitted across both instances (a shared limit of 4/s; a fast loop may straddle a second)`);
  t.ok(refused.length >= 4, 'the rest refused');
  t.ok(refused.every((r) => r.retryAfter !== undefined && Number(r.retryAfter) >= 1), 'each 429 says when to come back');
});
