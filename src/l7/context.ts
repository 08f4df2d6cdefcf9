/**
 * What every L7 session of one balancer shares: the runtime (settings,
 * pools, queue, accounting), the upstream connection pool, the router and
 * the trusted-proxy set. The router and the CIDR set are rebuilt when the
 * runtime's config object changes (SIGHUP), never per request.
 */
import type { Config } from '../config/types.js';
import type { Backend } from '../core/backend.js';
import { CidrSet } from '../core/cidr.js';
import type { EndReason } from '../core/ends.js';
import type { LbError } from '../core/errors.js';
import type { Pool } from '../core/pool.js';
import type { Loggers } from '../logger.js';
import type { QueuedStream, UpstreamService } from '../stream/services.js';
import type { Tracked } from '../stream/registry.js';
import { Router } from './router.js';
import { UpstreamPool } from './upstream-pool.js';

/** What L7 sessions need of the running balancer. */
export interface L7Host {
  readonly config: Config;
  readonly loggers: Loggers;
  enqueue(s: QueuedStream): boolean;
  dequeue(s: QueuedStream): void;
  release(pool: Pool, b: Backend): void;
  onConnectSuccess(b: Backend): void;
  onConnectFailure(pool: Pool, b: Backend, err: LbError): void;
  sessionEnded(s: Tracked, reason: EndReason): void;
  readonly pools: ReadonlyMap<string, Pool>;
  /** The default pool. */
  readonly pool: Pool;
  /** Shutting down: answers carry `Connection: close`. */
  readonly draining: boolean;
  readonly upstream: UpstreamService;
}

/** Records one finished request's duration in seconds (Prometheus); may be a no-op. */
export type ObserveRequest = (backend: Backend, pool: Pool, seconds: number) => void;

export class L7Context {
  readonly host: L7Host;
  readonly upstreams: UpstreamPool;
  observe: ObserveRequest | null;
  private cfg: Config | null = null;
  private routerCache: Router | null = null;
  private trustCache: CidrSet | null = null;

  constructor(host: L7Host, observe: ObserveRequest | null = null, upstreams = new UpstreamPool()) {
    this.host = host;
    this.observe = observe;
    this.upstreams = upstreams;
  }

  private refresh(): void {
    const c = this.host.config;
    if (c === this.cfg) return;
    this.cfg = c;
    this.routerCache = new Router(c.routes, this.host.pools, () => this.host.pool);
    this.trustCache = c.trustProxy.length > 0 ? new CidrSet(c.trustProxy) : null;
  }

  get router(): Router {
    if (this.host.config !== this.cfg) this.refresh();
    return this.routerCache!;
  }

  /** The --trust-proxy set, or null when none. */
  get trust(): CidrSet | null {
    if (this.host.config !== this.cfg) this.refresh();
    return this.trustCache;
  }

  /** Some backend of some pool is `up` (for --monitor-uri). */
  anyBackendUp(): boolean {
    for (const p of this.host.pools.values()) if (p.upCount() > 0) return true;
    return false;
  }
}
