/**
 * The `--workers N` primary: N worker processes (node:cluster) serve the
 * clients; the primary serves the operator.
 *
 * Design:
 * - **Listening.** Each worker binds the configured listeners; node:cluster
 *   makes the primary own one listening handle per address and hand
 *   accepted connections to the workers round robin (cluster's default
 *   scheduling on Linux, kept: it spreads connections more evenly than
 *   letting the workers race on accept()). With port 0 every worker gets the
 *   same shared handle, so the port is read from the first worker's report.
 * - **Start-up lines.** Workers print none; the primary prints one
 *   `listening` line per listener and `admin listening` once every worker
 *   reports it is listening (docs/reference.md). A worker that cannot bind fails
 *   the start: one line on stderr, exit 1, like a single lb4.
 * - **Health.** This class is a Balancer that never listens for clients: it
 *   holds the same pools and backends (built from the same config), runs the
 *   only HealthChecker, applies rise/fall, logs `backend up`/`backend down`,
 *   and sends each verdict to every worker (protocol.ts `health`). Workers
 *   keep their own passive circuit (it reacts to their own connects).
 * - **Admin.** The admin server runs here, on this Balancer. Its backends
 *   mirror the workers: before answering /stats, /health or /metrics the
 *   primary asks every worker for its counters over IPC (1 s timeout: a
 *   silent worker counts with its last answer) and writes the sums into its
 *   own Backend and listener counters, so /stats, /metrics and the dashboard
 *   render sums with their usual code. A backend is shown `down` when the
 *   checks say so or its circuit is open in any worker. `/stats` adds a
 *   `workers` array (id, pid, state, restarts, per-worker counters) and
 *   `/stats?worker=ID` answers that worker's own document. Counters of a
 *   worker that exited are kept (from its last answer; a periodic refresh
 *   every 2 s bounds what a SIGKILL loses), so totals never go backwards.
 *   POST drain/disable/enable applies here and is sent to every worker.
 * - **Discovery.** dns:/srv: sources are resolved here only; each new set is
 *   applied to this Balancer's pools (health checks, /stats) and sent to
 *   every worker (protocol.ts `source`); a new worker gets every current set
 *   with `start`.
 * - **Reload.** SIGHUP/--watch-config re-read the file in the primary (an
 *   invalid file is logged once and changes nothing); the effective config
 *   (restart-only settings kept) is sent to every worker, then the health
 *   verdicts again.
 * - **Shutdown.** SIGTERM, SIGINT, SIGQUIT or SIGUSR1: /health answers `draining`, every worker
 *   gets `shutdown` and drains like a single lb4 (--drain-timeout); the
 *   primary resolves once every worker has exited (SIGKILL for any still
 *   there 5 s past the drain timeout), closes the admin server, and the CLI
 *   exits 0.
 * - **Crashes.** A worker that exits outside shutdown is logged
 *   (`worker exited`, warn, with `code`/`signal`) and replaced under the
 *   same id, at once the first time, then after 250 ms, 500 ms... up to
 *   30 s while it keeps exiting (counted over the last minute), so a crash
 *   loop does not spin.
 * - **Per worker by design:** least-connections counts, the wait queue,
 *   --max-conns, --backend-max-conns and the passive circuit (each worker
 *   sees its own connections; see README "Operating lb4").
 */
import { randomBytes } from 'node:crypto';
import cluster, { type Worker } from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Balancer, type BalancerOptions } from '../balancer.js';
import type { Config } from '../config/types.js';
import type { BackendSpec } from '../config/parse.js';
import type { Backend } from '../core/backend.js';
import type { Pool } from '../core/pool.js';
import type { CircuitState } from '../core/health.js';
import { ListenError } from '../core/errors.js';
import { AdminServer, sendJson } from '../admin/server.js';
import { buildStats } from '../admin/stats.js';
import type { RelayStats } from '../l4/relay.js';
import type { ClientCounters } from '../admin/source.js';
import { HealthChecker } from '../health/checker.js';
import type { ProbeResult } from '../health/probes.js';
import type { Listener } from '../l4/listener.js';
import { ListenerStats } from '../core/listener-stats.js';
import { formatHostPort } from '../core/address.js';
import { BACKEND_NOW, BACKEND_TOTALS, isFromWorker, LISTENER_NOW, LISTENER_TOTALS, type FromWorker, type HealthState, type ListenerReport, type ToWorker, type WorkerSnapshot } from './protocol.js';

/** How long the primary waits for a worker's counters. */
const STATS_TIMEOUT_MS = 1000;
/** Background refresh of the mirrored counters (keeps exited workers' totals fresh). */
const REFRESH_MS = 2000;
/** Restart backoff: exits counted over this window... */
const CRASH_WINDOW_MS = 60_000;
/** ...delay after the second exit in the window, doubling, up to the max. */
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30_000;

type SlotState = 'starting' | 'listening' | 'stopping' | 'exited';

interface Slot {
  readonly id: number;
  worker: Worker | null;
  pid: number;
  state: SlotState;
  startedAt: number;
  restarts: number;
  exits: number[];
  restartTimer: NodeJS.Timeout | null;
  /** The worker's last answer to `stats`. */
  last: WorkerSnapshot | null;
}

/** Monotonic counters kept from exited workers. */
interface Retired {
  connections: number;
  /** Per-client limit refusals. */
  limited: number;
  ends: number[];
  /** By backend name: BACKEND_TOTALS values, last used, responses by class. */
  backends: Map<string, { totals: number[]; lastUsed: number; responses: number[] }>;
  /** By listener index: LISTENER_TOTALS values. */
  listeners: number[][];
  /** Tunnels the relays of exited workers carried, and pipes they refused. */
  relayTotal: number;
  relayPipesRefused: number;
}

/** a[i] += b[i] for every i of b. */
function addInto(a: number[], b: readonly number[]): void {
  for (let i = 0; i < b.length; i++) a[i] = (a[i] ?? 0) + (b[i] ?? 0);
}

const CIRCUIT_RANK: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class Primary extends Balancer {
  private readonly slots: Slot[] = [];
  private readonly retired: Retired = { connections: 0, limited: 0, ends: [], backends: new Map(), listeners: [], relayTotal: 0, relayPipesRefused: 0 };
  /** Per-client limits summed over the workers (each worker keeps its own table: IPs are per worker). */
  private readonly clientSums: { tracked: number; limited: number; storeStatus: 'up' | 'down' | null } = { tracked: 0, limited: 0, storeStatus: null };
  private reports: readonly ListenerReport[] | null = null;
  private ready = false;
  private stopping = false;
  private startWait: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private allExited: (() => void) | null = null;
  private reqSeq = 0;
  private readonly pending = new Map<number, (s: WorkerSnapshot) => void>();
  private refreshTimer: NodeJS.Timeout | null = null;
  /** The TLS session ticket key every worker uses (null without TLS termination). */
  private ticketKeys: Buffer | null = null;
  private ticketTimer: NodeJS.Timeout | null = null;

  constructor(config: Config, opts: BalancerOptions = {}) {
    super(config, { ...opts, mirror: true });
    // every check result goes to every worker
    this.health.observers.push((b) => this.broadcast({ t: 'health', states: [stateOf(b)] }));
    for (let id = 1; id <= config.workers; id++) {
      this.slots.push({ id, worker: null, pid: 0, state: 'exited', startedAt: 0, restarts: 0, exits: [], restartTimer: null, last: null });
    }
  }

  /**
   * Start the admin server and the health checks, fork the workers, and
   * resolve once every worker is listening. Rejects with a ListenError (and
   * leaves nothing running) when the admin server or a worker cannot bind.
   */
  override async start(): Promise<void> {
    this.checker = this.buildChecker();
    // discovery runs here only: first answers before the workers start, which get them with `start`
    await this.discovery?.sync(this.config);
    this.poolSet.markLive();
    if (this.config.admin) {
      this.admin = new AdminServer(this, this.config.admin);
      await this.admin.listen();
      this.frontAdmin(this.admin);
    }
    this.checker.start();
    if (this.config.tlsCert !== null) {
      // one ticket key for all workers, rotated here, so resumption works across workers
      this.ticketKeys = randomBytes(48);
      if (this.config.tlsTicketRotation > 0) {
        this.ticketTimer = setInterval(() => {
          this.ticketKeys = randomBytes(48);
          this.broadcast({ t: 'tickets', keys: this.ticketKeys });
        }, this.config.tlsTicketRotation);
        this.ticketTimer.unref();
      }
    }
    cluster.setupPrimary({ serialization: 'advanced' });
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    const ready = new Promise<void>((resolve, reject) => (this.startWait = { resolve, reject }));
    for (const slot of this.slots) this.fork(slot);
    try {
      await ready;
    } catch (err) {
      this.stopping = true;
      this.checker.stop();
      this.discovery?.stop();
      for (const s of this.slots) s.worker?.process.kill('SIGKILL');
      await this.admin?.close();
      throw err;
    }
    this.ready = true;
    this.startWait = null;
    this.refreshTimer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.refreshTimer.unref();
  }

  override logReady(): void {
    for (const r of this.reports ?? []) this.loggers.always.info({ address: r.host, port: r.port, tls: r.tls, mode: this.config.mode }, 'listening');
    if (this.admin) this.loggers.always.info({ address: this.config.admin!.host, port: this.admin.port }, 'admin listening');
    this.loggers.log.info({ workers: this.slots.map((s) => ({ id: s.id, pid: s.pid })) }, 'workers listening');
  }

  // ---- workers ----

  private fork(slot: Slot): void {
    slot.restartTimer = null;
    const w = cluster.fork();
    slot.worker = w;
    slot.pid = w.process.pid ?? 0;
    slot.state = 'starting';
    slot.startedAt = Date.now();
    slot.last = null;
    w.on('message', (m: unknown) => {
      if (isFromWorker(m)) this.onMessage(slot, w, m);
    });
    // an IPC error (worker gone mid-send) must not take the primary down
    w.on('error', (err) => this.loggers.log.debug({ worker: slot.id, err: err.message }, 'worker channel error'));
  }

  private send(slot: Slot, m: ToWorker): void {
    const w = slot.worker;
    if (w && w.isConnected()) w.send(m, undefined, noop);
  }

  private broadcast(m: ToWorker): void {
    for (const s of this.slots) if (s.state === 'starting' || s.state === 'listening') this.send(s, m);
  }

  private onMessage(slot: Slot, w: Worker, m: FromWorker): void {
    if (slot.worker !== w) return;
    switch (m.t) {
      case 'hello':
        // a `shutdown` sent before the worker could hear it is sent again here
        this.send(slot, this.stopping ? { t: 'shutdown' } : { t: 'start', id: slot.id, config: this.config, health: this.healthStates(), tickets: this.ticketKeys, sources: this.poolSet.sources(), overrides: this.poolSet.overrides() });
        return;
      case 'listening':
        if (this.stopping) return;
        slot.state = 'listening';
        this.reports ??= m.listeners;
        if (this.listeners.length === 0) this.mirrorListeners(m.listeners);
        if (this.ready) this.loggers.log.info({ worker: slot.id, worker_pid: slot.pid }, 'worker listening');
        else if (this.slots.every((s) => s.state === 'listening')) this.startWait?.resolve();
        return;
      case 'listen-error':
        if (!this.ready) this.startWait?.reject(new ListenError(m.message));
        else this.loggers.log.error({ worker: slot.id, err: m.message }, 'worker cannot listen');
        return;
      case 'stats': {
        const r = this.pending.get(m.req);
        if (r) r(m.snapshot);
        return;
      }
    }
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots.find((s) => s.worker === w);
    if (!slot) return;
    slot.worker = null;
    slot.state = 'exited';
    this.retire(slot);
    const info = { worker: slot.id, worker_pid: slot.pid, code, signal };
    if (this.stopping) {
      this.loggers.log.info(info, 'worker exited');
      if (this.slots.every((s) => s.worker === null)) this.allExited?.();
      return;
    }
    if (!this.ready) {
      this.loggers.log.error(info, 'worker exited');
      this.startWait?.reject(new ListenError(`worker ${slot.id} exited before listening (code ${code}, signal ${signal})`));
      return;
    }
    const now = Date.now();
    slot.exits = slot.exits.filter((t) => now - t < CRASH_WINDOW_MS);
    slot.exits.push(now);
    const n = slot.exits.length;
    const delay = n <= 1 ? 0 : Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (n - 2));
    this.loggers.log.warn({ ...info, restart_in_ms: delay }, 'worker exited');
    slot.restarts++;
    slot.restartTimer = setTimeout(() => {
      if (!this.stopping) this.fork(slot);
    }, delay);
    slot.restartTimer.unref();
  }

  /** Keep an exited worker's monotonic counters (from its last answer). */
  private retire(slot: Slot): void {
    const s = slot.last;
    slot.last = null;
    if (!s) return;
    const r = this.retired;
    r.connections += s.connections.total;
    r.limited += s.clients?.limited ?? 0;
    s.ends.forEach((v, i) => (r.ends[i] = (r.ends[i] ?? 0) + v));
    r.relayTotal += s.relay.total;
    r.relayPipesRefused += s.relay.pipes_refused ?? 0;
    for (const b of s.backends) {
      let k = r.backends.get(b.name);
      if (!k) r.backends.set(b.name, (k = { totals: [], lastUsed: 0, responses: [] }));
      addInto(k.totals, b.totals);
      addInto(k.responses, b.responses);
      k.lastUsed = Math.max(k.lastUsed, b.lastUsed);
    }
    s.listeners.forEach((l, i) => addInto((r.listeners[i] ??= []), l.totals));
  }

  // ---- health, admin actions and reload reach every worker ----

  private healthStates(): HealthState[] {
    return this.poolSet.backends().map((b) => stateOf(b));
  }

  override setAdminState(b: Backend, action: 'drain' | 'disable' | 'enable'): void {
    super.setAdminState(b, action);
    this.broadcast({ t: 'admin', backend: b.name, action });
  }

  /** A source's new set applies here (health checks, /stats) and in every worker. */
  override addBackend(pool: string | null, spec: BackendSpec): 'ok' | 'exists' | 'no-pool' {
    const name = pool ?? this.poolSet.default.name;
    const r = super.addBackend(name, spec);
    if (r === 'ok') this.broadcast({ t: 'api', op: 'add', pool: name, spec });
    return r;
  }

  override setBackendWeight(name: string, weight: number): Backend | null {
    const b = super.setBackendWeight(name, weight);
    if (b !== null) this.broadcast({ t: 'api', op: 'weight', name, weight });
    return b;
  }

  override removeBackend(name: string): boolean {
    const ok = super.removeBackend(name);
    if (ok) this.broadcast({ t: 'api', op: 'delete', name });
    return ok;
  }

  override setSource(pool: string, source: string, specs: readonly BackendSpec[]): boolean {
    if (!super.setSource(pool, source, specs)) return false;
    this.broadcast({ t: 'source', pool, source, specs });
    void this.refresh();
    return true;
  }

  override reload(next: Config): void {
    // The primary carries no connections (its PoolSet mirrors the workers'):
    // a removed backend stays, shown `draining`, until refresh() finds that
    // no worker carries it any more.
    super.reload(next);
    this.broadcast({ t: 'reload', config: this.config });
    this.broadcast({ t: 'health', states: this.healthStates() });
    void this.refresh();
  }

  // ---- summed counters ----

  /** Per-client limits summed over the workers' last answers. */
  override get clients(): ClientCounters {
    return this.clientSums;
  }

  /** Clients waiting in `pool`'s queues, summed over the workers' last answers. */
  override queueLength(pool: Pool): number {
    let n = 0;
    for (const s of this.slots) {
      const pools = s.last?.stats.pools as Array<{ name: string; queued: number }> | undefined;
      n += pools?.find((p) => p.name === pool.name)?.queued ?? 0;
    }
    return n;
  }

  /** Ask one worker for its counters; null after the timeout. */
  private ask(slot: Slot): Promise<WorkerSnapshot | null> {
    if (!slot.worker || !slot.worker.isConnected() || slot.state === 'exited') return Promise.resolve(null);
    const req = ++this.reqSeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve(null);
      }, STATS_TIMEOUT_MS);
      this.pending.set(req, (s) => {
        clearTimeout(timer);
        this.pending.delete(req);
        resolve(s);
      });
      this.send(slot, { t: 'stats', req });
    });
  }

  /** Fetch every worker's counters and write their sums into this balancer's backends and listeners. */
  async refresh(): Promise<void> {
    const live = this.slots.filter((s) => s.worker !== null);
    const snaps = await Promise.all(live.map((s) => this.ask(s)));
    live.forEach((s, i) => {
      if (snaps[i] && s.worker !== null) s.last = snaps[i]!;
    });
    const current = this.slots.map((s) => s.last).filter((s): s is WorkerSnapshot => s !== null);

    const reg = this.registry;
    reg.active = 0;
    reg.total = this.retired.connections;
    reg.rate = 0;
    for (const s of current) {
      reg.active += s.connections.active;
      reg.total += s.connections.total;
      reg.rate += s.connections.rate;
    }
    reg.maxActive = Math.max(reg.maxActive, reg.active);
    reg.maxRate = Math.max(reg.maxRate, reg.rate);
    const ends = reg.ends;
    for (let i = 0; i < ends.length; i++) {
      let n = this.retired.ends[i] ?? 0;
      for (const s of current) n += s.ends[i] ?? 0;
      ends[i] = n;
    }
    let tracked = 0;
    let limited = this.retired.limited;
    let store: 'up' | 'down' | null = null;
    for (const s of current) {
      tracked += s.clients.tracked;
      limited += s.clients.limited;
      // down as soon as one worker has lost the store
      if (s.clients.storeStatus !== null && store !== 'down') store = s.clients.storeStatus;
    }
    this.clientSums.tracked = tracked;
    this.clientSums.limited = limited;
    this.clientSums.storeStatus = store;

    for (const b of this.poolSet.backends()) {
      const k = this.retired.backends.get(b.name);
      const totals = k ? k.totals.slice() : [];
      const now: number[] = [];
      const responses = k ? k.responses.slice() : [];
      b.lastUsed = k?.lastUsed ?? 0;
      let circuit: CircuitState = 'closed';
      for (const s of current) {
        const w = s.backends.find((x) => x.name === b.name);
        if (!w) continue;
        addInto(totals, w.totals);
        addInto(now, w.now);
        addInto(responses, w.responses);
        b.lastUsed = Math.max(b.lastUsed, w.lastUsed);
        if (CIRCUIT_RANK[w.circuit] > CIRCUIT_RANK[circuit]) circuit = w.circuit;
      }
      BACKEND_TOTALS.forEach((f, i) => (b[f] = totals[i] ?? 0));
      BACKEND_NOW.forEach((f, i) => (b[f] = now[i] ?? 0));
      for (let i = 0; i < b.responses.length; i++) b.responses[i] = responses[i] ?? 0;
      b.noteActive();
      b.maxRate = Math.max(b.maxRate, b.rate);
      b.circuit.state = circuit;
    }
    // backends removed by a reload or a discovery source leave once no worker carries them
    this.poolSet.sweep();

    this.listeners.forEach((l, i) => {
      const st = l.stats;
      const totals = (this.retired.listeners[i] ?? []).slice();
      const now: number[] = [];
      for (const s of current) {
        const w = s.listeners[i];
        if (!w) continue;
        addInto(totals, w.totals);
        addInto(now, w.now);
      }
      LISTENER_TOTALS.forEach((f, j) => (st[f] = totals[j] ?? 0));
      LISTENER_NOW.forEach((f, j) => (st[f] = now[j] ?? 0));
      st.maxActive = Math.max(st.maxActive, st.active);
      st.maxRate = Math.max(st.maxRate, st.rate);
    });
  }

  /**
   * Counters-only stand-ins for the workers' listeners, so /stats and
   * /metrics list them with their real ports; they never bind.
   */
  private mirrorListeners(reports: readonly ListenerReport[]): void {
    for (const r of reports) {
      const stats = new ListenerStats(r.host, r.port, r.tls);
      stats.port = r.port;
      const l = { address: { host: r.host, port: r.port }, tls: r.tls, stats, port: r.port, server: null, close: noop };
      this.listeners.push(l as unknown as Listener);
    }
  }

  /**
   * /stats `relay` with workers: the primary carries no tunnel and starts no
   * relay; each worker runs its own. Their sums (`total` and `pipes_refused`
   * keep what exited workers counted); `native` when any worker's relay
   * carries tunnels, `js` with the first reason when none does. Each entry
   * of `workers` has its own. `own`: the primary's view (what a worker
   * would use; nothing started), shown until a worker has answered.
   */
  override relayReport(): RelayStats {
    const own = super.relayReport();
    let tunnels = 0;
    let total = this.retired.relayTotal;
    let pipes = 0;
    let refused = this.retired.relayPipesRefused;
    let native = false;
    let reason: string | undefined;
    let seen = 0;
    for (const slot of this.slots) {
      const r = slot.last?.relay;
      if (!r) continue;
      seen++;
      tunnels += r.tunnels;
      total += r.total;
      pipes += r.pipes ?? 0;
      refused += r.pipes_refused ?? 0;
      if (r.mode === 'native') native = true;
      else reason ??= r.reason;
    }
    if (seen === 0) return { ...own, total };
    return native ? { mode: 'native', tunnels, total, pipes, pipes_refused: refused } : { mode: 'js', tunnels: 0, total, reason: reason ?? own.reason ?? 'off' };
  }

  /** The /stats document: the sums, plus one entry per worker. */
  private statsDocument(): Record<string, unknown> {
    return {
      ...buildStats(this),
      workers: this.slots.map((s) => ({
        id: s.id,
        pid: s.pid,
        state: s.state,
        started_at: s.startedAt > 0 ? new Date(s.startedAt).toISOString() : null,
        restarts: s.restarts,
        connections: s.last?.connections ?? null,
        backends: s.last ? Object.fromEntries(s.last.backends.map((b) => [b.name, { active: b.now[0], total: b.totals[0], circuit: b.circuit }])) : null,
        relay: s.last?.relay ?? null,
      })),
    };
  }

  /**
   * Put a front on the admin server's request handler: /stats is answered
   * here (sums, `workers`, `?worker=ID`); /health and /metrics are answered
   * by the usual handler after a refresh; everything else goes straight on.
   */
  private frontAdmin(admin: AdminServer): void {
    const server = admin.server;
    const inner = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    const pass = (req: IncomingMessage, res: ServerResponse): void => {
      for (const f of inner) f.call(server, req, res);
    };
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const method = req.method ?? 'GET';
      const url = new URL(req.url ?? '/', 'http://admin');
      const path = url.pathname;
      if ((method !== 'GET' && method !== 'HEAD') || (path !== '/stats' && path !== '/health' && path !== '/metrics')) return pass(req, res);
      this.refresh().then(
        () => {
          if (path !== '/stats') return pass(req, res);
          const id = url.searchParams.get('worker');
          if (id === null) return sendJson(res, 200, this.statsDocument());
          const slot = this.slots.find((s) => String(s.id) === id);
          if (!slot || !slot.last) return sendJson(res, 404, { error: `no worker ${id} (ids 1..${this.slots.length})` });
          return sendJson(res, 200, { ...slot.last.stats, worker: slot.id, pid: slot.last.pid });
        },
        (err: Error) => {
          this.loggers.log.error({ err: err.message }, 'admin refresh failed');
          if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        },
      );
    });
  }

  // ---- shutdown ----

  /**
   * Drain every worker (each stops accepting and lets its connections finish
   * for up to --drain-timeout), wait for them all to exit, then close the
   * admin server. /health answers `draining` meanwhile.
   */
  override async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.stopping = true;
    this.checker?.stop();
    this.health.stop();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.ticketTimer) clearInterval(this.ticketTimer);
    for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    const live = this.slots.filter((s) => s.worker !== null);
    this.loggers.log.info({ workers: live.length, drain_timeout_ms: this.config.drainTimeout }, 'draining');
    if (live.length > 0) {
      const exited = new Promise<void>((resolve) => (this.allExited = resolve));
      for (const s of live) {
        this.send(s, { t: 'shutdown' });
        s.state = 'stopping';
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), this.config.drainTimeout + 5000);
        timer.unref();
      });
      if ((await Promise.race([exited, late])) === 'late') {
        this.loggers.log.warn({ workers: this.slots.filter((s) => s.worker).map((s) => s.id) }, 'workers still running after the drain timeout: killing them');
        for (const s of this.slots) s.worker?.process.kill('SIGKILL');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 1000).unref())]);
      }
      clearTimeout(timer);
    }
    await this.admin?.close();
    this.loggers.log.info('stopped');
  }
}

function stateOf(b: Backend): HealthState {
  return { name: b.name, up: b.check.up, last: b.check.lastResult, at: b.check.lastCheckAt, durationMs: b.check.lastDurationMs };
}

function noop(): void {}
