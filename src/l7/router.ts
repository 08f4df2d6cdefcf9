/**
 * L7 routing (config file `routes:`): each request's Host and path choose a
 * pool. Routes are tried in order, first match wins; no match → the default
 * pool. A route's `host` is an exact name or `*.suffix` (which matches any
 * name ending in `.suffix`, not `suffix` itself), compared case-insensitively
 * without the port; its `path` is a plain prefix of the request path (the
 * target up to `?`). A missing host or path matches anything.
 *
 * Built once per config (decided once, not per connection); route() does not allocate except for
 * lower-casing a Host that has upper-case letters or a port.
 */
import type { RouteSpec } from '../config/types.js';
import type { Pool } from '../core/pool.js';

interface CompiledRoute {
  /** exact host, or the suffix including its leading dot; null = any */
  host: string | null;
  wildcard: boolean;
  path: string | null;
  pool: string;
}

export class Router {
  private readonly routes: CompiledRoute[];
  private readonly pools: ReadonlyMap<string, Pool>;
  private readonly defaultPool: () => Pool;

  constructor(routes: readonly RouteSpec[], pools: ReadonlyMap<string, Pool>, defaultPool: () => Pool) {
    this.routes = routes.map((r) => ({
      host: r.host === null ? null : r.host.startsWith('*.') ? r.host.slice(1) : r.host,
      wildcard: r.host !== null && r.host.startsWith('*.'),
      path: r.path,
      pool: r.pool,
    }));
    this.pools = pools;
    this.defaultPool = defaultPool;
  }

  /** True when there is nothing to route (every request goes to the default pool). */
  get empty(): boolean {
    return this.routes.length === 0;
  }

  /** The pool for a request with Host header `hostHeader` ('' when absent) and target `url`. */
  route(hostHeader: string, url: string): Pool {
    const routes = this.routes;
    if (routes.length === 0) return this.defaultPool();
    const host = normalizeHost(hostHeader);
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.host !== null) {
        if (r.wildcard) {
          if (host.length <= r.host.length || !host.endsWith(r.host)) continue;
        } else if (host !== r.host) continue;
      }
      if (r.path !== null && !pathHasPrefix(url, r.path)) continue;
      return this.pools.get(r.pool) ?? this.defaultPool();
    }
    return this.defaultPool();
  }
}

/** Host header → lower-case name without port (IPv6 literals keep their brackets). */
export function normalizeHost(h: string): string {
  let end = h.length;
  if (h.charCodeAt(0) === 0x5b /* [ */) {
    const close = h.indexOf(']');
    end = close < 0 ? end : close + 1;
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) end = colon;
  }
  let lower = true;
  for (let i = 0; i < end; i++) {
    const c = h.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      lower = false;
      break;
    }
  }
  const s = end === h.length ? h : h.slice(0, end);
  return lower ? s : s.toLowerCase();
}

/** Does the path part of `url` (before `?`) start with `prefix`? */
function pathHasPrefix(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false;
  const q = url.indexOf('?');
  return q < 0 || q >= prefix.length;
}
