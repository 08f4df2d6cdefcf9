/**
 * The /stats document (SPEC section 5), built from the live counters.
 * Fields beyond SPEC's (`pool` with `panic` and `queued`, `check`, `circuit`,
 * `effective_weight`, `listeners`, `draining`, `version`) are additions for
 * the dashboard; SPEC's own fields keep their exact names and meaning.
 */
import type { Backend } from '../core/backend.js';
import { END_REASONS } from '../core/ends.js';
import { VERSION } from './version.js';
import type { AdminSource } from './source.js';

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
  [extra: string]: unknown;
}

export function backendStats(b: Backend, pool?: string): BackendStatsJson {
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
    last_used: b.lastUsed > 0 ? new Date(b.lastUsed).toISOString() : null,
    effective_weight: b.weight,
    check: {
      up: b.check.up,
      last: b.check.lastResult,
      last_at: b.check.lastCheckAt > 0 ? new Date(b.check.lastCheckAt).toISOString() : null,
      duration_ms: b.check.lastDurationMs,
    },
    circuit: b.circuit.state,
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

export function buildStats(lb: AdminSource): Record<string, unknown> {
  lb.sync();
  const pools = [...lb.pools.values()];
  const def = lb.defaultPool;
  const conns = lb.connections;
  return {
    mode: lb.config.mode,
    strategy: def.factory.name,
    uptime_s: Math.round((Date.now() - lb.startedAt) / 100) / 10,
    connections: { active: conns.active, total: conns.total },
    // ended connections by end reason (the access log's `end`)
    ends: endsJson(conns.ends),
    // per-client limits: client IPs in the table now, refusals since start (and the shared store's state)
    clients: clientsJson(lb),
    backends: pools.flatMap((p) => p.backends.map((b) => backendStats(b, p.name))),
    pools: pools.map((p) => ({ name: p.name, strategy: p.factory.name, panic: p.panic, queued: lb.queueLength(p), up: p.upCount(), total: p.backends.length })),
    pool: { name: def.name, panic: def.panic, queued: lb.queueLength(def) },
    listeners: lb.listenerStats.map((l) => ({
      address: l.address,
      port: l.port,
      tls: l.tls,
      accepted: l.accepted,
      active: l.active,
      rejected: l.rejected,
      tls_failures: l.tlsFailures,
      proxy_errors: l.proxyErrors,
    })),
    draining: lb.draining,
    // how L4 tunnels move bytes: on the native relay thread, or in JavaScript (and why)
    relay: lb.relayReport(),
    version: VERSION,
  };
}
