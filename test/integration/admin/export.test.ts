/**
 * The admin API's operator exports through bin/lb4 over real sockets:
 * `GET /stats.csv` (README "Admin API": one row per listener, pool and
 * backend, RFC 4180) equals `/stats` value for value, and `GET
 * /stats/history` (the dashboard's 15 minutes of series) fills at its
 * interval, carries the traffic sent, and stays bounded. Both work on the
 * --workers primary, whose counters are sums fetched from the workers.
 *
 * LB4_HISTORY_INTERVAL_MS is the internal knob that shortens the sampling
 * interval (5 s in production) so that these tests take seconds.
 */
import t, { type Test } from 'tap';
import { csvRecords, getJson } from '../../helpers/admin.js';
import { nameOf } from '../../helpers/l4-e2e.js';
import { withLb4 } from '../../helpers/lb4.js';
import { backends, sleep, statsUntil, type Json } from '../../helpers/ops.js';
import { request } from '../../helpers/clients.js';
import { httpBackend } from '../../helpers/backends.js';

/** Poll `path` on the admin server until `pred` holds on its JSON; generous bound for a busy machine. */
async function jsonUntil(admin: number, path: string, pred: (j: Json) => boolean, what: string, timeoutMs = 20_000): Promise<Json> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await getJson(admin, path);
    if (r.status === 200 && pred(r.json)) return r.json;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${r.status} ${r.body.slice(0, 2000)}`);
    await sleep(50);
  }
}

/** Every backend and listener row of the CSV against the /stats document. */
function compareCsv(t: Test, csv: Array<Record<string, string>>, s: Json): void {
  const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
  const bRows = csv.filter((r) => r.type === 'backend');
  t.same(bRows.map((r) => r.name), s.backends.map((b: Json) => b.name), 'one backend row per /stats backend, same order');
  for (const b of s.backends) {
    const r = bRows.find((x) => x.name === b.name)!;
    for (const f of ['pool', 'address', 'state', 'weight', 'active', 'max_active', 'limit', 'total', 'failures', 'response_errors', 'redispatches', 'replays', 'bytes_in', 'bytes_out', 'last_used', 'circuit']) {
      t.equal(r[f], str(b[f]), `${b.name} ${f}`);
    }
    t.equal(r.check_last, str(b.check.last), `${b.name} check_last`);
    t.equal(r.responses_2xx, str(b.responses['2xx']), `${b.name} responses_2xx`);
    t.equal(r.latency_p50_ms, str(b.latency_ms?.p50), `${b.name} latency_p50_ms`);
  }
  const lRows = csv.filter((r) => r.type === 'listener');
  t.equal(lRows.length, s.listeners.length, 'one row per listener');
  s.listeners.forEach((l: Json, i: number) => {
    t.match(lRows[i], { name: `127.0.0.1:${l.port}`, protocol: l.protocol, proxy: str(l.proxy), total: str(l.accepted), active: str(l.active), max_active: str(l.max_active), rejected: str(l.rejected), tls_failures: str(l.tls_failures), proxy_errors: str(l.proxy_errors) });
  });
  const pRows = csv.filter((r) => r.type === 'pool');
  t.same(pRows.map((r) => r.name), s.pools.map((p: Json) => p.name), 'one row per pool');
  for (const p of s.pools) {
    t.match(pRows.find((r) => r.name === p.name), { queued: str(p.queued), max_queued: str(p.max_queued), queue_limit: str(p.queue_limit), up: str(p.up), backends: str(p.total), strategy: p.strategy });
  }
}

t.test('L4: /stats.csv equals /stats; /stats/history fills, carries the traffic, stays bounded', { timeout: 90_000 }, async (t) => {
  const [a, b] = await backends(t, 'a', 'b');
  const lb = await withLb4(
    t,
    ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${a!.address},name=a,weight=2`, '--backend', `${b!.address},name=b`, '--backend-max-conns', '7', '--health-check', 'off'],
    { env: { LB4_HISTORY_INTERVAL_MS: '25' } },
  );
  const admin = lb.adminPort!;
  const port = lb.ports[0]!;
  for (let i = 0; i < 12; i++) await nameOf(port);
  const s = await statsUntil(admin, (s) => s.connections.total === 12 && s.connections.active === 0, 10_000, 'twelve connections done');

  const r = await getJson(admin, '/stats.csv');
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/csv; charset=utf-8/);
  t.equal(r.headers['cache-control'], 'no-store');
  t.ok(r.body.endsWith('\r\n') && !/[^\r]\n/.test(r.body), 'CRLF line ends');
  const csv = csvRecords(r.body);
  t.same(csv.map((x) => x.type), ['listener', 'pool', 'backend', 'backend'], 'listener, pool, then its backends');
  compareCsv(t, csv, s);
  t.equal(csv.find((x) => x.name === 'a')!.limit, '7', '--backend-max-conns in `limit`');
  t.equal(csv.find((x) => x.type === 'pool')!.total, '12', 'the pool row sums its backends');

  const alias = await getJson(admin, '/stats;csv');
  t.equal(alias.status, 200, "HAProxy's spelling /stats;csv");
  t.equal(alias.body, r.body, 'same table');
  const head = await request(admin, '/stats.csv', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body, '', 'HEAD: no body');

  // the history: points at the interval, the connections sent are in it
  const h1 = await jsonUntil(admin, '/stats/history', (j) => j.t.length >= 5, 'five points');
  t.equal(h1.interval_ms, 25, 'the internal interval');
  t.equal(h1.capacity, 180, '15 minutes at 5 s');
  for (const k of ['conn_rate', 'req_rate', 'active', 'queued', 'bytes_in_rate', 'bytes_out_rate', 'error_rate']) t.equal(h1.series[k].length, h1.t.length, `${k}: one value per point`);
  t.same(h1.backends.map((x: Json) => x.name), ['a', 'b'], 'a series per backend');
  const before = h1.t.length;
  for (let i = 0; i < 6; i++) await nameOf(port);
  const h2 = await jsonUntil(
    admin,
    '/stats/history',
    (j) => j.series.conn_rate.reduce((n: number, v: number | null, i: number) => n + (v ?? 0) * (i > 0 ? (j.t[i] - j.t[i - 1]) / 1000 : 0), 0) >= 5,
    'the six connections in the rates',
  );
  t.ok(h2.t.length > before, 'more points since');
  const sum = (xs: Array<number | null>): number => xs.reduce((n: number, v) => n + (v ?? 0), 0);
  t.ok(sum(h2.series.bytes_out_rate) > 0, 'the backends\' names (bytes out) in the rates');
  t.ok(sum(h2.backends[0].rate) > 0 && sum(h2.backends[1].rate) > 0, 'both backends have a rate');
  t.ok(h2.t.every((v: number, i: number) => i === 0 || v > h2.t[i - 1]), 'times increase');

  // bounded: 180 points at most, the newest ones
  const full = await jsonUntil(admin, '/stats/history', (j) => j.t.length === 180, '180 points', 40_000);
  await jsonUntil(admin, '/stats/history', (j) => j.t[0] > full.t[0], 'the oldest point dropped', 20_000);
  const later = (await getJson(admin, '/stats/history')).json;
  t.equal(later.t.length, 180, 'still 180 points');
  t.ok(later.backends.every((x: Json) => x.active.length === 180 && x.rate.length === 180), 'per-backend series bounded too');
});

t.test('L7 history counts requests; --workers: the primary serves history and CSV from its workers\' sums', { timeout: 90_000 }, async (t) => {
  const web = await httpBackend('web');
  t.teardown(() => web.close());
  const lb = await withLb4(
    t,
    ['--workers', '2', '--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', `${web.address},name=web`, '--health-check', 'off'],
    { env: { LB4_HISTORY_INTERVAL_MS: '100' }, timeoutMs: 20_000 },
  );
  const admin = lb.adminPort!;
  const port = lb.ports[0]!;
  for (let i = 0; i < 10; i++) t.equal((await request(port, `/r${i}`)).status, 200);
  const h = await jsonUntil(
    admin,
    '/stats/history',
    (j) => {
      let n = 0;
      for (let i = 1; i < j.t.length; i++) n += (j.series.req_rate[i] ?? 0) * ((j.t[i] - j.t[i - 1]) / 1000);
      return n >= 9.5;
    },
    'ten requests in the history (summed over the workers)',
  );
  t.same(h.backends.map((x: Json) => x.name), ['web']);
  const s = await statsUntil(admin, (s) => s.backends[0].total === 10 && s.backends[0].active === 0, 10_000, 'ten requests');
  const r = await getJson(admin, '/stats.csv');
  t.equal(r.status, 200);
  const csv = csvRecords(r.body);
  compareCsv(t, csv, s);
  t.equal(csv.find((x) => x.type === 'listener')!.protocol, 'http', 'an L7 listener speaks HTTP');
  t.equal(csv.find((x) => x.type === 'backend')!.responses_2xx, '10');
});
