/**
 * `GET /stats.csv` (also `/stats;csv`, HAProxy's spelling): the /stats
 * document as one CSV table, like HAProxy's `;csv` export: a header row,
 * then one row per listener (HAProxy's frontend), per pool (its backend
 * summary line) and per backend (its server), told apart by the `type`
 * column. RFC 4180: CRLF line ends, a field holding a comma, a double quote,
 * CR or LF is quoted and its quotes doubled; an absent value (a column that
 * does not apply to the row, or a JSON null) is an empty field.
 *
 * Built from buildStats()'s document, so every value equals its /stats
 * counterpart (README "Admin API" lists the columns).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The columns, in order. Each row fills the ones that apply to its type. */
export const CSV_COLUMNS = [
  'type', 'name', 'pool', 'address', 'protocol', 'proxy', 'state', 'strategy', 'weight', 'effective_weight',
  'active', 'max_active', 'limit', 'rate', 'max_rate', 'total',
  'queued', 'max_queued', 'queue_limit', 'up', 'backends',
  'failures', 'response_errors', 'redispatches', 'replays', 'rejected', 'tls_failures', 'proxy_errors',
  'bytes_in', 'bytes_out', 'downtime_s', 'last_change', 'last_used',
  'check_last', 'check_duration_ms', 'check_at', 'circuit',
  'responses_1xx', 'responses_2xx', 'responses_3xx', 'responses_4xx', 'responses_5xx',
  'latency_p50_ms', 'latency_p90_ms', 'latency_p99_ms', 'latency_max_ms',
] as const;

type Row = Partial<Record<(typeof CSV_COLUMNS)[number], unknown>>;

/** One field, quoted when RFC 4180 asks for it. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const SUMMED = ['active', 'total', 'failures', 'response_errors', 'redispatches', 'replays', 'bytes_in', 'bytes_out'] as const;

/** The rows of a /stats document: listeners, then each pool followed by its backends. */
export function statsRows(doc: Json): Row[] {
  const rows: Row[] = [];
  const sessions = doc.sessions ?? {};
  for (const l of doc.listeners ?? []) {
    rows.push({
      type: 'listener',
      name: `${String(l.address).replace(/:\d+$/, '')}:${l.port}`,
      address: l.address,
      protocol: l.protocol,
      proxy: l.proxy,
      active: l.active,
      max_active: l.max_active,
      limit: sessions.limit,
      rate: l.rate,
      max_rate: l.max_rate,
      total: l.accepted,
      rejected: l.rejected,
      tls_failures: l.tls_failures,
      proxy_errors: l.proxy_errors,
    });
  }
  const backends: Json[] = doc.backends ?? [];
  for (const p of doc.pools ?? []) {
    const members = backends.filter((b) => b.pool === p.name);
    const sum: Row = {};
    for (const f of SUMMED) sum[f] = members.reduce((n, b) => n + (Number(b[f]) || 0), 0);
    rows.push({
      type: 'pool',
      name: p.name,
      pool: p.name,
      strategy: p.strategy,
      state: p.panic ? 'panic' : p.up > 0 ? 'up' : 'down',
      ...sum,
      queued: p.queued,
      max_queued: p.max_queued,
      queue_limit: p.queue_limit,
      up: p.up,
      backends: p.total,
    });
    for (const b of members) rows.push(backendRow(b));
  }
  return rows;
}

function backendRow(b: Json): Row {
  const r = b.responses ?? {};
  const lat = b.latency_ms ?? {};
  const ck = b.check ?? {};
  return {
    type: 'backend',
    name: b.name,
    pool: b.pool,
    address: b.address,
    state: b.state,
    weight: b.weight,
    effective_weight: b.effective_weight,
    active: b.active,
    max_active: b.max_active,
    limit: b.limit,
    rate: b.rate,
    max_rate: b.max_rate,
    total: b.total,
    failures: b.failures,
    response_errors: b.response_errors,
    redispatches: b.redispatches,
    replays: b.replays,
    bytes_in: b.bytes_in,
    bytes_out: b.bytes_out,
    downtime_s: b.downtime_s,
    last_change: b.last_change,
    last_used: b.last_used,
    check_last: ck.last,
    check_duration_ms: ck.last === null || ck.last === undefined ? null : ck.duration_ms,
    check_at: ck.last_at,
    circuit: b.circuit,
    responses_1xx: r['1xx'],
    responses_2xx: r['2xx'],
    responses_3xx: r['3xx'],
    responses_4xx: r['4xx'],
    responses_5xx: r['5xx'],
    latency_p50_ms: lat.p50,
    latency_p90_ms: lat.p90,
    latency_p99_ms: lat.p99,
    latency_max_ms: lat.max,
  };
}

/** The whole CSV text: header row, then the rows, each line ending in CRLF. */
export function statsCsv(doc: Json): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of statsRows(doc)) lines.push(CSV_COLUMNS.map((c) => csvField(row[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}
