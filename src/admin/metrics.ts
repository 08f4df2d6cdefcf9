/**
 * `GET /metrics`: the Prometheus text exposition (docs/reference.md, "Admin API"), with
 * prom-client and a Registry of our own (never the global one, so two
 * balancers in one process, or an embedder's own metrics, never collide).
 *
 * No second bookkeeping on the hot path: the data path keeps its counters on
 * Backend, ListenerStats and the AdminSource (the same ones /stats reads), and
 * every metric here reads them at scrape time in its `collect()` callback.
 *
 * - Gauges: `collect()` resets the gauge and sets one value per series.
 * - Counters: prom-client's Counter, whose `collect()` re-seeds it from the
 *   source counter: `reset()` then `inc(labels, absoluteValue)`. The exposed
 *   value is therefore exactly the authoritative counter (no lost deltas, no
 *   drift), series of backends removed by a reload disappear, and a backend
 *   re-created under the same name (new address) restarts from 0, which
 *   Prometheus' rate() reads as an ordinary counter reset. (The alternative,
 *   `inc(delta since last scrape)`, cannot go down in that case and needs a
 *   per-series memory; a Gauge typed as counter would lie about its TYPE.)
 * - Histograms are the only metrics fed by events: health-check durations
 *   (through HealthChecker.observers, off the data path) and L7 request
 *   durations (observeRequestDuration, called once per finished request).
 *
 * Every metric is listed in the README, section "Operating lb4", in a table
 * generated from this registry (src/admin/metrics-docs.ts, `npm run
 * docs:metrics`; a unit test fails when it drifts). The names are the same
 * in both modes; `lb4_info{mode}` tells them apart. lb4 exports no `lb4_up`:
 * Prometheus' own `up` says whether the scrape worked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Backend, BackendState } from '../core/backend.js';
import { END_REASONS } from '../core/ends.js';
import type { ListenerStats } from '../core/listener-stats.js';
import type { Pool } from '../core/pool.js';
import type { AdminSource } from './source.js';
import { VERSION } from './version.js';

export { VERSION } from './version.js';

const STATES: readonly BackendState[] = ['up', 'down', 'draining', 'disabled'];
const CLASSES = ['', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Buckets (seconds) for health-check durations: TCP connects on a LAN up to a timed-out check. */
const CHECK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Buckets (seconds) for L7 request durations: from a cached answer to a slow upstream. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type BackendLabels = 'backend' | 'pool';

/** The metrics of one balancer. Built once, when its admin server is built. */
export class LbMetrics {
  readonly registry = new Registry();
  private readonly lb: AdminSource;
  private readonly checkDuration: Histogram<BackendLabels | 'result'>;
  private readonly requestDuration: Histogram<BackendLabels>;

  constructor(lb: AdminSource) {
    this.lb = lb;
    const registers = [this.registry];
    const l7 = lb.config.mode === 'l7';

    // ---- per backend ----
    new Gauge({
      name: 'lb4_backend_state',
      help: 'Backend state: 1 for the current state (up, down, draining, disabled), 0 for the others.',
      labelNames: ['backend', 'pool', 'state'] as const,
      registers,
      collect() {
        this.reset();
        eachBackend(lb, (b, pool) => {
          const s = b.state;
          for (const st of STATES) this.set({ backend: b.name, pool: pool.name, state: st }, s === st ? 1 : 0);
        });
      },
    });
    // One name in both modes (dashboards and alerts need not know the mode):
    // a session is what the backend is picked for, a client connection in
    // l4 and an HTTP request in l7; lb4_info{mode} says which.
    backendGauge(lb, registers, 'lb4_backend_active_sessions', 'Sessions the backend serves now: client connections in l4 mode, HTTP requests in flight in l7 mode (see lb4_info{mode}); /stats "active".', (b) => b.active);
    backendCounter(lb, registers, 'lb4_backend_sessions_total', 'Sessions that reached the backend: client connections in l4 mode, HTTP requests in l7 mode (see lb4_info{mode}); not failed connects, not health checks; /stats "total".', (b) => b.total);
    backendCounter(lb, registers, 'lb4_backend_connect_failures_total', 'Failed connects to the backend (each one, retried or not).', (b) => b.failures);
    backendCounter(lb, registers, 'lb4_backend_bytes_in_total', 'Bytes sent from clients to the backend.', (b) => b.bytesIn);
    backendCounter(lb, registers, 'lb4_backend_bytes_out_total', 'Bytes sent from the backend to clients.', (b) => b.bytesOut);
    new Gauge({
      name: 'lb4_backend_latency_ewma_seconds',
      help: 'The peak-EWMA latency estimate p2c-ewma picks by (connect time in l4, time to first response byte in l7); absent before the first sample.',
      labelNames: ['backend', 'pool'] as const,
      registers,
      collect() {
        this.reset();
        eachBackend(lb, (b, pool) => {
          if (b.ewma.sampled) this.set({ backend: b.name, pool: pool.name }, b.ewma.value / 1000);
        });
      },
    });
    backendGauge(lb, registers, 'lb4_backend_weight', 'Configured weight of the backend (0 = no new traffic).', (b) => b.configWeight);
    backendGauge(lb, registers, 'lb4_backend_effective_weight', 'Weight the picker uses now (slow start applied; scaled while slow start is on).', (b) => b.weight);
    backendGauge(lb, registers, 'lb4_backend_health_check_up', 'What the active health checks say: 1 up, 0 down (before the passive circuit and admin state).', (b) => (b.check.up ? 1 : 0));
    new Gauge({
      name: 'lb4_backend_circuit_state',
      help: 'Passive circuit breaker: 1 for the current state (closed, open, half-open), 0 for the others.',
      labelNames: ['backend', 'pool', 'state'] as const,
      registers,
      collect() {
        this.reset();
        eachBackend(lb, (b, pool) => {
          for (const st of ['closed', 'open', 'half-open'] as const) this.set({ backend: b.name, pool: pool.name, state: st }, b.circuit.state === st ? 1 : 0);
        });
      },
    });
    this.checkDuration = new Histogram({
      name: 'lb4_backend_health_check_duration_seconds',
      help: 'Duration of active health checks, by result (ok or fail).',
      labelNames: ['backend', 'pool', 'result'] as const,
      buckets: CHECK_BUCKETS,
      registers,
    });
    if (l7) {
      new Counter({
        name: 'lb4_backend_responses_total',
        help: 'HTTP responses from the backend, by status class (1xx..5xx).',
        labelNames: ['backend', 'pool', 'class'] as const,
        registers,
        collect() {
          this.reset();
          eachBackend(lb, (b, pool) => {
            for (let i = 1; i <= 5; i++) this.inc({ backend: b.name, pool: pool.name, class: CLASSES[i]! }, b.responses[i] ?? 0);
          });
        },
      });
    }
    this.requestDuration = new Histogram({
      name: 'lb4_request_duration_seconds',
      help: 'L7: time from a request head to the end of its response, by backend.',
      labelNames: ['backend', 'pool'] as const,
      buckets: REQUEST_BUCKETS,
      registers: l7 ? registers : [],
    });

    // ---- per listener ----
    const listenerCounter = (name: string, help: string, get: (s: ListenerStats) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['listener', 'tls'] as const,
        registers,
        collect() {
          this.reset();
          for (const l of lb.listenerStats) this.inc(listenerLabels(l), get(l));
        },
      });
    };
    listenerCounter('lb4_listener_accepted_connections_total', 'Client connections accepted (after the TLS handshake when TLS is terminated).', (s) => s.accepted);
    listenerCounter('lb4_listener_rejected_connections_total', 'Client connections closed at once because of --max-conns or the descriptor ceiling.', (s) => s.rejected);
    listenerCounter('lb4_listener_tls_handshake_failures_total', 'Failed TLS handshakes.', (s) => s.tlsFailures);
    listenerCounter('lb4_listener_proxy_protocol_errors_total', 'Client connections closed for a bad or missing PROXY protocol header.', (s) => s.proxyErrors);
    listenerCounter('lb4_listener_accept_pauses_total', 'Times the listener stopped accepting for a moment because accept() ran out of file descriptors.', (s) => s.pauses);
    new Gauge({
      name: 'lb4_listener_tls_handshakes',
      help: 'TLS handshakes under way on the listener right now (bounded by --handshake-timeout).',
      labelNames: ['listener', 'tls'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of lb.listenerStats) this.set(listenerLabels(l), l.handshakes);
      },
    });
    new Gauge({
      name: 'lb4_listener_active_connections',
      help: 'Client connections open on the listener right now.',
      labelNames: ['listener', 'tls'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of lb.listenerStats) this.set(listenerLabels(l), l.active);
      },
    });

    // ---- global ----
    new Gauge({
      name: 'lb4_connections_active',
      help: 'Client connections open right now, all listeners.',
      registers,
      collect() {
        this.set(lb.connections.active);
      },
    });
    new Counter({
      name: 'lb4_connections_total',
      help: 'Client connections handled since start (not counting those rejected by --max-conns).',
      registers,
      collect() {
        this.reset();
        this.inc(lb.connections.total);
      },
    });
    new Counter({
      name: 'lb4_connection_ends_total',
      help: 'Client connections ended, by end reason (the access log\'s `end`; refusals by --max-conns included).',
      labelNames: ['end'] as const,
      registers,
      collect() {
        this.reset();
        const ends = lb.connections.ends;
        END_REASONS.forEach((r, i) => this.inc({ end: r }, ends[i] ?? 0));
      },
    });
    new Gauge({
      name: 'lb4_clients_tracked',
      help: 'Client IPs in the per-client limits table now (--client-max-conns, --client-rate).',
      registers,
      collect() {
        this.set(lb.clients.tracked);
      },
    });
    new Counter({
      name: 'lb4_clients_limited_total',
      help: 'Client connections (l4) or requests (l7) refused by --client-max-conns or --client-rate since start.',
      registers,
      collect() {
        this.reset();
        this.inc(lb.clients.limited);
      },
    });
    if (lb.config.limitStore !== null) {
      new Gauge({
        name: 'lb4_limit_store_up',
        help: '1 while the --limit-store Redis is reachable, 0 while --client-rate is counted locally.',
        registers,
        collect() {
          this.set(lb.clients.storeStatus === 'up' ? 1 : 0);
        },
      });
    }
    new Gauge({
      name: 'lb4_pool_panic',
      help: 'Panic mode: 1 while no backend of the pool is up and the down ones are tried.',
      labelNames: ['pool'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of pools(lb)) this.set({ pool: p.name }, p.panic ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lb4_pool_info',
      help: 'The strategy of each pool as a label; the value is always 1.',
      labelNames: ['pool', 'strategy'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of pools(lb)) this.set({ pool: p.name, strategy: p.factory.name }, 1);
      },
    });
    new Gauge({
      name: 'lb4_pool_backends_up',
      help: 'Backends of the pool whose state is up.',
      labelNames: ['pool'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of pools(lb)) this.set({ pool: p.name }, p.upCount());
      },
    });
    new Gauge({
      name: 'lb4_queue_waiting',
      help: 'Clients waiting in the pool\'s queue for a free backend slot.',
      labelNames: ['pool'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of pools(lb)) this.set({ pool: p.name }, lb.queueLength(p));
      },
    });
    new Gauge({
      name: 'lb4_draining',
      help: '1 during the shutdown drain (listeners closed, open connections finishing).',
      registers,
      collect() {
        this.set(lb.draining ? 1 : 0);
      },
    });
    new Gauge({
      name: 'lb4_info',
      help: 'Build and settings facts as labels: version, mode (l4: a session is a client connection; l7: an HTTP request), strategy (of the default pool); the value is always 1.',
      labelNames: ['version', 'mode', 'strategy'] as const,
      registers,
      collect() {
        this.reset();
        this.set({ version: VERSION, mode: lb.config.mode, strategy: lb.defaultPool.factory.name }, 1);
      },
    });

    // process_*/nodejs_* metrics, prefixed lb4_ (lb4_process_cpu_seconds_total...)
    collectDefaultMetrics({ register: this.registry, prefix: 'lb4_' });

    lb.checkObservers.push((b, r) => {
      this.checkDuration.observe({ backend: b.name, pool: poolOf(lb, b), result: r.ok ? 'ok' : 'fail' }, r.durationMs / 1000);
    });
  }

  /**
   * L7: one request finished (request head received → last response byte
   * sent), in seconds, under the backend that served it and the pool it was
   * picked from. Called once per finished request; it does not allocate
   * beyond prom-client's label hashing.
   */
  observeRequest(b: Backend, pool: Pool, seconds: number): void {
    this.requestDuration.observe({ backend: b.name, pool: pool.name }, seconds);
  }

  /** The exposition text and its Content-Type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    this.lb.sync();
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** Register `GET /metrics` on an admin server. */
  register(admin: { routes: Map<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>> }): void {
    admin.routes.set('/metrics', async (req, res) => {
      const { body, contentType } = await this.scrape();
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  }
}

// ---- helpers ----

/** Every pool of the balancer (`default` is the one built from --backend). */
function pools(lb: AdminSource): Iterable<Pool> {
  return lb.pools.values();
}

function poolOf(lb: AdminSource, b: Backend): string {
  return lb.poolOf(b)?.name ?? lb.defaultPool.name;
}

function eachBackend(lb: AdminSource, fn: (b: Backend, pool: Pool) => void): void {
  for (const p of pools(lb)) for (const b of p.backends) fn(b, p);
}

function listenerLabels(l: ListenerStats): { listener: string; tls: string } {
  // the bound address (the real port when 0 was asked), so two `:0` listeners stay apart
  return { listener: l.bound, tls: l.tls ? 'true' : 'false' };
}

function backendGauge(lb: AdminSource, registers: Registry[], name: string, help: string, get: (b: Backend) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['backend', 'pool'] as const,
    registers,
    collect() {
      this.reset();
      eachBackend(lb, (b, pool) => this.set({ backend: b.name, pool: pool.name }, get(b)));
    },
  });
}

function backendCounter(lb: AdminSource, registers: Registry[], name: string, help: string, get: (b: Backend) => number): void {
  new Counter({
    name,
    help,
    labelNames: ['backend', 'pool'] as const,
    registers,
    collect() {
      this.reset();
      eachBackend(lb, (b, pool) => this.inc({ backend: b.name, pool: pool.name }, get(b)));
    },
  });
}
