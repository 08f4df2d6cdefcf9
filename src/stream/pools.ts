/**
 * Every pool of one balancer, with its wait queue: the "pools and queue"
 * service the streams use (docs/architecture.md). It owns membership
 * changes, whoever asks for them, so that a backend joins, changes weight
 * or leaves the same way every time: a joiner starts `up` (ramping with
 * --slow-start once lb4 is running), a leaver drains what it carries and is
 * forgotten after its last connection.
 *
 * Membership comes from *sources*. Each pool holds, per source, the list of
 * backends that source wants in it: `config` (the HOST:PORT entries of
 * --backend / YAML, set by apply() on start and on every reload), `api`
 * (run-time additions) and one per discovery source (`dns:HOST:PORT`,
 * `srv:NAME`, set by src/discovery/ through the balancer). setSource()
 * replaces one source's list and reconciles; it is the one path for every
 * membership change.
 *
 * Names are unique across the balancer (the admin API, the workers' health
 * messages and /stats address backends by name). When two sources want the
 * same name, the first one keeps it: pools in config order, and within a
 * pool `config`, then `api`, then the discovery sources in the order they
 * are listed. The loser's entry is left out and logged once as
 * `backend name conflict` (warn, with `backend`, `pool`, `source` and the
 * `owner` source); it takes the name over if the owner lets it go.
 */
import type { Logger } from 'pino';
import { Backend } from '../core/backend.js';
import { Pool } from '../core/pool.js';
import { WaitQueue } from '../core/wait-queue.js';
import { findPickerFactory, type StrategyLookup } from '../core/pickers/index.js';
import type { Config, PoolSpec } from '../config/types.js';
import type { BackendSpec } from '../config/parse.js';
import type { PoolService, QueuedStream } from './services.js';

export type AdminAction = 'drain' | 'disable' | 'enable';

/** The source of the HOST:PORT backends of the config (flags, env, YAML). */
export const CONFIG_SOURCE = 'config';
/** The source of backends added at run time through the admin API. */
export const API_SOURCE = 'api';

/** What one source wants in one pool. */
export interface SourceSet {
  readonly pool: string;
  readonly source: string;
  readonly specs: readonly BackendSpec[];
}

export interface PoolSetOptions {
  /** The balancer's strategies: the built-ins, plus a library user's own (createBalancer's `strategies`). Default the built-ins. */
  findStrategy?: StrategyLookup;
  /**
   * This balancer carries no connections of its own (the --workers primary,
   * whose counters mirror the workers'): a removed backend is kept, shown
   * `draining`, until sweep() finds it idle.
   */
  readonly mirror?: boolean;
  /** Log no membership lines (`backend added`, `backend removed`, `backend name conflict`): a --workers worker, whose primary logs them. */
  readonly quiet?: boolean;
  /** Called after the set of backends changed (a join, a leave, a forgotten leaver): the health checker follows. */
  readonly onMembership?: () => void;
}

/** Per pool: the sources in rank order and what each wants. */
interface Wanted {
  /** Rank: `config`, `api`, then the discovery sources as listed; sources not listed rank after, in arrival order. */
  order: string[];
  readonly sets: Map<string, readonly BackendSpec[]>;
}

export class PoolSet implements PoolService {
  /** Every pool by name; the default one (`default`, or config `defaultPool`) is used unless a route says otherwise. */
  readonly byName = new Map<string, Pool>();
  private readonly queues = new Map<Pool, WaitQueue<QueuedStream>>();
  /** What each source wants, by pool name, in config order (pools that left the config are absent). */
  private readonly wanted = new Map<string, Wanted>();
  /** `pool \0 source \0 name` of entries left out by a name conflict, logged once. */
  private readonly shadowed = new Set<string>();
  private readonly getConfig: () => Config;
  private readonly log: Logger;
  private readonly opts: PoolSetOptions;
  private readonly findStrategy: StrategyLookup;
  private rampTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Set once lb4 is running: from then on joiners ramp with --slow-start. */
  private live = false;
  /** Run-time API overrides until the next reload: weights by backend name, and names taken out (DELETE). */
  private readonly weightOverrides = new Map<string, number>();
  private readonly deletedNames = new Set<string>();

  constructor(getConfig: () => Config, log: Logger, opts: PoolSetOptions = {}) {
    this.getConfig = getConfig;
    this.log = log;
    this.opts = opts;
    this.findStrategy = opts.findStrategy ?? findPickerFactory;
    const c = getConfig();
    for (const spec of c.pools) {
      this.add(spec);
      this.wanted.set(spec.name, { order: rankOrder(spec), sets: new Map([[CONFIG_SOURCE, spec.backends]]) });
    }
    this.reconcile(false, true);
    for (const p of this.byName.values()) p.rebuild();
  }

  private add(spec: { name: string; strategy: string }): Pool {
    const c = this.getConfig();
    const pool = new Pool(spec.name, [], this.findStrategy(spec.strategy)!, {
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

  /** The backend named `name` in any pool (a member rather than a same-named leaver still draining). */
  find(name: string): Backend | undefined {
    let leaver: Backend | undefined;
    for (const p of this.byName.values()) {
      for (const b of p.backends) {
        if (b.name !== name) continue;
        if (!b.removed) return b;
        leaver ??= b;
      }
    }
    return leaver;
  }

  /** The pool a backend belongs to. */
  poolOf(b: Backend): Pool | undefined {
    for (const p of this.byName.values()) if (p.backends.includes(b)) return p;
    return undefined;
  }

  /** From now on joiners ramp with --slow-start (the balancer calls it once started). */
  markLive(): void {
    this.live = true;
  }

  // ---- queue ----

  enqueue(s: QueuedStream): boolean {
    const q = this.queues.get(s.pool);
    if (q === undefined || q.length >= this.getConfig().maxQueue) return false;
    q.push(s);
    if (q.length > s.pool.maxQueued) s.pool.maxQueued = q.length;
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
    if (b.removed && b.active === 0 && !this.opts.mirror) {
      // a backend that left its pool has finished its last connection
      this.forget(pool, b);
    }
    this.wake(pool);
  }

  /** Drop a removed backend from its pool (and the pool, when it left the config and is now empty). */
  private forget(pool: Pool, b: Backend): void {
    const i = pool.backends.indexOf(b);
    if (i < 0) return;
    pool.backends.splice(i, 1);
    pool.rebuild();
    if (pool.backends.length === 0 && !this.wanted.has(pool.name) && this.byName.get(pool.name) === pool) {
      this.byName.delete(pool.name);
      this.queues.delete(pool);
    }
    this.opts.onMembership?.();
  }

  /**
   * Mirror mode (--workers primary): forget removed backends that no worker
   * carries any more (`active` is the workers' sum). Returns true when one left.
   */
  sweep(): boolean {
    let gone = false;
    for (const pool of [...this.byName.values()]) {
      for (const b of pool.backends.slice()) {
        if (b.removed && b.active <= 0) {
          this.forget(pool, b);
          gone = true;
        }
      }
    }
    return gone;
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
    b.lastChange = Date.now();
    this.log.info({ backend: b.name, state: b.state }, `backend ${action}`);
    this.rebuildAll();
  }

  // ---- membership ----

  /**
   * Replace the backends `source` contributes to pool `pool` with `specs`:
   * new names join, names gone leave (draining what they carry, forgotten
   * after their last connection), weights and SRV priorities change in
   * place, a name whose address (or PROXY/TLS setting) changed is a leave
   * plus a join. Logs `backend added` / `backend removed` with `backend`,
   * `source`, `pool`. An empty list withdraws the source. Rebuilds the
   * pickers. Returns false (and changes nothing) when there is no such pool.
   */
  setSource(pool: string, source: string, specs: readonly BackendSpec[]): boolean {
    const w = this.wanted.get(pool);
    if (w === undefined) return false;
    if (specs.length === 0 && source !== CONFIG_SOURCE) w.sets.delete(source);
    else w.sets.set(source, specs);
    this.reconcile(this.live, false);
    this.rebuildAll();
    return true;
  }

  // ---- the run-time API (README "Admin API"): changes last until the next reload ----

  /** A backend named `name` that is not leaving, in any pool. */
  private inService(name: string): Backend | undefined {
    for (const p of this.byName.values()) for (const b of p.backends) if (b.name === name && !b.removed) return b;
    return undefined;
  }

  /**
   * Add `spec` to `pool` (source `api`). `exists`: a backend of that name
   * is in service (names are unique across pools); `no-pool`: no such pool.
   */
  addApi(pool: string, spec: BackendSpec): 'ok' | 'exists' | 'no-pool' {
    if (!this.wanted.has(pool)) return 'no-pool';
    if (this.inService(spec.name) !== undefined) return 'exists';
    this.deletedNames.delete(spec.name);
    this.weightOverrides.delete(spec.name);
    const list = this.specsOf(pool, API_SOURCE).filter((x) => x.name !== spec.name);
    list.push(spec);
    this.setSource(pool, API_SOURCE, list);
    return 'ok';
  }

  /** Set the weight of backend `name`, whatever its source; null when there is none in service. */
  setWeightApi(name: string, weight: number): Backend | null {
    const b = this.inService(name);
    if (b === undefined) return null;
    this.weightOverrides.set(name, weight);
    this.reconcile(this.live, false);
    this.rebuildAll();
    return b;
  }

  /** Take backend `name` out: it drains and then leaves. False when there is none in service. */
  removeApi(name: string): boolean {
    const b = this.inService(name);
    if (b === undefined) return false;
    this.deletedNames.add(name);
    this.weightOverrides.delete(name);
    for (const w of this.wanted.values()) {
      const api = w.sets.get(API_SOURCE);
      if (api === undefined || !api.some((x) => x.name === name)) continue;
      const rest = api.filter((x) => x.name !== name);
      if (rest.length > 0) w.sets.set(API_SOURCE, rest);
      else w.sets.delete(API_SOURCE);
    }
    this.reconcile(this.live, false);
    this.rebuildAll();
    return true;
  }

  /** The run-time overrides now (a new --workers worker gets them with its start). */
  overrides(): { weights: Array<[string, number]>; deleted: string[] } {
    return { weights: [...this.weightOverrides], deleted: [...this.deletedNames] };
  }

  /** Take over overrides read from overrides() (a --workers worker at start). */
  setOverrides(o: { weights: ReadonlyArray<readonly [string, number]>; deleted: readonly string[] }): void {
    for (const [name, w] of o.weights) this.weightOverrides.set(name, w);
    for (const name of o.deleted) this.deletedNames.add(name);
    this.reconcile(this.live, false);
    this.rebuildAll();
  }

  /** What `source` contributes to `pool` now (empty when nothing). */
  specsOf(pool: string, source: string): readonly BackendSpec[] {
    return this.wanted.get(pool)?.sets.get(source) ?? [];
  }

  /** Every source's current list except the config's (what a new --workers worker is sent). */
  sources(): SourceSet[] {
    const out: SourceSet[] = [];
    for (const [pool, w] of this.wanted) {
      for (const [source, specs] of w.sets) if (source !== CONFIG_SOURCE) out.push({ pool, source, specs });
    }
    return out;
  }

  /**
   * Align the pools with a new config (a reload), through the same path as
   * setSource(): each pool's `config` source gets its new HOST:PORT list;
   * discovery sources still listed keep what they found (src/discovery/
   * re-resolves new ones), those no longer listed are withdrawn; `api`
   * additions end (they last until the next reload); pools join, and pools
   * that left drain and are then forgotten. Strategies and limits change.
   * Open connections are untouched. Call rebuildAll() after.
   */
  apply(c: Config): void {
    this.weightOverrides.clear();
    this.deletedNames.clear();
    const next = new Map<string, Wanted>();
    for (const spec of c.pools) {
      const pool = this.byName.get(spec.name) ?? this.add(spec);
      pool.factory = this.findStrategy(spec.strategy)!;
      pool.opts.backendMaxConns = c.backendMaxConns;
      pool.opts.slowStart = c.slowStart;
      pool.opts.hashBalanceFactor = c.hashBalanceFactor;
      const order = rankOrder(spec);
      const sets = new Map<string, readonly BackendSpec[]>([[CONFIG_SOURCE, spec.backends]]);
      const old = this.wanted.get(spec.name);
      if (old) for (const [source, specs] of old.sets) if (source !== CONFIG_SOURCE && source !== API_SOURCE && order.includes(source)) sets.set(source, specs);
      next.set(spec.name, { order, sets });
    }
    this.wanted.clear();
    for (const [name, w] of next) this.wanted.set(name, w);
    for (const p of this.byName.values()) {
      p.opts.backendMaxConns = c.backendMaxConns;
      p.opts.slowStart = c.slowStart;
    }
    this.reconcile(true, false);
  }

  /**
   * Work out which source owns each name (first in rank wins, see the
   * module doc) and align every pool with it. `ramp`: joiners start a
   * slow-start ramp (lb4 is running); `quiet`: no `backend added` lines
   * (the backends lb4 starts with).
   */
  private reconcile(ramp: boolean, quiet: boolean): void {
    const owner = new Map<string, { pool: string; source: string }>();
    const shadowed = new Set<string>();
    const plan = new Map<Pool, Array<{ spec: BackendSpec; source: string }>>();
    for (const [poolName, w] of this.wanted) {
      const pool = this.byName.get(poolName)!;
      const list: Array<{ spec: BackendSpec; source: string }> = [];
      for (const source of ranked(w)) {
        for (const given of w.sets.get(source) ?? []) {
          if (this.deletedNames.has(given.name)) continue;
          const weight = this.weightOverrides.get(given.name);
          const spec = weight === undefined ? given : { ...given, weight };
          const o = owner.get(spec.name);
          if (o !== undefined) {
            if (o.pool === poolName && o.source === source) continue; // the same name twice in one answer
            const key = `${poolName}\0${source}\0${spec.name}`;
            shadowed.add(key);
            if (!this.shadowed.has(key) && !this.opts.quiet) this.log.warn({ backend: spec.name, pool: poolName, source, owner: o.source, owner_pool: o.pool }, 'backend name conflict');
            continue;
          }
          owner.set(spec.name, { pool: poolName, source });
          list.push({ spec, source });
        }
      }
      plan.set(pool, list);
    }
    this.shadowed.clear();
    for (const k of shadowed) this.shadowed.add(k);
    let changed = false;
    for (const pool of [...this.byName.values()]) {
      if (this.alignPool(pool, plan.get(pool) ?? [], ramp, quiet)) changed = true;
      if (!this.wanted.has(pool.name) && pool.backends.length === 0) {
        // a pool that left the config and carries nothing: forgotten
        this.byName.delete(pool.name);
        this.queues.delete(pool);
      }
    }
    if (changed) this.opts.onMembership?.();
  }

  /** Make `pool`'s members exactly `want` (plus leavers still draining). Returns true when membership changed. */
  private alignPool(pool: Pool, want: ReadonlyArray<{ spec: BackendSpec; source: string }>, ramp: boolean, quiet: boolean): boolean {
    const current = new Map<string, Backend>();
    for (const b of pool.backends) if (!current.has(b.name) || current.get(b.name)!.removed) current.set(b.name, b);
    const list: Backend[] = [];
    const kept = new Set<Backend>();
    let changed = false;
    const now = Date.now();
    for (const { spec, source } of want) {
      let b = current.get(spec.name);
      const init = { ...spec, source };
      if (b && !b.sameTarget(init)) {
        // same name, new address: the old one drains, a new one takes its place
        this.leave(pool, b);
        b = undefined;
      }
      if (!b) {
        b = new Backend(init);
        if (ramp) b.upSince = now;
        changed = true;
        if (!quiet && !this.opts.quiet) this.log.info({ backend: b.name, address: b.address, source, pool: pool.name }, 'backend added');
      } else {
        if (b.removed) {
          // back before its last connection ended: it rejoins as it is
          b.removed = false;
          changed = true;
          if (!this.opts.quiet) this.log.info({ backend: b.name, address: b.address, source, pool: pool.name }, 'backend added');
        }
        b.configWeight = spec.weight;
        b.priority = spec.priority ?? -1;
        b.source = source;
      }
      kept.add(b);
      list.push(b);
    }
    for (const b of pool.backends) {
      if (kept.has(b)) continue;
      if (!b.removed) {
        this.leave(pool, b);
        changed = true;
      }
      // a leaver stays (shown `draining`) until its last connection ends
      if (b.active > 0 || this.opts.mirror) list.push(b);
      else changed = true;
    }
    pool.backends = list;
    return changed;
  }

  private leave(pool: Pool, b: Backend): void {
    b.removed = true;
    if (!this.opts.quiet) this.log.info({ backend: b.name, source: b.source, active: b.active, pool: pool.name }, 'backend removed');
  }

  /** Once a second: per-second rates of every backend. */
  tick(): void {
    for (const p of this.byName.values()) for (const b of p.backends) b.tick();
  }

  /** Stop timers (shutdown). */
  stop(): void {
    this.stopped = true;
    if (this.rampTimer !== null) clearTimeout(this.rampTimer);
    this.rampTimer = null;
  }
}

/** A pool's source ranking from its config: `config`, `api`, then its discovery sources as listed. */
function rankOrder(spec: PoolSpec): string[] {
  return [CONFIG_SOURCE, API_SOURCE, ...spec.sources.map((s) => s.source)];
}

/** The sources of a pool in rank order: the listed ones, then any others in arrival order. */
function ranked(w: Wanted): string[] {
  const out = w.order.filter((s) => w.sets.has(s));
  for (const s of w.sets.keys()) if (!w.order.includes(s)) out.push(s);
  return out;
}
