/**
 * One `--workers` worker: a Balancer that accepts clients on the listeners
 * it shares with its siblings (node:cluster hands it connections round
 * robin from the primary's listening handle) and does everything a single
 * lb4 does on the data path: picking, queueing, tunnels, L7, passive health
 * (the circuit breaker stays per worker: it reacts to this worker's own
 * failed connects), accounting and the access log.
 *
 * What it does not do: active health checks (the primary runs them once and
 * sends their verdicts, applied here without logging: the primary logged the
 * transition), DNS discovery (the primary resolves dns:/srv: sources and
 * sends what they find, applied here through the same PoolSet.setSource,
 * without logging `backend added`/`removed`: the primary logs them once),
 * the admin server (the primary's), reading --config (the
 * primary sends the validated effective config), and the start-up lines
 * (the primary prints them once every worker is listening). Its own log
 * lines carry `"worker": ID`.
 *
 * Signals: SIGHUP is ignored (the primary re-reads the file and sends it);
 * SIGTERM, SIGINT, SIGQUIT, SIGUSR1, a `shutdown` message, or the loss of
 * the IPC channel (the primary died) drain this worker like a single lb4
 * and end it with 0 (SIGUSR1 never opens Node's inspector).
 */
import { Balancer } from '../balancer.js';
import type { Config } from '../config/types.js';
import { createLoggers, type Loggers } from '../logger.js';
import { LbError } from '../core/errors.js';
import { STOP_SIGNALS, type EarlySignals } from '../signals.js';
import { buildStats } from '../admin/stats.js';
import { resolveIdentity } from '../config/identity.js';
import { cannotSwitch, runningAsFields, switchIdentity } from '../privileges.js';
import { BACKEND_NOW, BACKEND_TOTALS, isToWorker, LISTENER_NOW, LISTENER_TOTALS, type AdminAction, type FromWorker, type HealthState, type WorkerSnapshot } from './protocol.js';

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

/** The worker's settings: the primary's, without the admin server. */
function workerConfig(c: Config): Config {
  return Object.freeze({ ...c, admin: null });
}

/**
 * Apply the primary's verdict on one backend's active checks. An up verdict
 * closes the passive circuit too (README "Health and failover"); a backend back to healthy
 * starts its slow-start ramp. Returns true when eligibility may have changed.
 */
function applyHealth(lb: Balancer, s: HealthState): boolean {
  const b = lb.findBackend(s.name);
  if (!b) return false;
  b.check.lastResult = s.last;
  b.check.lastCheckAt = s.at;
  b.check.lastDurationMs = s.durationMs;
  if (b.check.up === s.up) return false;
  const wasHealthy = b.healthy;
  b.check.reset(s.up);
  if (s.up) b.circuit.close();
  if (!wasHealthy && b.healthy) b.upSince = Date.now();
  return true;
}

function applyAdmin(lb: Balancer, name: string, action: AdminAction): void {
  const b = lb.findBackend(name);
  if (!b) return;
  b.admin = action === 'drain' ? 'draining' : action === 'disable' ? 'disabled' : 'enabled';
  lb.poolSet.rebuildAll();
}

function snapshot(lb: Balancer): WorkerSnapshot {
  lb.sync();
  const backends: WorkerSnapshot['backends'][number][] = [];
  for (const p of lb.pools.values()) {
    for (const b of p.backends) {
      backends.push({
        name: b.name,
        pool: p.name,
        totals: BACKEND_TOTALS.map((f) => b[f]),
        now: BACKEND_NOW.map((f) => b[f]),
        lastUsed: b.lastUsed,
        responses: b.responses.slice(),
        circuit: b.circuit.state,
      });
    }
  }
  const r = lb.registry;
  return {
    pid: process.pid,
    connections: { active: r.active, total: r.total, rate: r.rate },
    ends: Array.from(r.ends),
    backends,
    listeners: lb.listeners.map((l) => ({ totals: LISTENER_TOTALS.map((f) => l.stats[f]), now: LISTENER_NOW.map((f) => l.stats[f]) })),
    relay: lb.relay.stats(),
    clients: { tracked: lb.limiter.tracked, limited: lb.limiter.limited, storeStatus: lb.limiter.storeStatus },
    stats: buildStats(lb),
  };
}

/**
 * Become --user/--group (the primary checked the names and that it runs as
 * root). A worker restarted by an already switched primary is born as that
 * user: nothing to do then. Returns why it failed, or null.
 */
function switchWorker(c: Config, loggers: Loggers): string | null {
  try {
    const id = resolveIdentity(c.user, c.group);
    if (id === null) return null;
    const why = cannotSwitch(id);
    if (why !== null) return why;
    loggers.log.info(runningAsFields(id, switchIdentity(id)), 'running as');
    return null;
  } catch (err) {
    return `cannot switch to --user/--group: ${(err as Error).message}`;
  }
}

/**
 * Run this process as a worker; resolves with the exit code once it has
 * stopped. `opts.early`: the signals bin/lb4 held before this ran (src/cli.ts).
 */
export function runWorker(opts: { relay?: 'native' | 'js'; early?: EarlySignals } = {}): Promise<number> {
  return new Promise<number>((resolve) => {
    let lb: Balancer | null = null;
    let loggers: Loggers | null = null;
    let starting: Promise<unknown> = Promise.resolve();
    let stopping = false;
    const health = new Map<string, HealthState>();

    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      if (!lb) return resolve(0);
      const l = lb;
      // after start() settles, so listeners still binding are closed too
      void starting
        .then(() => l.shutdown())
        .then(() => loggers!.flush())
        .then(() => resolve(0), () => resolve(1));
    };

    process.on('SIGHUP', () => {});
    // as in the primary (src/cli.ts): each drains; SIGUSR1 never opens the inspector
    for (const signal of STOP_SIGNALS) process.on(signal, stop);
    process.on('disconnect', stop);
    opts.early?.release();
    if (opts.early !== undefined && opts.early.held.length > 0) stop();
    process.on('uncaughtException', (err) => loggers?.log.error({ err: err.stack ?? String(err) }, 'uncaught exception'));
    process.on('unhandledRejection', (err) => loggers?.log.error({ err: (err as Error)?.stack ?? String(err) }, 'unhandled rejection'));

    process.on('message', (m: unknown) => {
      if (!isToWorker(m)) return;
      switch (m.t) {
        case 'start': {
          if (lb || stopping) return;
          const base = createLoggers(m.config.logLevel);
          const child = { worker: m.id };
          loggers = { log: base.log.child(child), always: base.always.child(child), flush: base.flush };
          const b = new Balancer(workerConfig(m.config), { loggers, activeChecks: false, relay: opts.relay, discovery: false, quietMembership: true });
          lb = b;
          // what the primary's discovery sources found so far
          for (const s of m.sources) b.poolSet.setSource(s.pool, s.source, s.specs);
          // and the run-time API's weights and removals so far
          b.poolSet.setOverrides(m.overrides);
          for (const s of m.health) health.set(s.name, s);
          for (const s of m.health) applyHealth(b, s);
          b.poolSet.rebuildAll();
          starting = b.start().then(
            () => {
              if (m.tickets) b.tlsTerminator?.useSharedTicketKeys(Buffer.from(m.tickets));
              if (stopping) return;
              // --user/--group: bound (and certificates read), so switch before saying so
              const why = switchWorker(m.config, loggers!);
              if (why !== null) {
                send({ t: 'listen-error', message: why });
                void b.shutdown().then(() => loggers!.flush()).then(() => resolve(1));
                return;
              }
              send({ t: 'listening', listeners: b.listeners.map((l) => ({ host: l.address.host, port: l.port, tls: l.tls })) });
            },
            (err: Error) => {
              send({ t: 'listen-error', message: err instanceof LbError ? err.message : String(err.stack ?? err) });
              void loggers!.flush().then(() => resolve(1));
            },
          );
          return;
        }
        case 'reload':
          if (!lb) return;
          lb.reload(workerConfig(m.config));
          // a reload may reset check states (checks turned off): re-apply the primary's
          for (const s of health.values()) applyHealth(lb, s);
          lb.poolSet.rebuildAll();
          return;
        case 'health': {
          let changed = false;
          for (const s of m.states) {
            health.set(s.name, s);
            if (lb && applyHealth(lb, s)) changed = true;
          }
          if (changed) lb!.poolSet.rebuildAll();
          return;
        }
        case 'admin':
          if (lb) applyAdmin(lb, m.backend, m.action);
          return;
        case 'source':
          lb?.poolSet.setSource(m.pool, m.source, m.specs);
          return;
        case 'api':
          // the primary applied a run-time API call; the same here
          if (!lb) return;
          if (m.op === 'add') lb.poolSet.addApi(m.pool, m.spec);
          else if (m.op === 'weight') lb.poolSet.setWeightApi(m.name, m.weight);
          else lb.poolSet.removeApi(m.name);
          return;
        case 'tickets':
          lb?.tlsTerminator?.useSharedTicketKeys(Buffer.from(m.keys));
          return;
        case 'stats':
          if (lb) send({ t: 'stats', req: m.req, snapshot: snapshot(lb) });
          return;
        case 'shutdown':
          stop();
          return;
      }
    });
    send({ t: 'hello' });
  });
}
