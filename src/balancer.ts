/**
 * The running balancer. It only wires: it builds the parts once and hands
 * each a narrow service (docs/architecture.md, "Parts"), then starts,
 * reloads and stops them. No connection calls back into it.
 *
 *   PoolSet        pools and their wait queues           src/stream/pools.ts
 *   HealthEvents   passive health, check results        src/health/events.ts
 *   HealthChecker  active checks                         src/health/checker.ts
 *   StreamRegistry open connections, counters, log       src/stream/registry.ts
 *   UpstreamOptions PROXY header and TLS to backends     src/l4/upstream.ts
 *   ClientLimiter  per-client limits (and Redis store)   src/limits/client-limiter.ts
 *   ClientRoutes   routing by client IP/country (GeoIP)  src/geo/client-routes.ts
 *   Front          accept, peek, dispatch to a stream    src/stream/front.ts
 *   Listener[]     the bound sockets                     src/l4/listener.ts
 *   AdminServer    /stats, /metrics, dashboard, actions  src/admin/server.ts
 *   Discovery      dns:/srv: sources → PoolSet.setSource src/discovery/discovery.ts
 *
 * The CLI builds a Config and calls start(); embedders use createBalancer()
 * from src/index.ts the same way.
 */
import type { TlsOptions } from 'node:tls';
import type { Config } from './config/types.js';
import { createLoggers, type Loggers } from './logger.js';
import type { Backend } from './core/backend.js';
import type { ListenerStats } from './core/listener-stats.js';
import type { Pool } from './core/pool.js';
import { Listener } from './l4/listener.js';
import { L4Exchange } from './l4/exchange.js';
import { TlsTerminator } from './l4/tls-server.js';
import { OFFLOAD_IDLE_MS, Relay } from './l4/relay.js';
import { UpstreamOptions } from './l4/upstream.js';
import { L7Context } from './l7/context.js';
import { HttpExchange } from './l7/exchange.js';
import { preloadParser } from './l7/parser.js';
import { openDescriptors } from './stream/descriptors.js';
import { AdminServer } from './admin/server.js';
import type { AdminAction, AdminSource, ClientCounters, ConnectionCounters, RelayReport } from './admin/source.js';
import { ClientLimiter } from './limits/client-limiter.js';
import { ClientRoutes } from './geo/client-routes.js';
import { HealthChecker } from './health/checker.js';
import { HealthEvents, type CheckObserver } from './health/events.js';
import type { ProbeTarget } from './health/probes.js';
import { PoolSet } from './stream/pools.js';
import { Discovery } from './discovery/discovery.js';
import type { BackendSpec } from './config/parse.js';
import { StreamRegistry } from './stream/registry.js';
import { Front } from './stream/front.js';
import type { StreamServices } from './stream/services.js';
import { MemoryReclaimer } from './reclaim.js';
import { strategyLookup, type PickerFactory, type StrategyLookup } from './core/pickers/index.js';
import { UsageError } from './core/errors.js';
import { buildStats, type StatsDocument } from './admin/stats.js';

export interface BalancerOptions {
  /** Loggers to use instead of stdout ones (tests). */
  loggers?: Loggers;
  /** Run active health checks (default true; a --workers worker applies the primary's verdicts instead). */
  activeChecks?: boolean;
  /** `js`: every L4 tunnel in JavaScript, none handed to the native relay (the CLI's LB4_RELAY=js). */
  relay?: 'native' | 'js';
  /**
   * Strategies of this balancer beyond the built-in ones (library users'
   * custom pickers, src/core/pickers/picker.ts). Build the config with the
   * same list (`configFrom(options, { strategies })`) so that `strategy:`
   * may name them. Nothing is registered process-wide.
   */
  strategies?: readonly PickerFactory[];
  /** Resolve dns:/srv: sources (default true; a --workers worker gets the primary's answers instead). */
  discovery?: boolean;
  /** The PoolSet carries no connections (the --workers primary): see PoolSetOptions.mirror. */
  mirror?: boolean;
  /** No `backend added`/`removed` lines (a --workers worker: the primary logs them once). */
  quietMembership?: boolean;
}

/** Settings a reload cannot change: kept, and each change logged as `config change needs restart`. */
const RESTART_ONLY: ReadonlyArray<keyof Config> = ['listen', 'mode', 'tlsCert', 'tlsKey', 'tlsMinVersion', 'admin', 'logLevel', 'acceptProxy', 'tlsClientCa', 'alpn', 'tlsCiphers', 'workers', 'user', 'group'];

export class Balancer implements AdminSource {
  config: Config;
  readonly loggers: Loggers;
  readonly startedAt = Date.now();
  /** Shutting down: listeners closed, /health answers draining. */
  draining = false;

  readonly poolSet: PoolSet;
  readonly health: HealthEvents;
  /** Active checks; null before start() and with --health-check off in a worker. */
  checker: HealthChecker | null = null;
  readonly registry: StreamRegistry;
  readonly upstream: UpstreamOptions;
  /** Per-client limits (--client-max-conns, --client-rate, --limit-store). */
  readonly limiter: ClientLimiter;
  /** Routing by client (`clientRoutes:`, --geoip-db). */
  readonly clientRoutes: ClientRoutes;
  readonly front: Front;
  readonly listeners: Listener[] = [];
  admin: AdminServer | null = null;
  /** Certificates, SNI, tickets and session cache of the TLS listeners; null without --tls-cert. */
  tlsTerminator: TlsTerminator | null = null;
  /** L7 mode: what the HTTP sessions share (upstream connection pool, router). */
  private l7: L7Context | null = null;
  /**
   * Once a second: hand tunnels open for a while to the native relay
   * (src/l4/relay.ts), and give memory back after a spike (src/reclaim.ts).
   */
  private housekeepingTimer: NodeJS.Timeout | null = null;
  /** This balancer's view of the native relay (src/l4/relay.ts): its tunnels' counts, on or off. */
  readonly relay: Relay;
  private readonly reclaimer = new MemoryReclaimer();
  private readonly activeChecks: boolean;
  private readonly findStrategy: StrategyLookup;
  /** The dns:/srv: sources; null in a --workers worker (the primary resolves). */
  readonly discovery: Discovery | null;

  constructor(config: Config, opts: BalancerOptions = {}) {
    try {
      this.findStrategy = strategyLookup(opts.strategies);
    } catch (err) {
      throw new UsageError(`strategies: ${(err as Error).message}`);
    }
    this.checkStrategies(config);
    this.config = config;
    this.activeChecks = opts.activeChecks !== false;
    this.relay = new Relay({ relay: opts.relay });
    this.loggers = opts.loggers ?? createLoggers(config.logLevel);
    const getConfig = (): Config => this.config;
    const log = this.loggers.log;
    this.poolSet = new PoolSet(getConfig, log, { findStrategy: this.findStrategy, mirror: opts.mirror === true, quiet: opts.quietMembership === true, onMembership: () => this.checker?.sync() });
    this.discovery = opts.discovery === false ? null : new Discovery({ setSource: (pool, source, specs) => void this.setSource(pool, source, specs) }, log);
    this.health = new HealthEvents(getConfig, log, this.poolSet);
    this.registry = new StreamRegistry(getConfig, this.loggers);
    this.upstream = new UpstreamOptions(getConfig);
    this.limiter = new ClientLimiter(getConfig, log);
    this.clientRoutes = new ClientRoutes(config, log);
    const registry = this.registry;
    const self = this;
    const svc: StreamServices = {
      get config() {
        return getConfig();
      },
      pools: this.poolSet,
      health: this.health,
      upstream: this.upstream,
      clients: this.limiter,
      clientRoutes: this.clientRoutes,
      streamEnded: (s, reason) => registry.ended(s, reason),
    };
    if (config.mode === 'l7') {
      const l7 = new L7Context({
        get config() {
          return getConfig();
        },
        pools: this.poolSet.byName,
        get defaultPool() {
          return self.poolSet.default;
        },
        get draining() {
          return self.draining;
        },
        accessLog: this.loggers.always,
        get observe() {
          const m = self.admin?.metrics;
          return m === undefined ? null : self.observeRequest;
        },
      });
      this.l7 = l7;
      this.front = new Front(svc, this.poolSet, this.registry, log, (s) => new HttpExchange(l7, s), this.listeners);
    } else {
      this.front = new Front(svc, this.poolSet, this.registry, log, (s) => new L4Exchange(s, this.relay), this.listeners);
    }
  }

  /** L7: one request finished (for /metrics; only called while the admin server is on). */
  private readonly observeRequest = (b: Backend, pool: Pool, seconds: number): void => {
    this.admin?.metrics.observeRequest(b, pool, seconds);
  };

  /** Every pool's strategy must be one this balancer knows (a config built with other custom strategies is refused). */
  private checkStrategies(config: Config): void {
    for (const p of config.pools) {
      if (!this.findStrategy(p.strategy)) {
        throw new UsageError(`pool ${p.name}: strategy "${p.strategy}" is not one of this balancer's (pass the custom strategy to createBalancer(config, { strategies }) too)`);
      }
    }
  }

  // ---- for library users ----

  /** The `/stats` document, built from the live counters (the same as `GET /stats` answers). */
  stats(): StatsDocument {
    return buildStats(this);
  }

  /** The bound port of each listener, in `listen` order (the real one when 0 was asked); empty before start(). */
  get ports(): number[] {
    return this.listeners.map((l) => l.port);
  }

  /** The admin server's bound port, or null without --admin (or before start()). */
  get adminPort(): number | null {
    return this.admin?.port ?? null;
  }

  // ---- AdminSource ----

  get pools(): ReadonlyMap<string, Pool> {
    return this.poolSet.byName;
  }

  get defaultPool(): Pool {
    return this.poolSet.default;
  }

  get connections(): ConnectionCounters {
    return this.registry;
  }

  get clients(): ClientCounters {
    return this.limiter;
  }

  get listenerStats(): readonly ListenerStats[] {
    return this.listeners.map((l) => l.stats);
  }

  get checkObservers(): CheckObserver[] {
    return this.health.observers;
  }

  queueLength(pool: Pool): number {
    return this.poolSet.queueLength(pool);
  }

  relayReport(): RelayReport {
    return this.relay.stats();
  }

  descriptorReport(): { limit: number; max_clients: number; open: number } {
    const fds = this.front.descriptors;
    return { limit: fds.limit, max_clients: fds.maxClients, open: openDescriptors() };
  }

  /**
   * Bring the backends' byte counters up to date with tunnels on the native
   * relay, which count in their own memory. Called before /stats, /metrics
   * and a worker's report; O(open connections).
   */
  sync(): void {
    for (const s of this.registry.open) s.sync();
  }

  findBackend(name: string): Backend | undefined {
    return this.poolSet.find(name);
  }

  poolOf(b: Backend): Pool | undefined {
    return this.poolSet.poolOf(b);
  }

  setAdminState(b: Backend, action: AdminAction): void {
    this.poolSet.setAdminState(b, action);
  }

  addBackend(pool: string | null, spec: BackendSpec): 'ok' | 'exists' | 'no-pool' {
    return this.poolSet.addApi(pool ?? this.poolSet.default.name, spec);
  }

  setBackendWeight(name: string, weight: number): Backend | null {
    return this.poolSet.setWeightApi(name, weight);
  }

  removeBackend(name: string): boolean {
    return this.poolSet.removeApi(name);
  }

  /**
   * Replace what `source` contributes to `pool` (a discovery source's new
   * answer; run-time additions use source `api`): the one membership path,
   * PoolSet.setSource (the health checker follows through onMembership).
   * The --workers primary also sends it to every worker. False when there
   * is no such pool.
   */
  setSource(pool: string, source: string, specs: readonly BackendSpec[]): boolean {
    return this.poolSet.setSource(pool, source, specs);
  }

  // ---- lifecycle ----

  private tlsOptions(): TlsOptions | null {
    const c = this.config;
    if (c.tlsCert === null || c.tlsKey === null) return null;
    this.tlsTerminator ??= new TlsTerminator(c, this.loggers.log);
    return this.tlsTerminator.serverOptions();
  }

  /** Where and how the health checker reaches `b`: upstream TLS and a PROXY header when configured. */
  probeTarget(b: Backend): ProbeTarget {
    const t: ProbeTarget = { host: b.host, port: b.port };
    const tls = this.upstream.tls(b);
    if (tls) t.tls = tls;
    const header = this.upstream.checkHeader(b);
    if (header) t.proxyHeader = header;
    return t;
  }

  /** The active checker, reporting to the health events. */
  protected buildChecker(): HealthChecker {
    const self = this;
    return new HealthChecker({
      get config() {
        return self.config;
      },
      backends: () => this.poolSet.backends(),
      probeTarget: (b) => this.probeTarget(b),
      checkResult: (b, r) => this.health.checkResult(b, r),
      inconclusive: (b, r) => this.health.inconclusive(b, r),
    });
  }

  /**
   * Bind every listener and the admin server, start health checks. Rejects
   * with a ListenError (nothing left open) when a bind fails.
   */
  async start(): Promise<void> {
    const tls = this.tlsOptions();
    if (this.activeChecks) this.checker = this.buildChecker();
    // first answers of the dns:/srv: sources before listening (each bounded; a failure still starts)
    await this.discovery?.sync(this.config);
    this.poolSet.markLive();
    try {
      for (const addr of this.config.listen) {
        const l = new Listener(addr, tls, this.front, { acceptProxy: this.config.acceptProxy, handshakeTimeout: this.config.handshakeTimeout });
        if (l.tlsServer && this.tlsTerminator) this.tlsTerminator.attach(l.tlsServer);
        await l.listen();
        this.listeners.push(l);
      }
      if (this.config.admin) {
        this.admin = new AdminServer(this, this.config.admin);
        await this.admin.listen();
      }
    } catch (err) {
      for (const l of this.listeners) l.close();
      this.admin?.close();
      this.discovery?.stop();
      throw err;
    }
    // load now what the first client would load (the HTTP parser, the relay addon): short of descriptors, it could not
    if (this.config.mode === 'l7') preloadParser();
    else this.relay.preload();
    this.measureDescriptors();
    this.checker?.start();
    this.limiter.start();
    this.housekeepingTimer = setInterval(() => this.housekeeping(), OFFLOAD_IDLE_MS);
    this.housekeepingTimer.unref();
    this.relay.onFailure((message, errno) => this.loggers.log.error({ err: message, errno }, 'l4 relay failed'));
    if (this.config.backendTlsInsecure) this.loggers.log.warn({ setting: 'backendTlsInsecure' }, 'backend certificates are not verified (--backend-tls-insecure)');
  }

  /** The client ceiling from the descriptor limit (src/stream/descriptors.ts), once everything of ours is open. */
  private measureDescriptors(): void {
    const fds = this.front.descriptors;
    fds.measure(this.poolSet.backends().length);
    if (this.loggers.log.isLevelEnabled('debug')) this.loggers.log.debug({ limit: fds.limit, max_clients: fds.maxClients }, 'descriptor limit');
    if (fds.maxClients > 0 && this.config.maxConns > fds.maxClients) this.loggers.log.warn({ max_conns: this.config.maxConns, limit: fds.limit, max_clients: fds.maxClients }, '--max-conns is above what the descriptor limit allows');
  }

  /** Log the start-up lines: once ready, whatever the log level (README, "Logs"). */
  logReady(): void {
    for (const l of this.listeners) {
      this.loggers.always.info({ address: l.address.host, port: l.port, tls: l.tls, mode: this.config.mode }, 'listening');
    }
    if (this.admin) this.loggers.always.info({ address: this.config.admin!.host, port: this.admin.port }, 'admin listening');
  }

  /**
   * Once a second: decay the backends' latency estimates (p2c-ewma), hand
   * every JavaScript tunnel open for OFFLOAD_IDLE_MS or more to the native
   * relay, then let the reclaimer decide whether a spike is over.
   * O(backends + open connections).
   */
  private housekeeping(): void {
    this.poolSet.decayLatency(performance.now());
    const now = Date.now();
    let handed = 0;
    this.poolSet.tick();
    this.registry.tick();
    for (const l of this.listeners) l.stats.tick();
    const before = now - OFFLOAD_IDLE_MS;
    for (const s of this.registry.open) if (s.housekeep(before)) handed++;
    const open = this.registry.open.size;
    if (this.reclaimer.tick(open, handed, now) && this.loggers.log.isLevelEnabled('debug')) {
      const m = process.memoryUsage();
      this.loggers.log.debug({ connections: open, rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external }, 'memory reclaimed');
    }
  }

  /**
   * Apply a re-read config (SIGHUP): backends join, leave (draining what
   * they carry) or change weight; strategy, limits and health settings
   * change; open connections are untouched. Settings that need a restart
   * are kept and logged as warnings. Throws UsageError (and changes
   * nothing) when a pool names a strategy this balancer does not know.
   */
  reload(next: Config): void {
    this.checkStrategies(next);
    const old = this.config;
    const kept: Partial<Record<keyof Config, unknown>> = {};
    for (const k of RESTART_ONLY) {
      if (JSON.stringify(old[k]) !== JSON.stringify(next[k])) this.loggers.log.warn({ setting: k }, 'config change needs restart');
      kept[k] = old[k];
    }
    this.config = Object.freeze({ ...next, ...kept }) as Config;
    const c = this.config;
    // certificate files (the default pair and the SNI set) are re-read in place
    this.tlsTerminator?.reload(c);
    this.upstream.clear();
    this.limiter.apply(c);
    this.poolSet.apply(c);
    this.discovery?.sync(c).catch((err: Error) => this.loggers.log.error({ err: err.message }, 'dns discovery failed'));
    this.clientRoutes.apply(c);
    const list = this.poolSet.backends();
    if (c.healthCheck.type === 'off') for (const b of list) if (!b.check.up) b.check.reset(true);
    this.poolSet.rebuildAll();
    this.checker?.sync();
    this.loggers.log.info({ file: c.config, backends: list.filter((b) => !b.removed).length, strategy: this.poolSet.default.factory.name }, 'config reloaded');
  }

  /**
   * Drain: stop accepting, let open connections finish for up to
   * --drain-timeout, then close the rest. Resolves when everything is closed.
   */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    for (const l of this.listeners) l.close();
    this.checker?.stop();
    this.discovery?.stop();
    this.health.stop();
    this.poolSet.stop();
    this.tlsTerminator?.stop();
    if (this.housekeepingTimer) clearInterval(this.housekeepingTimer);
    const open = this.registry.open;
    this.loggers.log.info({ connections: open.size, drain_timeout_ms: this.config.drainTimeout }, 'draining');
    this.l7?.drain();
    for (const s of [...open]) s.drain();
    if (open.size > 0) {
      await this.registry.whenEmpty(this.config.drainTimeout);
      if (open.size > 0) {
        // past the drain timeout: close the rest, and give their close events a moment to log
        for (const s of [...open]) s.abort('shutdown');
        await this.registry.whenEmpty(1000);
      }
    }
    this.limiter.close();
    await this.admin?.close();
    this.relay.close();
    this.loggers.log.info('stopped');
  }
}
