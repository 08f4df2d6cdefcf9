/**
 * The /stats document (SPEC section 5), built from the live counters.
 * Fields beyond SPEC's (`pool` with `panic` and `queued`, `check`, `circuit`,
 * `effective_weight`, `listeners`, `descriptors`, `draining`, `version`) are additions for
 * the dashboard; SPEC's own fields keep their exact names and meaning.
 */
import type { Balancer } from '../balancer.js';
import type { Backend } from '../core/backend.js';
import { VERSION } from './metrics.js';
import { latencySummary } from '../l7/latency.js';
import { relayStats } from '../l4/relay.js';
import { openDescriptors } from '../descriptors.js';

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
    latency_ms: latencySummary(b),
  };
}

export function buildStats(lb: Balancer): Record<string, unknown> {
  lb.syncLiveCounters();
  return {
    mode: lb.config.mode,
    strategy: lb.pool.factory.name,
    uptime_s: Math.round((Date.now() - lb.startedAt) / 100) / 10,
    connections: { active: lb.connectionsActive, total: lb.connectionsTotal },
    backends: [...lb.pools.values()].flatMap((p) => p.backends.map((b) => backendStats(b, p.name))),
    pools: [...lb.pools.values()].map((p) => ({ name: p.name, strategy: p.factory.name, panic: p.panic, queued: lb.queueLength(p), up: p.upCount(), total: p.backends.length })),
    pool: { name: lb.pool.name, panic: lb.pool.panic, queued: lb.queueLength(lb.pool) },
    listeners: lb.listeners.map((l) => ({
      address: l.stats.address,
      port: l.stats.port,
      tls: l.stats.tls,
      accepted: l.stats.accepted,
      active: l.stats.active,
      rejected: l.stats.rejected,
      tls_failures: l.stats.tlsFailures,
      proxy_errors: l.stats.proxyErrors,
      // TLS handshakes under way; times accepting paused for want of descriptors
      handshakes: l.stats.handshakes,
      accept_pauses: l.stats.pauses,
    })),
    // this process's descriptor limit, the client ceiling derived from it (0 = none) and what is open now
    descriptors: { limit: lb.descriptors.limit, max_clients: lb.descriptors.maxClients, open: openDescriptors() },
    draining: lb.draining,
    // how L4 tunnels move bytes: on the native relay thread, or in JavaScript (and why)
    relay: relayStats(),
    version: VERSION,
  };
}
