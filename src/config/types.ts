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
  /**
   * Send a PROXY header with each check (config `healthCheck: {sendProxy}`):
   * true = always, false = never, absent = when the backend gets one (SPEC:
   * HAProxy `check-send-proxy`). A check sends v2 LOCAL or v1 UNKNOWN.
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
  /** Re-read `config` when the file changes (--watch-config). */
  readonly watchConfig: boolean;
  /** Worker processes; 1 = no cluster (--workers; `auto` resolved to the core count). */
  readonly workers: number;
  /** Every pool, the default one (`defaultPool`) included. */
  readonly pools: readonly PoolSpec[];
  readonly defaultPool: string;
  readonly routes: readonly RouteSpec[];
  readonly sni: readonly SniRouteSpec[];
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
