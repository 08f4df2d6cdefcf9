/**
 * The validated, frozen settings every other module reads (house rule 5:
 * nothing downstream reads process.env or re-parses strings).
 */
import type { BackendSpec, HostPort } from './parse.js';

export type Mode = 'l4' | 'l7';

export interface HealthCheckSpec {
  readonly type: 'off' | 'tcp' | 'http';
  /** `http`: the request path (starts with `/`). */
  readonly path: string | null;
  /** `tcp`: optional bytes to send after connecting (config file only). */
  readonly send: string | null;
  /** `tcp`: optional text the reply must contain (config file only). */
  readonly expect: string | null;
}

export type HashKey =
  | { readonly kind: 'ip' }
  | { readonly kind: 'host' }
  | { readonly kind: 'path' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string };

/** A named pool of backends (config file `pools:`; `default` is built from --backend). */
export interface PoolSpec {
  readonly name: string;
  /** Canonical strategy name (the global --strategy unless the pool sets its own). */
  readonly strategy: string;
  readonly backends: readonly BackendSpec[];
}

/** L7 route (config file `routes:`): first match wins. */
export interface RouteSpec {
  /** Exact host or `*.suffix`, lower case, without port; null = any. */
  readonly host: string | null;
  /** Path prefix; null = any. */
  readonly path: string | null;
  readonly pool: string;
}

/** TLS passthrough route by server name (config file `sni:`). */
export interface SniRouteSpec {
  readonly pattern: string;
  readonly pool: string;
}

export interface Config {
  readonly mode: Mode;
  readonly listen: readonly HostPort[];
  readonly backends: readonly BackendSpec[];
  /** Canonical strategy name. */
  readonly strategy: string;
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly admin: HostPort | null;
  readonly adminToken: string | null;
  readonly healthCheck: HealthCheckSpec;
  readonly healthInterval: number;
  readonly healthTimeout: number;
  readonly rise: number;
  readonly fall: number;
  readonly maxFails: number;
  readonly failTimeout: number;
  readonly retries: number;
  readonly connectTimeout: number;
  readonly idleTimeout: number;
  readonly maxConns: number;
  readonly backendMaxConns: number;
  readonly drainTimeout: number;
  readonly accessLog: boolean;
  readonly logLevel: string;
  /** The YAML file these settings came from (re-read on SIGHUP), or null. */
  readonly config: string | null;
  readonly queueTimeout: number;
  readonly maxQueue: number;
  readonly slowStart: number;
  readonly trustProxy: readonly string[];
  readonly hashKey: HashKey;
  readonly monitorUri: string | null;
  readonly maxHeaderSize: number;
  readonly maxHeaders: number;
  readonly headerTimeout: number;
  readonly serverTimeout: number;
  readonly keepaliveTimeout: number;
  /** Every pool, the default one (`defaultPool`) included. */
  readonly pools: readonly PoolSpec[];
  readonly defaultPool: string;
  readonly routes: readonly RouteSpec[];
  readonly sni: readonly SniRouteSpec[];
}
