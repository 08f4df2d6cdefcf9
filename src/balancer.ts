/**
 * The running balancer: listeners, the pool, health, the wait queue, the
 * admin server, accounting, logs and the drain at shutdown. The CLI builds a
 * Config and calls start(); tests and embedders use createBalancer() from
 * src/index.ts the same way.
 */
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Config, PoolSpec } from './config/types.js';
import { createLoggers, type Loggers } from './logger.js';
import { Backend } from './core/backend.js';
import type { LbError } from './core/errors.js';
import { Pool } from './core/pool.js';
import { WaitQueue } from './core/wait-queue.js';
import { findPickerFactory } from './core/pickers/index.js';
import { Listener, type ListenerHandler, type TlsFailureEnd } from './l4/listener.js';
import { DescriptorBudget, RateLimitedWarning } from './descriptors.js';
import { L4Session, normalizeIp, type SessionEnd } from './l4/session.js';
import type { ClientSession, QueuedClient, Runtime } from './runtime.js';
import { L7Context } from './l7/context.js';
import { L7Session } from './l7/session.js';
import { preloadParser } from './l7/parser.js';
import { observeRequestDuration } from './admin/metrics.js';
import { AdminServer } from './admin/server.js';
import { HealthChecker } from './health/checker.js';
import type { ProbeResult } from './health/probes.js';
import { formatHostPort } from './config/parse.js';
import { PeekStage, type PeekHost } from './l4/peek-stage.js';
import { TlsTerminator } from './l4/tls-server.js';
import { OFFLOAD_IDLE_MS, relayAvailable, relayStats } from './l4/relay.js';
import { MemoryReclaimer } from './reclaim.js';
import { checkProxyHeader, clearUpstreamTlsCache, upstreamTlsOptions, type ClientFacts } from './l4/upstream.js';
import type { ProbeTarget } from './health/probes.js';

export interface BalancerOptions {
  /** Loggers to use instead of stdout ones (tests). */
  loggers?: Loggers;
}

export class Balancer implements Runtime, ListenerHandler, PeekHost {
  config: Config;
  readonly loggers: Loggers;
  /** Every pool by name; `default` (or config.defaultPool) is the one L4 listeners use unless routed. */
  readonly pools = new Map<string, Pool>();
  readonly listeners: Listener[] = [];
  admin: AdminServer | null = null;
  health: HealthChecker | null = null;
  readonly sessions = new Set<ClientSession>();
  private readonly queues = new Map<Pool, WaitQueue<QueuedClient>>();
  /** L7 mode: what the HTTP sessions share (upstream connection pool, router); built on the first client. */
  private l7: L7Context | null = null;
  readonly startedAt = Date.now();
  connectionsTotal = 0;
  connectionsActive = 0;
  /** Shutting down: listeners closed, /health answers draining. */
  draining = false;
  private drainResolve: (() => void) | null = null;
  private circuitTimers = new Set<NodeJS.Timeout>();
  private rampTimer: NodeJS.Timeout | null = null;
  /**
   * Once a second: hand tunnels open for a while to the native relay
   * (src/l4/relay.ts), and give memory back after a spike (src/reclaim.ts).
   */
  private housekeepingTimer: NodeJS.Timeout | null = null;
  private readonly reclaimer = new MemoryReclaimer();
  /** PROXY header / ClientHello peeks between accept and dispatch (src/l4/peek-stage.ts). */
  private readonly peekStage = new PeekStage(this);
  /** Certificates, SNI, tickets and session cache of the TLS listeners; null without --tls-cert. */
  tlsTerminator: TlsTerminator | null = null;
  /** The client ceiling derived from the descriptor limit (src/descriptors.ts), measured in start(). */
  readonly descriptors = new DescriptorBudget();
  private readonly outOfDescriptors = new RateLimitedWarning('out of file descriptors');
  private readonly localResourceError = new RateLimitedWarning('local resource error');

  constructor(config: Config, opts: BalancerOptions = {}) {
    this.config = config;
    this.loggers = opts.loggers ?? createLoggers(config.logLevel);
    for (const spec of config.pools) this.addPool(spec);

  }

  private addPool(spec: PoolSpec): Pool {
    const pool = new Pool(spec.name, spec.backends.map((b) => new Backend(b)), findPickerFactory(spec.strategy)!, {
      backendMaxConns: this.config.backendMaxConns,
      slowStart: this.config.slowStart,
      random: Math.random,
      now: Date.now,
      onPanic: (p, panic) => {
        if (panic) this.loggers.log.warn({ pool: p.name }, 'panic');
        else this.loggers.log.info({ pool: p.name }, 'panic over');
      },
    });
    this.pools.set(spec.name, pool);
    this.queues.set(pool, new WaitQueue());
    return pool;
  }

  /** The pool used when no route says otherwise. */
  get pool(): Pool {
    return this.pools.get(this.config.defaultPool) ?? this.pools.values().next().value!;
  }

  /** Every backend of every pool. */
  get backends(): readonly Backend[] {
    if (this.pools.size === 1) return this.pool.backends;
    const all: Backend[] = [];
    for (const p of this.pools.values()) all.push(...p.backends);
    return all;
  }

  /** The pool a backend belongs to. */
  poolOf(b: Backend): Pool | undefined {
    for (const p of this.pools.values()) if (p.backends.includes(b)) return p;
    return undefined;
  }

  private tlsOptions(): TlsOptions | null {
    const c = this.config;
    if (c.tlsCert === null || c.tlsKey === null) return null;
    this.tlsTerminator ??= new TlsTerminator(c, this.loggers.log);
    return this.tlsTerminator.serverOptions();
  }

  /**
   * Bind every listener and the admin server, start health checks, then log
   * the start-up lines. Rejects with a ListenError (nothing left open) when a
   * bind fails.
   */
  async start(): Promise<void> {
    const tls = this.tlsOptions();
    // built before the admin server so /metrics can observe every check; started last
    this.health = new HealthChecker(this);
    try {
      for (const addr of this.config.listen) {
        const l = new Listener(addr, tls, this, { acceptProxy: this.config.acceptProxy, handshakeTimeout: this.config.handshakeTimeout });
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
      throw err;
    }
    // load now what the first client would load (the HTTP parser, the relay addon and its thread): short of descriptors, it could not
    if (this.config.mode === 'l7') preloadParser();
    else relayAvailable();
    const fds = this.descriptors;
    fds.measure(this.backends.length);
    if (this.loggers.log.isLevelEnabled('debug')) this.loggers.log.debug({ limit: fds.limit, max_clients: fds.maxClients }, 'descriptor limit');
    if (fds.maxClients > 0 && this.config.maxConns > fds.maxClients) this.loggers.log.warn({ max_conns: this.config.maxConns, limit: fds.limit, max_clients: fds.maxClients }, '--max-conns is above what the descriptor limit allows');
    this.health.start();
    this.housekeepingTimer = setInterval(() => this.housekeeping(), OFFLOAD_IDLE_MS);
    this.housekeepingTimer.unref();
    if (this.loggers.log.isLevelEnabled('debug')) this.loggers.log.debug({ relay: relayStats() }, 'l4 relay');
    if (this.config.backendTlsInsecure) this.loggers.log.warn({ setting: 'backendTlsInsecure' }, 'backend certificates are not verified (--backend-tls-insecure)');
  }

  /** Log the start-up lines (SPEC section 3): once ready, whatever the log level. */
  logReady(): void {
    for (const l of this.listeners) {
      this.loggers.always.info({ address: l.address.host, port: l.port, tls: l.tls, mode: this.config.mode }, 'listening');
    }
    if (this.admin) this.loggers.always.info({ address: this.config.admin!.host, port: this.admin.port }, 'admin listening');
  }

  // ---- ListenerHandler ----

  /** Turn a client away at once when the descriptor budget is spent (src/descriptors.ts). */
  admit(socket: Socket, listener: Listener): boolean {
    let handshakes = 0;
    for (const l of this.listeners) handshakes += l.stats.handshakes;
    if (this.descriptors.admits(this.connectionsActive, handshakes)) return true;
    listener.stats.rejected++;
    socket.on('error', noop);
    this.outOfDescriptors.note(this.loggers.log, { reason: 'client ceiling', limit: this.descriptors.limit, max_clients: this.descriptors.maxClients, connections: this.connectionsActive, handshakes });
    if (this.config.accessLog) this.logRejected(socket, 'max-conns');
    socket.destroy();
    return false;
  }

  onAcceptPaused(err: NodeJS.ErrnoException, listener: Listener, pauseMs: number): void {
    this.outOfDescriptors.note(this.loggers.log, { reason: `accept ${err.code}`, listener: listener.stats.address, pause_ms: pauseMs, connections: this.connectionsActive });
  }

  onClient(socket: Socket, listener: Listener): void {
    const max = this.config.maxConns;
    if (max > 0 && this.connectionsActive >= max) {
      listener.stats.rejected++;
      socket.on('error', noop);
      // Log before destroy(): a destroyed socket no longer knows its peer
      // (remoteAddress/remotePort become undefined), which logged `client: ":0"`.
      if (this.config.accessLog) this.logRejected(socket, 'max-conns');
      socket.destroy();
      return;
    }
    this.connectionsTotal++;
    this.connectionsActive++;
    listener.stats.active++;
    if (this.peekStage.needed(listener)) this.peekStage.run(socket, listener);
    else this.dispatch(socket, listener, this.pool);
  }

  /**
   * Hand a client to its exchange stage: the L4 tunnel session, or the L7
   * HTTP session with --mode l7. Peek stages (PROXY header, TLS ClientHello
   * in passthrough) run before this and may pass the pool they routed to,
   * the client IP (the PROXY header's source, else the socket peer) and
   * what they learnt (`facts`: client port, PROXY header, server name).
   */
  dispatch(socket: Socket, listener: Listener, pool: Pool, clientIp?: string, facts?: ClientFacts, startedAt?: number): void {
    if (this.config.mode === 'l7') {
      this.l7 ??= new L7Context(this, (name, seconds) => observeRequestDuration(this, name, seconds));
      const h = new L7Session(this.l7, socket, listener.stats, clientIp ?? facts?.ip, startedAt, facts);
      this.sessions.add(h);
      h.start();
      return;
    }
    if (clientIp !== undefined && facts === undefined) facts = { ip: clientIp, port: socket.remotePort ?? 0, proxy: null, serverName: null };
    const s = new L4Session(this, socket, listener.stats, pool, facts, startedAt);
    this.sessions.add(s);
    s.start();
  }

  /** The peek stage gave up on a client (SPEC section 3 `proxy-error`, `tls-error`). */
  peekFailed(socket: Socket, listener: Listener, end: SessionEnd, clientIp: string, startedAt: number, reason: string): void {
    this.connectionsActive--;
    listener.stats.active--;
    if (end === 'proxy-error') listener.stats.proxyErrors++;
    else if (end === 'tls-error' && !listener.tls) listener.stats.tlsFailures++;
    socket.on('error', noop);
    if (this.loggers.log.isLevelEnabled('debug')) this.loggers.log.debug({ end, reason, listener: listener.stats.address }, 'peek failed');
    if (this.config.accessLog) {
      const peer = normalizeIp(socket.remoteAddress);
      this.loggers.always.info(
        { client: formatHostPort(peer, socket.remotePort ?? 0), client_ip: clientIp, backend: null, bytes_in: 0, bytes_out: 0, duration_ms: Date.now() - startedAt, retries: 0, end },
        'connection',
      );
    }
    socket.destroy();
    if (this.draining && this.sessions.size === 0 && this.drainResolve) this.drainResolve();
  }

  /** Where and how the health checker reaches `b`: upstream TLS and a PROXY header when configured. */
  probeTarget(b: Backend): ProbeTarget {
    const t: ProbeTarget = { host: b.host, port: b.port };
    const tls = upstreamTlsOptions(this.config, b);
    if (tls) t.tls = tls;
    const header = checkProxyHeader(this.config, b);
    if (header) t.proxyHeader = header;
    return t;
  }

  onTlsError(err: Error, socket: Socket, listener: Listener, end: TlsFailureEnd): void {
    if (this.loggers.log.isLevelEnabled('debug')) this.loggers.log.debug({ err: err.message, listener: listener.stats.address }, 'tls handshake failed');
    if (this.config.accessLog) this.logRejected(socket, end);
  }

  onServerError(err: Error, listener: Listener): void {
    this.loggers.log.error({ err: err.message, listener: listener.stats.address }, 'listener error');
  }

  private logRejected(socket: Socket, end: SessionEnd): void {
    const ip = normalizeIp(socket.remoteAddress);
    this.loggers.always.info(
      { client: formatHostPort(ip, socket.remotePort ?? 0), client_ip: ip, backend: null, bytes_in: 0, bytes_out: 0, duration_ms: 0, retries: 0, end },
      'connection',
    );
  }

  // ---- Runtime ----

  enqueue(s: QueuedClient): boolean {
    const q = this.queues.get(s.pool)!;
    if (q.length >= this.config.maxQueue) return false;
    q.push(s);
    return true;
  }

  /** Clients waiting in `pool`'s queue now (for /metrics and /stats). */
  queueLength(pool: Pool): number {
    return this.queues.get(pool)?.length ?? 0;
  }

  dequeue(s: QueuedClient): void {
    this.queues.get(s.pool)?.remove(s);
  }

  release(pool: Pool, b: Backend): void {
    pool.release(b);
    if (b.removed && b.active === 0) {
      // a backend removed by a reload has finished its last connection
      const i = pool.backends.indexOf(b);
      if (i >= 0) {
        pool.backends.splice(i, 1);
        pool.rebuild();
      }
    }
    this.wake(pool);
  }

  /** Serve queued clients while their pool has free slots, oldest first. */
  wake(pool: Pool): void {
    const q = this.queues.get(pool);
    if (!q) return;
    // Free slots serve the oldest waiters; an empty eligible set (all drained,
    // disabled or removed) ends every waiter at once with `no-backend`.
    while (q.length > 0 && (pool.hasFreeSlot() || pool.eligible.length === 0)) {
      const s = q.first!;
      s.choose();
      if (s.queued) break;
    }
  }

  onConnectSuccess(b: Backend): void {
    if (b.circuit.state === 'closed') {
      b.circuit.fails = 0;
      return;
    }
    this.changeHealth(b, 'trial connection succeeded', () => b.circuit.onSuccess());
  }

  onConnectFailure(pool: Pool, b: Backend, err: LbError): void {
    if (err.side === 'internal') {
      // lb4's own shortage (EMFILE...): nothing about the backend; an undecided circuit trial is freed
      (err.errno === 'EMFILE' || err.errno === 'ENFILE' ? this.outOfDescriptors : this.localResourceError).note(this.loggers.log, { reason: err.message, backend: b.name });
      if (b.circuit.state === 'half-open' && b.circuit.trialInFlight) {
        b.circuit.trialInFlight = false;
        pool.rebuild();
      }
      return;
    }
    b.failures++;
    const c = this.config;
    const opened = this.changeHealth(b, `${c.maxFails} failed connects (${err.message})`, () => b.circuit.onFailure(Date.now(), c.maxFails, c.failTimeout));
    if (opened) this.scheduleCircuit(b);
    if (this.loggers.log.isLevelEnabled('debug')) this.loggers.log.debug({ backend: b.name, err: err.message, code: err.code }, 'connect failed');
    void pool;
  }

  private scheduleCircuit(b: Backend): void {
    const t = setTimeout(() => {
      this.circuitTimers.delete(t);
      if (b.circuit.tick(Date.now())) this.rebuildAll();
      // Timers run on a monotonic clock and may fire a millisecond before
      // Date.now() reaches openUntil: try again rather than stay open for good.
      else if (b.circuit.state === 'open' && !this.draining) this.scheduleCircuit(b);
    }, Math.max(1, b.circuit.openUntil - Date.now()));
    t.unref();
    this.circuitTimers.add(t);
  }

  /**
   * Apply a health event to a backend; log `backend up`/`backend down` when
   * its up/down state changes, rebuild the pools, and remember when it came
   * back (slow start). Returns what `fn` returned.
   */
  changeHealth(b: Backend, reason: string, fn: () => boolean): boolean {
    const wasHealthy = b.healthy;
    const changed = fn();
    if (!changed) return false;
    const healthy = b.healthy;
    if (healthy !== wasHealthy) {
      if (healthy) {
        b.upSince = Date.now();
        this.loggers.log.info({ backend: b.name, reason }, 'backend up');
      } else {
        this.loggers.log.warn({ backend: b.name, reason }, 'backend down');
      }
    }
    this.rebuildAll();
    return true;
  }

  /** Rebuild every pool's picker (after a state change) and keep slow-start ramps ticking. */
  rebuildAll(): void {
    for (const p of this.pools.values()) {
      p.rebuild();
      this.wake(p);
    }
    this.scheduleRamp();
  }

  private scheduleRamp(): void {
    if (this.rampTimer !== null || this.config.slowStart <= 0) return;
    let ramping = false;
    for (const p of this.pools.values()) if (p.rampingUntil() > 0) ramping = true;
    if (!ramping) return;
    const step = Math.max(50, Math.min(1000, Math.floor(this.config.slowStart / 20)));
    this.rampTimer = setTimeout(() => {
      this.rampTimer = null;
      this.rebuildAll();
    }, step);
    this.rampTimer.unref();
  }

  /**
   * Bring the backends' byte counters up to date with tunnels on the native
   * relay, which count in their own memory (src/l4/relay.ts). Called before
   * /stats, /metrics and a worker's report; O(open sessions).
   */
  syncLiveCounters(): void {
    for (const s of this.sessions) if (s instanceof L4Session) s.syncBytes();
  }

  /**
   * Once a second: hand every JavaScript tunnel open for OFFLOAD_IDLE_MS or
   * more to the native relay, then let the reclaimer decide whether a spike
   * is over. O(open sessions).
   */
  private housekeeping(): void {
    const now = Date.now();
    let handed = 0;
    if (this.config.mode === 'l4' && relayAvailable()) {
      const before = now - OFFLOAD_IDLE_MS;
      for (const s of this.sessions) if (s instanceof L4Session && s.offloadIfOlder(before)) handed++;
    }
    if (this.reclaimer.tick(this.sessions.size, handed, now) && this.loggers.log.isLevelEnabled('debug')) {
      const m = process.memoryUsage();
      this.loggers.log.debug({ connections: this.sessions.size, rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external }, 'memory reclaimed');
    }
  }

  sessionEnded(s: ClientSession, reason: SessionEnd): void {
    this.sessions.delete(s);
    this.connectionsActive--;
    s.listener.active--;
    if (this.config.accessLog) {
      this.loggers.always.info(
        {
          client: s.clientAddress,
          client_ip: s.clientIp,
          backend: s.backend ? s.backend.name : null,
          bytes_in: s.bytesIn,
          bytes_out: s.bytesOut,
          duration_ms: Date.now() - s.startedAt,
          retries: s.retries,
          end: reason,
        },
        'connection',
      );
    }
    if (reason === 'no-backend') this.noteNoBackend(s);
    if (this.draining && this.sessions.size === 0 && this.drainResolve) this.drainResolve();
  }

  private noBackendLoggedAt = 0;
  private noBackendSuppressed = 0;

  /**
   * A client was given up on: nothing to try, or every connect failed. Logged
   * (warn) even without --access-log, at most once a second, with the count
   * of the ones not logged in between, so an outage cannot flood the log.
   */
  private noteNoBackend(s: ClientSession): void {
    const now = Date.now();
    if (now - this.noBackendLoggedAt < 1000) {
      this.noBackendSuppressed++;
      return;
    }
    this.loggers.log.warn(
      { client: s.clientAddress, retries: s.retries, suppressed: this.noBackendSuppressed },
      'no backend available',
    );
    this.noBackendLoggedAt = now;
    this.noBackendSuppressed = 0;
  }

  /** An active check finished: feed the rise/fall machine (an up transition closes the circuit too). */
  onCheckResult(b: Backend, r: ProbeResult): void {
    b.check.lastResult = r.ok ? 'ok' : r.reason;
    b.check.lastCheckAt = Date.now();
    b.check.lastDurationMs = r.durationMs;
    const c = this.config;
    this.changeHealth(b, r.ok ? `${c.rise} good checks` : r.reason, () => {
      const changed = b.check.record(r.ok, c.rise, c.fall);
      if (changed && r.ok) b.circuit.close();
      return changed;
    });
  }

  // ---- admin actions ----

  findBackend(name: string): Backend | undefined {
    for (const p of this.pools.values()) {
      const b = p.backends.find((x) => x.name === name);
      if (b) return b;
    }
    return undefined;
  }

  /** Admin: drain, disable or enable a backend. */
  setAdminState(b: Backend, action: 'drain' | 'disable' | 'enable'): void {
    const to = action === 'drain' ? 'draining' : action === 'disable' ? 'disabled' : 'enabled';
    if (b.admin === to) return;
    b.admin = to;
    this.loggers.log.info({ backend: b.name, state: b.state }, `backend ${action}`);
    this.rebuildAll();
  }

  // ---- reload ----

  /**
   * Apply a re-read config (SIGHUP): backends join, leave (draining what
   * they carry) or change weight; strategy, limits and health settings
   * change; open connections are untouched. Settings that need a restart
   * are kept and logged as warnings.
   */
  reload(next: Config): void {
    const old = this.config;
    const restart: Array<keyof Config> = ['listen', 'mode', 'tlsCert', 'tlsKey', 'tlsMinVersion', 'admin', 'logLevel', 'acceptProxy', 'tlsClientCa', 'alpn', 'tlsCiphers', 'workers'];
    const kept: Partial<Record<keyof Config, unknown>> = {};
    for (const k of restart) {
      if (JSON.stringify(old[k]) !== JSON.stringify(next[k])) {
        this.loggers.log.warn({ setting: k }, 'config change needs restart');
      }
      kept[k] = old[k];
    }
    this.config = Object.freeze({ ...next, ...kept }) as Config;
    const c = this.config;
    // certificate files (the default pair and the SNI set) are re-read in place
    this.tlsTerminator?.reload(c);
    clearUpstreamTlsCache();
    const wantedPools = new Set(c.pools.map((p) => p.name));
    for (const spec of c.pools) {
      const pool = this.pools.get(spec.name) ?? this.addPool({ name: spec.name, strategy: spec.strategy, backends: [] });
      this.reloadPool(pool, spec);
    }
    for (const [name, pool] of this.pools) {
      if (wantedPools.has(name)) continue;
      // a pool that left the config: its backends drain, then it is forgotten
      this.reloadPool(pool, { name, strategy: pool.factory.name, backends: [] });
      if (pool.backends.length === 0) this.pools.delete(name);
    }
    const list = this.backends;
    if (c.healthCheck.type === 'off') for (const b of list) if (!b.check.up) b.check.reset(true);
    this.rebuildAll();
    this.health?.sync();
    this.loggers.log.info({ file: c.config, backends: list.filter((b) => !b.removed).length, strategy: this.pool.factory.name }, 'config reloaded');
  }

  /** Align one pool with its new spec: add, re-weight, or remove (drain) backends. */
  private reloadPool(pool: Pool, spec: PoolSpec): void {
    const byName = new Map(pool.backends.map((b) => [b.name, b]));
    const list: Backend[] = [];
    const wanted = new Set<string>();
    for (const bs of spec.backends) {
      wanted.add(bs.name);
      let b = byName.get(bs.name);
      if (b && (b.host !== bs.host || b.port !== bs.port || b.sendProxy !== bs.sendProxy || JSON.stringify(b.tls) !== JSON.stringify(bs.tls))) {
        // same name, new address: the old one drains, a new one takes its place
        b.removed = true;
        if (b.active > 0) list.push(b);
        b = undefined;
      }
      if (!b) {
        b = new Backend(bs);
        this.loggers.log.info({ backend: b.name, address: b.address, pool: pool.name }, 'backend added');
      } else {
        b.configWeight = bs.weight;
        b.removed = false;
      }
      list.push(b);
    }
    for (const b of pool.backends) {
      if (wanted.has(b.name) || list.includes(b)) continue;
      b.removed = true;
      this.loggers.log.info({ backend: b.name, active: b.active, pool: pool.name }, 'backend removed');
      if (b.active > 0) list.push(b);
    }
    pool.backends = list;
    pool.factory = findPickerFactory(spec.strategy)!;
    pool.opts.backendMaxConns = this.config.backendMaxConns;
    pool.opts.slowStart = this.config.slowStart;
  }

  // ---- shutdown ----

  /**
   * Drain: stop accepting, let open connections finish for up to
   * --drain-timeout, then close the rest. Resolves when everything is closed.
   */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    for (const l of this.listeners) l.close();
    this.health?.stop();
    this.tlsTerminator?.stop();
    for (const t of this.circuitTimers) clearTimeout(t);
    if (this.rampTimer) clearTimeout(this.rampTimer);
    if (this.housekeepingTimer) clearInterval(this.housekeepingTimer);
    this.loggers.log.info({ connections: this.sessions.size, drain_timeout_ms: this.config.drainTimeout }, 'draining');
    this.l7?.drain(this.sessions);
    if (this.sessions.size > 0) {
      await new Promise<void>((resolve) => {
        this.drainResolve = resolve;
        const t = setTimeout(resolve, this.config.drainTimeout);
        t.unref();
      });
      this.drainResolve = null;
      if (this.sessions.size > 0) {
        // past the drain timeout: close the rest, and give their close events a moment to log
        await new Promise<void>((resolve) => {
          this.drainResolve = resolve;
          for (const s of [...this.sessions]) s.abort('shutdown');
          const t = setTimeout(resolve, 1000);
          t.unref();
          if (this.sessions.size === 0) resolve();
        });
        this.drainResolve = null;
      }
    }
    await this.admin?.close();
    this.loggers.log.info('stopped');
  }
}

function noop(): void {}
