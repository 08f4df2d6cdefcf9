/**
 * The validated, frozen settings every other module reads (validated once, then frozen; nothing downstream reads process.env:
 * nothing downstream reads process.env or re-parses strings).
 */
import type { BackendSpec, DiscoverySpec, HostPort } from './parse.js';

export type Mode = 'l4' | 'l7';

export interface HealthCheckSpec {
  readonly type: 'off' | 'tcp' | 'http';
  /** `http`: the request path (starts with `/`). */
  readonly path: string | null;
  /** `tcp`: optional bytes to send after connecting (config file only). */
  readonly send: string | null;
  /** `tcp`: optional text the reply must contain (config file only). */
  readonly expect: string | null;
  /**
   * Send a PROXY header with each check (config `healthCheck: {sendProxy}`):
   * true = always, false = never, absent = when the backend gets one (as
   * HAProxy's `check-send-proxy`). A check sends v2 LOCAL or v1 UNKNOWN.
   */
  readonly sendProxy?: boolean;
}

/** PROXY protocol version sent to backends; null = none. */
export type ProxyVersion = 1 | 2;

/** A certificate and its key for TLS termination (config `certificates:` or --tls-cert-dir). */
export interface CertificateSpec {
  readonly cert: string;
  readonly key: string;
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
  /** Backends given as HOST:PORT (source `config`). */
  readonly backends: readonly BackendSpec[];
  /** Discovery sources (`dns:`, `srv:`), in the order given: each feeds the pool the backends it finds. */
  readonly sources: readonly DiscoverySpec[];
}

/** L7 route (config file `routes:`): first match wins. */
export interface RouteSpec {
  /** Exact host or `*.suffix`, lower case, without port; null = any. */
  readonly host: string | null;
  /** Path prefix; null = any. */
  readonly path: string | null;
  readonly pool: string;
}

/** Route by client (config file `clientRoutes:`): first match wins, before `sni:` and `routes:`. */
export interface ClientRouteSpec {
  readonly pool: string;
  /** CIDR blocks, or null. */
  readonly cidr: readonly string[] | null;
  /** ISO 3166-1 alpha-2 country codes, upper case, or null (needs --geoip-db). */
  readonly country: readonly string[] | null;
  /** Continent codes (AF AN AS EU NA OC SA), or null (needs --geoip-db). */
  readonly continent: readonly string[] | null;
}

/** TLS passthrough route by server name (config file `sni:`). */
export interface SniRouteSpec {
  readonly pattern: string;
  readonly pool: string;
}

export interface Config {
  readonly mode: Mode;
  readonly listen: readonly HostPort[];
  /** The default pool's HOST:PORT backends (its discovery sources are in `pools`). */
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
  /** Connections one client IP may hold at once; 0 = no cap (--client-max-conns). */
  readonly clientMaxConns: number;
  /** New connections (l4) or requests (l7) per second per client IP; 0 = no cap (--client-rate). */
  readonly clientRate: number;
  /** Redis URL where --client-rate is counted across instances, or null (--limit-store). */
  readonly limitStore: string | null;
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
  /** ip-hash bounded loads in percent of the average load; 0 = off (--hash-balance-factor). */
  readonly hashBalanceFactor: number;
  readonly monitorUri: string | null;
  readonly maxHeaderSize: number;
  readonly maxHeaders: number;
  readonly headerTimeout: number;
  readonly serverTimeout: number;
  /** L7: longest silence of a client while its request body arrives (0 = off). */
  readonly bodyTimeout: number;
  readonly keepaliveTimeout: number;
  /** Re-read `config` when the file changes (--watch-config). */
  readonly watchConfig: boolean;
  /** Worker processes; 1 = no cluster (--workers; `auto` resolved to the core count). */
  readonly workers: number;
  /** Switch to this user once every listener is bound (--user; name or uid), or null. */
  readonly user: string | null;
  /** Switch to this group (--group; name or gid), or null: the user's own group. */
  readonly group: string | null;
  /** DNS servers asked by discovery sources (--resolver); empty = the system's (/etc/resolv.conf). */
  readonly resolvers: readonly HostPort[];
  /** Every pool, the default one (`defaultPool`) included. */
  readonly pools: readonly PoolSpec[];
  readonly defaultPool: string;
  readonly routes: readonly RouteSpec[];
  readonly sni: readonly SniRouteSpec[];
  /** Routes by client IP, country or continent, checked first (config file `clientRoutes:`). */
  readonly clientRoutes: readonly ClientRouteSpec[];
  /** MaxMind DB file for `country:`/`continent:` client routes (--geoip-db), or null. */
  readonly geoipDb: string | null;
  // ---- TLS, SNI and the PROXY protocol ----
  /** Listeners require a PROXY v1/v2 header from a trusted peer. */
  readonly acceptProxy: boolean;
  /** CIDRs whose PROXY headers are believed (default loopback). */
  readonly acceptProxyFrom: readonly string[];
  /** Bound on reading a PROXY header or a ClientHello (passthrough SNI). */
  readonly peekTimeout: number;
  /** Bound on a TLS handshake, from accept (or from the end of the PROXY header); the connection is closed after it. */
  readonly handshakeTimeout: number;
  /** Bound in bytes on a peeked ClientHello. */
  readonly sniMaxBytes: number;
  /** PROXY header sent to every backend (a backend's own `sendProxy` wins); null = none. */
  readonly sendProxy: ProxyVersion | null;
  /** Connect to every backend with TLS (a backend's own `tls` wins). */
  readonly backendTls: boolean;
  /** Do not verify backend certificates (logged as a warning). */
  readonly backendTlsInsecure: boolean;
  /** CA file for backend certificates (default: the system CAs). */
  readonly backendTlsCa: string | null;
  /** Directory of NAME.crt/NAME.key pairs served by SNI. */
  readonly tlsCertDir: string | null;
  /** Extra certificates served by SNI (config file `certificates:`). */
  readonly certificates: readonly CertificateSpec[];
  /** ALPN protocols offered when terminating TLS (l7: http/1.1). */
  readonly alpn: readonly string[];
  /** Require client certificates signed by this CA (mTLS). */
  readonly tlsClientCa: string | null;
  /** OpenSSL cipher list for TLS 1.2. */
  readonly tlsCiphers: string;
  /** Session ticket key rotation period (0 = never rotate). */
  readonly tlsTicketRotation: number;
}
