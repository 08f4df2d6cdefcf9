/**
 * Settings for library users: `configFrom({ listen, backends, ... })` takes
 * an object with the config file's camelCase keys (README "Settings"),
 * typed by `LbOptions`, and returns the same frozen Config the command line
 * builds, validated by the same code (src/config/load.ts). Every problem is
 * reported at once, in one UsageError whose `problems` lists them.
 *
 * Unlike the command line, configFrom reads no environment unless it is
 * given one: a library user's process environment is theirs.
 */
import { UsageError } from '../core/errors.js';
import type { PickerFactory } from '../core/pickers/index.js';
import { buildConfig } from './load.js';
import type { Config } from './types.js';

/** A duration: milliseconds as a number, or a string with a unit (`500ms`, `2s`, `1.5m`, `1h`). */
export type DurationOption = number | string;

/** One backend: `HOST:PORT[,weight=N][,name=ID]`, or the object form. */
export type BackendOption =
  | string
  | {
      /** `HOST:PORT` or `[V6]:PORT`. */
      address: string;
      /** 0..1000, default 1 (0 = no new traffic). */
      weight?: number;
      /** Unique across pools; default `HOST:PORT`. */
      name?: string;
      /** PROXY protocol header to this backend (wins over `sendProxy`). */
      sendProxy?: 'v1' | 'v2' | 'off' | 1 | 2 | 0 | false;
      /** Connect with TLS (wins over `backendTls`). */
      tls?: boolean;
      servername?: string;
      /** CA file (PEM) for this backend's certificate. */
      ca?: string;
      insecure?: boolean;
    };

export type HealthCheckOption =
  | boolean
  | 'off'
  | 'tcp'
  | `http:/${string}`
  | { type?: 'tcp' | 'http' | 'off'; path?: string; send?: string; expect?: string; sendProxy?: boolean };

/**
 * Every setting of the config file, camelCase, with the value types YAML
 * would give (README "Settings" has the meaning and default of each). Not
 * here: `config`, `watchConfig`, `workers`, `user` and `group`, which
 * belong to the command line (a file to re-read, processes to fork, the
 * process's own identity to drop).
 */
export interface LbOptions {
  mode?: 'l4' | 'l7';
  /** `PORT`, `HOST:PORT` or `[V6]:PORT`, or a list; port 0 takes a free port (see Balancer.ports). Default `0.0.0.0:4443`. */
  listen?: string | number | ReadonlyArray<string | number>;
  backends?: string | readonly BackendOption[];
  /** DNS servers asked by `dns:`/`srv:` backends, `IP` or `IP:PORT`, in order (default the system's). */
  resolvers?: string | readonly string[];
  /** A built-in strategy, or the name of a custom one passed to configFrom and createBalancer. */
  strategy?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsMinVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** The admin HTTP server's address (`/stats`, `/metrics`, dashboard); off by default. */
  admin?: string | number;
  adminToken?: string;
  healthCheck?: HealthCheckOption;
  healthInterval?: DurationOption;
  healthTimeout?: DurationOption;
  rise?: number;
  fall?: number;
  maxFails?: number;
  failTimeout?: DurationOption;
  retries?: number;
  connectTimeout?: DurationOption;
  idleTimeout?: DurationOption;
  maxConns?: number;
  backendMaxConns?: number;
  /** Connections one client IP may hold at once (0 = no cap). */
  clientMaxConns?: number;
  /** New connections (l4) or requests (l7) per second per client IP (0 = no cap). */
  clientRate?: number;
  /** `redis://HOST:PORT`: count clientRate across lb4 instances. */
  limitStore?: string;
  /** An .mmdb file for country/continent clientRoutes. */
  geoipDb?: string;
  drainTimeout?: DurationOption;
  accessLog?: boolean;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  queueTimeout?: DurationOption;
  maxQueue?: number;
  slowStart?: DurationOption;
  trustProxy?: string | readonly string[];
  /** `ip`, `host`, `path`, `header:NAME`, `cookie:NAME` (all but ip in l7 only). */
  hashKey?: string;
  /** ip-hash with bounded loads: N% of the average load (N >= 100; 0 = off). */
  hashBalanceFactor?: number;
  monitorUri?: string;
  maxHeaderSize?: number | string;
  maxHeaders?: number;
  headerTimeout?: DurationOption;
  serverTimeout?: DurationOption;
  /** L7: while a request body arrives, the client must send a byte this often (0 = off). */
  bodyTimeout?: DurationOption;
  keepaliveTimeout?: DurationOption;
  pools?: Readonly<Record<string, { strategy?: string; backends: readonly BackendOption[] }>>;
  defaultPool?: string;
  routes?: ReadonlyArray<{ host?: string; path?: string; pool: string }>;
  sni?: Readonly<Record<string, string>>;
  /** Routing by client, first match wins, before sni:/routes: (one of cidr, country, continent per entry). */
  clientRoutes?: ReadonlyArray<{ pool: string; cidr?: string | readonly string[]; country?: string | readonly string[]; continent?: string | readonly string[] }>;
  certificates?: ReadonlyArray<{ cert: string; key: string }>;
  acceptProxy?: boolean;
  acceptProxyFrom?: string | readonly string[];
  peekTimeout?: DurationOption;
  /** TLS termination: close a connection whose handshake is not complete this long after accept. */
  handshakeTimeout?: DurationOption;
  sniMaxBytes?: number | string;
  sendProxy?: 'v1' | 'v2' | 'off' | 1 | 2 | 0 | false;
  backendTls?: boolean;
  backendTlsInsecure?: boolean;
  backendTlsCa?: string;
  tlsCertDir?: string;
  alpn?: string | readonly string[];
  tlsClientCa?: string;
  tlsCiphers?: string;
  tlsTicketRotation?: DurationOption;
}

export interface ConfigFromExtras {
  /** `LB_*` variables to apply over the options (default none: process.env is not read). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Custom strategies `strategy:` may name; pass the same list to createBalancer. */
  strategies?: readonly PickerFactory[];
}

const CLI_ONLY = ['config', 'watchConfig', 'workers', 'user', 'group'];

/**
 * Validate `options` into a frozen Config. Throws a UsageError listing every
 * problem (`problems`, one line each, naming the key: `backends[1].weight:
 * invalid weight "2000" ...`); its message is those lines joined.
 */
export function configFrom(options: LbOptions, extras: ConfigFromExtras = {}): Config {
  const problems: string[] = [];
  const given = options as Readonly<Record<string, unknown>>;
  for (const k of CLI_ONLY) {
    if (given[k] !== undefined) problems.push(`${k}: a command-line setting; the library runs one balancer in this process without a config file`);
  }
  const rest = Object.fromEntries(Object.entries(given).filter(([k]) => !CLI_ONLY.includes(k)));
  const config = buildConfig({ cli: {}, env: extras.env ?? {}, options: rest, strategies: extras.strategies }, problems);
  if (config === null || problems.length > 0) throw new UsageError(problems.join('\n'), problems);
  return config;
}
