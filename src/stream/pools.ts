/**
 * Every pool of one balancer, with its wait queue: the "pools and queue"
 * service the streams use (docs/architecture.md). It owns membership
 * changes, whoever asks for them (a config reload today), so that a backend
 * joins, changes weight or leaves the same way every time: a joiner starts
 * `up` (slow start when it comes back), a leaver drains what it carries and
 * is forgotten after its last connection.
 */
import type { Logger } from 'pino';
import { Backend } from '../core/backend.js';
import { Pool } from '../core/pool.js';
import { WaitQueue } from '../core/wait-queue.js';
import { findPickerFactory } from '../core/pickers/index.js';
import type { Config, PoolSpec } from '../config/types.js';
import type { BackendSpec } from '../config/parse.js';
import type { PoolService, QueuedStream } from './services.js';

export type AdminAction = 'drain' | 'disable' | 'enable';

export class PoolSet implements PoolService {
  /** Every pool by name; the default one (`default`, or config `defaultPool`) is used unless a route says otherwise. */
  readonly byName = new Map<string, Pool>();
  private readonly queues = new Map<Pool, WaitQueue<QueuedStream>>();
  private readonly getConfig: () => Config;
  private readonly log: Logger;
  private rampTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(getConfig: () => Config, log: Logger) {
    this.getConfig = getConfig;
    this.log = log;
    for (const spec of getConfig().pools) this.add(spec);
  }

  private add(spec: PoolSpec): Pool {
    const c = this.getConfig();
    const pool = new Pool(spec.name, spec.backends.map((b) => new Backend(b)), findPickerFactory(spec.strategy)!, {
      backendMaxConns: c.backendMaxConns,
      slowStart: c.slowStart,
      hashBalanceFactor: c.hashBalanceFactor,
      random: Math.random,
      now: Date.now,
      onPanic: (p, panic) => {
        if (panic) this.log.warn({ pool: p.name }, 'panic');
        else this.log.info({ pool: p.name }, 'panic over');
      },
    });
    this.byName.set(spec.name, pool);
    this.queues.set(pool, new WaitQueue());
    return pool;
  }

  /** The pool used when no route says otherwise. */
  get default(): Pool {
    return this.byName.get(this.getConfig().defaultPool) ?? this.byName.values().next().value!;
  }

  /** Every backend of every pool. */
  backends(): Backend[] {
    const all: Backend[] = [];
    for (const p of this.byName.values()) for (const b of p.backends) all.push(b);
    return all;
  }

  /** The backend named `name` in any pool. */
  find(name: string): Backend | undefined {
    for (const p of this.byName.values()) {
      for (const b of p.backends) if (b.name === name) return b;
    }
    return undefined;
  }

  /** The pool a backend belongs to. */
  poolOf(b: Backend): Pool | undefined {
    for (const p of this.byName.values()) if (p.backends.includes(b)) return p;
    return undefined;
  }

  // ---- queue ----

  enqueue(s: QueuedStream): boolean {
    const q = this.queues.get(s.pool);
    if (q === undefined || q.length >= this.getConfig().maxQueue) return false;
    q.push(s);
    return true;
  }

  dequeue(s: QueuedStream): void {
    this.queues.get(s.pool)?.remove(s);
  }

  /** Streams waiting in `pool`'s queue now. */
  queueLength(pool: Pool): number {
    return this.queues.get(pool)?.length ?? 0;
  }

  release(pool: Pool, b: Backend): void {
    pool.release(b);
    if (b.removed && b.active === 0) {
      // a backend that left the config has finished its last connection
      const i = pool.backends.indexOf(b);
      if (i >= 0) {
        pool.backends.splice(i, 1);
        pool.rebuild();
      }
    }
    this.wake(pool);
  }

  /**
   * Serve queued streams while their pool has free slots, oldest first. An
   * empty eligible set (every backend drained, disabled or removed) ends
   * every waiter at once with `no-backend`.
   */
  wake(pool: Pool): void {
    const q = this.queues.get(pool);
    if (!q) return;
    while (q.length > 0 && (pool.hasFreeSlot() || pool.eligible.length === 0)) {
      const s = q.first!;
      s.choose();
      if (s.queued) break;
    }
  }

  /** Rebuild every pool's picker (after a state change), wake waiters, and keep slow-start ramps ticking. */
  rebuildAll(): void {
    for (const p of this.byName.values()) {
      p.rebuild();
      this.wake(p);
    }
    this.scheduleRamp();
  }

  private scheduleRamp(): void {
    const slowStart = this.getConfig().slowStart;
    if (this.rampTimer !== null || slowStart <= 0 || this.stopped) return;
    let ramping = false;
    for (const p of this.byName.values()) if (p.rampingUntil() > 0) ramping = true;
    if (!ramping) return;
    const step = Math.max(50, Math.min(1000, Math.floor(slowStart / 20)));
    this.rampTimer = setTimeout(() => {
      this.rampTimer = null;
      this.rebuildAll();
    }, step);
    this.rampTimer.unref();
  }

  /** Once a second: decay every pool's latency estimates (p2c-ewma); `now` is performance.now(). */
  decayLatency(now: number): void {
    for (const p of this.byName.values()) p.decayLatency(now);
  }

  /** Admin: drain, disable or enable a backend. */
  setAdminState(b: Backend, action: AdminAction): void {
    const to = action === 'drain' ? 'draining' : action === 'disable' ? 'disabled' : 'enabled';
    if (b.admin === to) return;
    b.admin = to;
    this.log.info({ backend: b.name, state: b.state }, `backend ${action}`);
    this.rebuildAll();
  }

  // ---- membership ----

  /**
   * Align the pools with a new config (a reload): pools and backends join,
   * change weight or leave (draining what they carry); strategies and
   * limits change. Open connections are untouched. Call rebuildAll() after.
   */
  apply(c: Config): void {
    const wanted = new Set(c.pools.map((p) => p.name));
    for (const spec of c.pools) {
      const pool = this.byName.get(spec.name) ?? this.add({ name: spec.name, strategy: spec.strategy, backends: [] });
      this.applyPool(pool, spec.strategy, spec.backends);
    }
    for (const [name, pool] of this.byName) {
      if (wanted.has(name)) continue;
      // a pool that left the config: its backends drain, then it is forgotten
      this.applyPool(pool, pool.factory.name, []);
      if (pool.backends.length === 0) {
        this.byName.delete(name);
        this.queues.delete(pool);
      }
    }
  }

  /** Align one pool with its new backend list: add, re-weight, or remove (drain) backends. */
  private applyPool(pool: Pool, strategy: string, specs: readonly BackendSpec[]): void {
    const byName = new Map(pool.backends.map((b) => [b.name, b]));
    const list: Backend[] = [];
    const wanted = new Set<string>();
    for (const bs of specs) {
      wanted.add(bs.name);
      let b = byName.get(bs.name);
      if (b && !b.sameTarget(bs)) {
        // same name, new address: the old one drains, a new one takes its place
        b.removed = true;
        if (b.active > 0) list.push(b);
        b = undefined;
      }
      if (!b) {
        b = new Backend(bs);
        this.log.info({ backend: b.name, address: b.address, pool: pool.name }, 'backend added');
      } else {
        b.configWeight = bs.weight;
        b.removed = false;
      }
      list.push(b);
    }
    for (const b of pool.backends) {
      if (wanted.has(b.name) || list.includes(b)) continue;
      b.removed = true;
      this.log.info({ backend: b.name, active: b.active, pool: pool.name }, 'backend removed');
      if (b.active > 0) list.push(b);
    }
    const c = this.getConfig();
    pool.backends = list;
    pool.factory = findPickerFactory(strategy)!;
    pool.opts.backendMaxConns = c.backendMaxConns;
    pool.opts.slowStart = c.slowStart;
    pool.opts.hashBalanceFactor = c.hashBalanceFactor;
  }

  /** Stop timers (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.rampTimer !== null) clearTimeout(this.rampTimer);
    this.rampTimer = null;
  }
}
