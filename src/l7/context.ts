/**
 * What every L7 exchange of one balancer shares: the settings, the pools
 * (for routing), the upstream connection pool, the router and the
 * trusted-proxy set. The router and the CIDR set are rebuilt when the
 * config object changes (SIGHUP), never per request.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { Backend } from '../core/backend.js';
import { CidrSet } from '../core/cidr.js';
import type { Pool } from '../core/pool.js';
import { Router } from './router.js';
import { UpstreamPool } from './upstream-pool.js';

/** Records one finished request's duration in seconds (Prometheus); may be a no-op. */
export type ObserveRequest = (backend: Backend, pool: Pool, seconds: number) => void;

/** What the L7 side needs of the running balancer. */
export interface L7Host {
  readonly config: Config;
  /** Every pool by name. */
  readonly pools: ReadonlyMap<string, Pool>;
  /** The pool used when no route says otherwise. */
  readonly defaultPool: Pool;
  /** Shutting down: answers carry `Connection: close`. */
  readonly draining: boolean;
  /** The access log (pinned at info: the user asked for it). */
  readonly accessLog: Logger;
  /** Request durations for /metrics, when the admin server is on. */
  observe: ObserveRequest | null;
}

export class L7Context {
  private readonly host: L7Host;
  readonly upstreams: UpstreamPool;
  private cfg: Config | null = null;
  private routerCache: Router | null = null;
  private trustCache: CidrSet | null = null;

  constructor(host: L7Host, upstreams = new UpstreamPool()) {
    this.host = host;
    this.upstreams = upstreams;
  }

  get config(): Config {
    return this.host.config;
  }

  get draining(): boolean {
    return this.host.draining;
  }

  get accessLog(): Logger {
    return this.host.accessLog;
  }

  get observe(): ObserveRequest | null {
    return this.host.observe;
  }

  private refresh(): void {
    const c = this.host.config;
    if (c === this.cfg) return;
    this.cfg = c;
    const host = this.host;
    this.routerCache = new Router(c.routes, host.pools, () => host.defaultPool);
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

  /** The pool named `name`, or null. */
  pool(name: string): Pool | null {
    return this.host.pools.get(name) ?? null;
  }

  /** Some backend of some pool is `up` (for --monitor-uri). */
  anyBackendUp(): boolean {
    for (const p of this.host.pools.values()) if (p.upCount() > 0) return true;
    return false;
  }

  /** Shutdown began: close the idle upstream connections. */
  drain(): void {
    this.upstreams.closeAll();
  }
}
