/**
 * The /stats document (README "Admin API"), built from the live counters.
 * Fields beyond the documented core (`pool` with `panic` and `queued`,
 * `check`, `circuit`, `effective_weight`, `source`, `priority`, peaks,
 * rates, error classes, `listeners` with their `protocol`, `sessions`,
 * `ends`, `descriptors`, `draining`, `version`) are additions for operators and the
 * dashboard; the core fields keep their exact names and meaning.
 */
import type { Backend } from '../core/backend.js';
import { END_REASONS } from '../core/ends.js';
import { VERSION } from './version.js';
import type { AdminSource, RelayReport } from './source.js';

export interface BackendStatsJson {
  name: string;
  address: string;
  weight: number;
  state: string;
  active: number;
  total: number;
  failures: number;
  bytes_in: number;
  bytes_out: number;
  last_used: string | null;
  source: string;
  [extra: string]: unknown;
}

/** The /stats document (README "Admin API" describes every field). */
export interface StatsDocument {
  mode: 'l4' | 'l7';
  strategy: string;
  uptime_s: number;
  connections: { active: number; total: number };
  sessions: { current: number; max: number; limit: number | null; rate: number; max_rate: number };
  /** Ended connections by end reason (every reason of END_REASONS, 0 included). */
  ends: Record<string, number>;
  backends: BackendStatsJson[];
  pools: Array<{ name: string; strategy: string; panic: boolean; queued: number; max_queued: number; queue_limit: number; up: number; total: number }>;
  pool: { name: string; panic: boolean; queued: number };
  listeners: Array<Record<string, unknown>>;
  draining: boolean;
  relay: RelayReport;
  version: string;
  [extra: string]: unknown;
}

/** ISO time of `ms` since epoch, or null for 0. */
function iso(ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null;
}

/** One backend's /stats entry; `limit` is --backend-max-conns (0 = none). */
export function backendStats(b: Backend, pool?: string, limit = 0, now = Date.now()): BackendStatsJson {
  return {
    name: b.name,
    ...(pool === undefined ? {} : { pool }),
    address: b.address,
    weight: b.configWeight,
    state: b.state,
    active: b.active,
    total: b.total,
    failures: b.failures,
    bytes_in: b.bytesIn,
    bytes_out: b.bytesOut,
    last_used: iso(b.lastUsed),
    // who put it there: `config`, `api`, or the discovery source (`dns:HOST:PORT`, `srv:NAME`)
    source: b.source,
    // srv: targets: the SRV priority (lower first; higher ones wait while one of the lowest is up)
    ...(b.priority >= 0 ? { priority: b.priority } : {}),
    effective_weight: b.weight,
    // sessions (HAProxy's scur/smax/slim) and their rate per second now and at its peak
    max_active: b.maxActive,
    limit: limit > 0 ? limit : null,
    rate: b.rate,
    max_rate: b.maxRate,
    // error and warning classes: connect failures are `failures`
    response_errors: b.responseErrors,
    redispatches: b.redispatches,
    replays: b.replays,
    downtime_s: Math.round(b.downtime(now) / 1000),
    last_change: iso(b.lastChange),
    check: {
      up: b.check.up,
      last: b.check.lastResult,
      last_at: iso(b.check.lastCheckAt),
      duration_ms: b.check.lastDurationMs,
    },
    circuit: b.circuit.state,
    // the latency estimate p2c-ewma uses (ms: connect time in L4, time to first byte in L7); null before a sample
    ewma_ms: b.ewma.sampled ? Math.round(b.ewma.value * 1000) / 1000 : null,
    // L7: final responses by status class, and a latency summary (null before the first request)
    responses: { '1xx': b.responses[1], '2xx': b.responses[2], '3xx': b.responses[3], '4xx': b.responses[4], '5xx': b.responses[5] },
    latency_ms: b.latency.count > 0 ? b.latency.summary() : null,
  };
}

/** Ended connections by end reason, as a JSON object (every reason present, 0 included). */
export function endsJson(ends: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  END_REASONS.forEach((r, i) => (out[r] = ends[i] ?? 0));
  return out;
}

/** The /stats `clients` object: `tracked`, `limited`, and `store` with --limit-store. */
export function clientsJson(lb: AdminSource): Record<string, unknown> {
  const c = lb.clients;
  const out: Record<string, unknown> = { tracked: c.tracked, limited: c.limited };
  if (lb.config.limitStore !== null) out.store = c.storeStatus ?? 'down';
  return out;
}

export function buildStats(lb: AdminSource): StatsDocument {
  lb.sync();
  const pools = [...lb.pools.values()];
  const def = lb.defaultPool;
  const conns = lb.connections;
  const c = lb.config;
  const now = Date.now();
  return {
    mode: lb.config.mode,
    strategy: def.factory.name,
    uptime_s: Math.round((Date.now() - lb.startedAt) / 100) / 10,
    connections: { active: conns.active, total: conns.total },
    // peaks, the --max-conns limit, and the connection rate per second now and at its peak
    sessions: { current: conns.active, max: conns.maxActive, limit: c.maxConns > 0 ? c.maxConns : null, rate: conns.rate, max_rate: conns.maxRate },
    // ended connections by end reason (the access log's `end`)
    ends: endsJson(conns.ends),
    // per-client limits: client IPs in the table now, refusals since start (and the shared store's state)
    clients: clientsJson(lb),
    backends: pools.flatMap((p) => p.backends.map((b) => backendStats(b, p.name, c.backendMaxConns, now))),
    pools: pools.map((p) => ({ name: p.name, strategy: p.factory.name, panic: p.panic, queued: lb.queueLength(p), max_queued: p.maxQueued, queue_limit: c.maxQueue, up: p.upCount(), total: p.backends.length })),
    pool: { name: def.name, panic: def.panic, queued: lb.queueLength(def) },
    listeners: lb.listenerStats.map((l) => ({
      address: l.address,
      port: l.port,
      tls: l.tls,
      // what the listener speaks to clients: tcp/tls (L4), http/https (L7); `proxy`: a PROXY header is expected first (--accept-proxy)
      protocol: c.mode === 'l7' ? (l.tls ? 'https' : 'http') : l.tls ? 'tls' : 'tcp',
      proxy: c.acceptProxy,
      accepted: l.accepted,
      active: l.active,
      rejected: l.rejected,
      tls_failures: l.tlsFailures,
      proxy_errors: l.proxyErrors,
      max_active: l.maxActive,
      rate: l.rate,
      max_rate: l.maxRate,
      // TLS handshakes under way; times accepting paused for want of descriptors
      handshakes: l.handshakes,
      accept_pauses: l.pauses,
    })),
    // this process's descriptor limit, the client ceiling derived from it (0 = none) and what is open now
    // the descriptor limit, the client ceiling derived from it, and descriptors open now
    descriptors: lb.descriptorReport(),
    draining: lb.draining,
    // how L4 tunnels move bytes: on the native relay thread, or in JavaScript (and why)
    relay: lb.relayReport(),
    version: VERSION,
  };
}
