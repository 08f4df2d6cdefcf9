/**
 * The CSV export of /stats (src/admin/csv.ts): RFC 4180 quoting, CRLF line
 * ends, a header row, and one row per listener, pool and backend with the
 * values of the JSON document (read back with the tests' own parser).
 */
import t from 'tap';
import { CSV_COLUMNS, csvField, statsCsv } from '../../src/admin/csv.js';
import { csvRecords, parseCsv } from '../helpers/admin.js';

t.test('fields: quoted only when needed, quotes doubled, null empty', async (t) => {
  t.equal(csvField('plain'), 'plain');
  t.equal(csvField('a,b'), '"a,b"');
  t.equal(csvField('say "hi"'), '"say ""hi"""');
  t.equal(csvField('two\r\nlines'), '"two\r\nlines"');
  t.equal(csvField('lf\nonly'), '"lf\nonly"');
  t.equal(csvField(null), '');
  t.equal(csvField(undefined), '');
  t.equal(csvField(0), '0');
  t.equal(csvField(1.5), '1.5');
  t.equal(csvField(false), 'false');
  t.equal(csvField(NaN), '');
});

const doc = {
  mode: 'l7',
  sessions: { current: 3, max: 9, limit: 100, rate: 2, max_rate: 7 },
  listeners: [{ address: '127.0.0.1:0', port: 8080, tls: true, protocol: 'https', proxy: true, accepted: 40, active: 3, rejected: 1, tls_failures: 2, proxy_errors: 0, max_active: 9, rate: 2, max_rate: 7 }],
  pools: [{ name: 'web', strategy: 'round-robin', panic: false, queued: 1, max_queued: 4, queue_limit: 1024, up: 1, total: 2 }],
  backends: [
    {
      name: 'a', pool: 'web', address: '127.0.0.1:81', weight: 2, effective_weight: 2, state: 'up', active: 2, max_active: 5, limit: null, rate: 1, max_rate: 4, total: 30,
      failures: 1, response_errors: 2, redispatches: 1, replays: 0, bytes_in: 1000, bytes_out: 5000, downtime_s: 0, last_change: null, last_used: '2026-01-01T00:00:00.000Z',
      check: { up: true, last: 'ok', last_at: '2026-01-01T00:00:01.000Z', duration_ms: 1.5 }, circuit: 'closed',
      responses: { '1xx': 0, '2xx': 25, '3xx': 1, '4xx': 2, '5xx': 2 }, latency_ms: { count: 30, p50: 1.2, p90: 3.4, p99: 9.9, max: 12 },
    },
    {
      name: 'b', pool: 'web', address: '[::1]:82', weight: 1, effective_weight: 1, state: 'down', active: 1, max_active: 1, limit: 10, rate: 0, max_rate: 1, total: 3,
      failures: 4, response_errors: 0, redispatches: 0, replays: 1, bytes_in: 10, bytes_out: 20, downtime_s: 12, last_change: '2026-01-01T00:00:02.000Z', last_used: null,
      check: { up: false, last: 'status 503, "bad"', last_at: '2026-01-01T00:00:03.000Z', duration_ms: 2 }, circuit: 'open',
      responses: { '1xx': 0, '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 0 }, latency_ms: null,
    },
  ],
};

t.test('the table: header, listener, pool (sums), backends', async (t) => {
  const text = statsCsv(doc);
  t.ok(text.endsWith('\r\n'), 'ends with CRLF');
  t.notMatch(text.replace(/\r\n/g, ''), /[\r\n]/, 'every line ends in CRLF (no field here holds a line break)');
  const rows = parseCsv(text);
  t.same(rows[0], [...CSV_COLUMNS], 'header row');
  t.ok(rows.every((r) => r.length === CSV_COLUMNS.length), 'every row has every column');
  const recs = csvRecords(text);
  t.same(recs.map((r) => `${r.type}:${r.name}`), ['listener:127.0.0.1:8080', 'pool:web', 'backend:a', 'backend:b']);
  const [l, p, a, b] = recs as [Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>];
  t.match(l, { protocol: 'https', proxy: 'true', active: '3', max_active: '9', limit: '100', rate: '2', max_rate: '7', total: '40', rejected: '1', tls_failures: '2', proxy_errors: '0', state: '' });
  t.match(p, { strategy: 'round-robin', state: 'up', queued: '1', max_queued: '4', queue_limit: '1024', up: '1', backends: '2', active: '3', total: '33', failures: '5', bytes_out: '5020' });
  t.match(a, { address: '127.0.0.1:81', weight: '2', limit: '', check_last: 'ok', check_duration_ms: '1.5', responses_2xx: '25', responses_5xx: '2', latency_p99_ms: '9.9', last_change: '' });
  t.equal(b.check_last, 'status 503, "bad"', 'a comma and quotes survive the round trip');
  t.match(text, /,"status 503, ""bad""",/, 'quoted in the text');
  t.match(b, { address: '[::1]:82', state: 'down', limit: '10', downtime_s: '12', circuit: 'open', latency_p50_ms: '', replays: '1' });
});
