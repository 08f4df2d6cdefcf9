/**
 * Every setting of docs/reference.md, "Settings" in one table: flag, env variable, YAML key
 * (the camelCase `key`), default, help text and parser. The CLI builds its
 * options and `--help` from this table; the loader merges sources with it;
 * /config prints what it produced. Adding a setting means adding a row here
 * and a field in types.ts.
 */
import { findPickerFactory, strategyNames, type StrategyLookup } from '../core/pickers/index.js';
import {
  formatDuration,
  isDiscoveryAddress,
  parseBackendEntry as parseBackendText,
  parseBackendName,
  parseDiscoveryAddress,
  parseResolver,
  parseBoolean,
  parseDuration,
  parseHostPort,
  parseInteger,
  parseSize,
  parseWeight,
  type BackendEntry,
  type BackendTlsSpec,
  redactUrl,
  type BackendSpec,
  type HostPort,
} from './parse.js';
import type { Config, HashKey, HealthCheckSpec } from './types.js';
import { parseCidr } from '../core/cidr.js';
import { parseAccountName } from './identity.js';
import { availableParallelism } from 'node:os';

/** Where a value came from, for error messages: `--mode`, `LB_MODE`, or a YAML path. */
export type Where = string;

/**
 * The topics of `--help` and of the README settings tables, in the order
 * they are shown. Every setting belongs to exactly one.
 */
export const SETTING_GROUPS = [
  'Listening',
  'Backends & balancing',
  'Health',
  'Timeouts & limits',
  'TLS',
  'PROXY protocol & SNI',
  'L7 (HTTP)',
  'Admin & logs',
  'Operations',
] as const;
export type SettingGroup = (typeof SETTING_GROUPS)[number];

export interface SettingDef {
  readonly key: keyof Config;
  readonly flag: string;
  /** The `--help` topic it is listed under. */
  readonly group: SettingGroup;
  /** Placeholder in --help (`DUR`, `N`...); absent for boolean switches. */
  readonly arg?: string;
  readonly env?: string;
  /** The default as a user would write it (shown in --help), or null for none. */
  readonly defaultText: string | null;
  /** How --help shows "no value" when that means something is off (docs/reference.md, "Settings" writes `off`). */
  readonly unsetText?: string;
  readonly help: string;
  readonly repeatable?: boolean;
  /** Parse a value from a flag/env string, or from YAML (any JSON type). */
  parse(value: unknown, where: Where, ctx?: ParseContext): unknown;
  /** Format the parsed value back for /config; defaults to the value itself. */
  show?(value: unknown): unknown;
}

/** What a parse may need beyond the value: the strategies the balancer will know (the built-ins unless a library user adds some). */
export interface ParseContext {
  readonly findStrategy: StrategyLookup;
  /** Every accepted strategy name, for messages. */
  readonly strategyNames: readonly string[];
}

const BUILTIN: ParseContext = { findStrategy: findPickerFactory, strategyNames };

/** Several problems found in one setting's value (e.g. two bad backend entries); `message` is the first. */
export class SettingProblems extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(problems[0]);
    this.problems = problems;
  }
}

function str(value: unknown, where: Where): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`${where}: expected a string, got ${value === null ? 'null' : typeof value}`);
}

function wrap<T>(where: Where, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(msg.startsWith(where) ? msg : `${where}: ${msg}`);
  }
}

/** A list from repeated flags (array), an env string (whitespace separated) or YAML (string or list). */
function list(value: unknown, where: Where): { item: unknown; where: Where }[] {
  if (Array.isArray(value)) {
    const out: { item: unknown; where: Where }[] = [];
    value.forEach((item, i) => {
      // repeated flags arrive as an array of strings, each of which may itself
      // be whitespace separated only when it came from the environment
      out.push({ item, where: where.startsWith('-') ? where : `${where}[${i}]` });
    });
    return out;
  }
  if (typeof value === 'string') {
    return value
      .split(/\s+/)
      .filter((s) => s.length > 0)
      .map((item) => ({ item, where }));
  }
  throw new Error(`${where}: expected a string or a list`);
}

const duration = (v: unknown, w: Where) => wrap(w, () => parseDuration(typeof v === 'number' ? v : str(v, w)));
const int = (min: number, max: number) => (v: unknown, w: Where) => wrap(w, () => parseInteger(typeof v === 'number' ? v : str(v, w), min, max));
const bool = (v: unknown, w: Where) => wrap(w, () => parseBoolean(typeof v === 'boolean' ? v : str(v, w)));
const showDuration = (v: unknown) => formatDuration(v as number);

const BACKEND_KEYS = ['address', 'weight', 'name', 'sendProxy', 'tls', 'servername', 'ca', 'insecure'];

/** `v1`, `v2`, `1`, `2`, `off`/`false`/`none` (0). */
export function parseProxyVersion(value: unknown, where: Where): 0 | 1 | 2 {
  if (value === false || value === 0) return 0;
  if (value === 1 || value === 2) return value;
  const s = str(value, where).trim().toLowerCase();
  if (s === 'v1' || s === '1') return 1;
  if (s === 'v2' || s === '2') return 2;
  if (s === 'off' || s === 'false' || s === 'no' || s === 'none' || s === '0') return 0;
  throw new Error(`${where}: invalid PROXY protocol version "${s}" (use v1, v2 or off)`);
}

function parseBackendEntry(item: unknown, where: Where): BackendEntry {
  if (typeof item === 'string') return wrap(where, () => parseBackendText(item));
  if (item && typeof item === 'object' && !Array.isArray(item)) {
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!BACKEND_KEYS.includes(k)) throw new Error(`${where}.${k}: unknown backend setting (known: ${BACKEND_KEYS.join(', ')})`);
    }
    if (o.address === undefined) throw new Error(`${where}.address: missing`);
    const address = str(o.address, `${where}.address`);
    const weight = o.weight === undefined ? undefined : wrap(`${where}.weight`, () => parseWeight(o.weight as string | number));
    let spec: BackendEntry;
    if (isDiscoveryAddress(address)) {
      // a discovery source: its backends are named by what it finds
      if (o.name !== undefined) throw new Error(`${where}.name: a discovery source names its backends itself (IP:PORT or TARGET:PORT)`);
      spec = wrap(`${where}.address`, () => parseDiscoveryAddress(address, weight));
    } else {
      const hp = wrap(`${where}.address`, () => parseHostPort(address));
      const name = o.name === undefined ? `${hp.host}:${hp.port}` : wrap(`${where}.name`, () => parseBackendName(str(o.name, `${where}.name`)));
      spec = { ...hp, weight: weight ?? 1, name };
    }
    const extra: { sendProxy?: 0 | 1 | 2; tls?: BackendTlsSpec | false } = {};
    if (o.sendProxy !== undefined && o.sendProxy !== null) extra.sendProxy = parseProxyVersion(o.sendProxy, `${where}.sendProxy`);
    const tlsSet = o.tls !== undefined && o.tls !== null;
    const tlsOn = tlsSet ? bool(o.tls, `${where}.tls`) : undefined;
    if (!tlsOn && (o.servername !== undefined || o.ca !== undefined || o.insecure !== undefined)) {
      throw new Error(`${where}: servername, ca and insecure need tls: true`);
    }
    if (tlsOn === false) extra.tls = false;
    else if (tlsOn === true) {
      extra.tls = {
        servername: o.servername === undefined ? null : str(o.servername, `${where}.servername`),
        ca: o.ca === undefined ? null : str(o.ca, `${where}.ca`),
        insecure: o.insecure === undefined ? null : bool(o.insecure, `${where}.insecure`),
      };
    }
    return { ...spec, ...extra };
  }
  throw new Error(`${where}: expected "HOST:PORT[,weight=N][,name=ID]", "dns:HOST:PORT[,weight=N]", "srv:NAME" or {address, weight, name, sendProxy, tls, servername, ca, insecure}`);
}

function parseHealthCheck(value: unknown, where: Where): HealthCheckSpec {
  if (value === true) return { type: 'tcp', path: null, send: null, expect: null };
  if (value === false) return { type: 'off', path: null, send: null, expect: null };
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['type', 'path', 'send', 'expect', 'sendProxy'].includes(k)) throw new Error(`${where}.${k}: unknown health check setting (known: type, path, send, expect, sendProxy)`);
    }
    const type = str(o.type ?? 'tcp', `${where}.type`);
    if (type !== 'tcp' && type !== 'http' && type !== 'off') throw new Error(`${where}.type: must be tcp, http or off`);
    const path = o.path === undefined ? (type === 'http' ? '/' : null) : str(o.path, `${where}.path`);
    if (path !== null && !path.startsWith('/')) throw new Error(`${where}.path: must start with /`);
    const send = o.send === undefined ? null : str(o.send, `${where}.send`);
    const expect = o.expect === undefined ? null : str(o.expect, `${where}.expect`);
    if (type !== 'tcp' && (send !== null || expect !== null)) throw new Error(`${where}: send/expect apply to tcp checks only`);
    const out: { type: typeof type; path: string | null; send: string | null; expect: string | null; sendProxy?: boolean } = { type, path: type === 'http' ? path : null, send, expect };
    if (o.sendProxy !== undefined && o.sendProxy !== null) out.sendProxy = bool(o.sendProxy, `${where}.sendProxy`);
    return out;
  }
  const s = str(value, where).trim();
  const lower = s.toLowerCase();
  if (lower === 'off' || lower === 'false' || lower === 'no' || lower === '0') return { type: 'off', path: null, send: null, expect: null };
  if (lower === 'tcp' || lower === 'true' || lower === 'yes' || lower === '1') return { type: 'tcp', path: null, send: null, expect: null };
  if (lower.startsWith('http:')) {
    const path = s.slice(5);
    if (!path.startsWith('/') || /\s/.test(path)) throw new Error(`${where}: invalid path in "${s}" (use http:/PATH)`);
    return { type: 'http', path, send: null, expect: null };
  }
  throw new Error(`${where}: invalid health check "${s}" (use off, tcp or http:/PATH)`);
}

function showHealthCheck(v: unknown): unknown {
  const h = v as HealthCheckSpec;
  if (h.type === 'http') return `http:${h.path}`;
  if (h.sendProxy !== undefined) return { type: h.type, path: h.path, send: h.send, expect: h.expect, sendProxy: h.sendProxy };
  if (h.type === 'tcp' && (h.send !== null || h.expect !== null)) return { type: 'tcp', send: h.send, expect: h.expect };
  return h.type;
}

function parseHashKey(value: unknown, where: Where): HashKey {
  const s = str(value, where).trim();
  if (s === 'ip' || s === 'host' || s === 'path') return { kind: s };
  const colon = s.indexOf(':');
  if (colon > 0) {
    const kind = s.slice(0, colon);
    const name = s.slice(colon + 1);
    if ((kind === 'header' || kind === 'cookie') && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return { kind, name };
  }
  throw new Error(`${where}: invalid hash key "${s}" (use ip, host, path, header:NAME or cookie:NAME)`);
}

function showHashKey(v: unknown): string {
  const h = v as HashKey;
  return h.kind === 'header' || h.kind === 'cookie' ? `${h.kind}:${h.name}` : h.kind;
}

/** `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or `rediss://...` (TLS). */
function parseLimitStore(s: string, where: Where): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`${where}: invalid URL "${s}" (use redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`${where}: "${u.protocol}" is not a Redis URL (use redis://HOST:PORT)`);
  if (u.hostname === '') throw new Error(`${where}: no host in "${s}" (use redis://HOST:PORT)`);
  if (u.pathname !== '' && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) throw new Error(`${where}: the path must be a database number (redis://HOST:PORT/0)`);
  return s;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const SETTINGS: readonly SettingDef[] = [
  {
    key: 'mode', group: 'Listening', flag: '--mode', arg: 'l4|l7', env: 'LB_MODE', defaultText: 'l4',
    help: 'per-connection (l4) or per-request HTTP/1.1 (l7) balancing',
    parse: (v, w) => {
      const s = str(v, w).trim().toLowerCase();
      if (s !== 'l4' && s !== 'l7') throw new Error(`${w}: invalid mode "${str(v, w)}" (use l4 or l7)`);
      return s;
    },
  },
  {
    key: 'listen', group: 'Listening', flag: '--listen', arg: 'ADDR', env: 'LB_LISTEN', defaultText: '0.0.0.0:4443', repeatable: true,
    help: 'listen on PORT, HOST:PORT or [V6]:PORT (repeatable; port 0 takes a free port)',
    parse: (v, w) => {
      const items = list(v, w);
      if (items.length === 0) throw new Error(`${w}: at least one address is needed`);
      return items.map(({ item, where }) => wrap(where, () => parseHostPort(str(item, where), { defaultHost: '0.0.0.0', allowZero: true })));
    },
    show: (v) => (v as HostPort[]).map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)),
  },
  {
    key: 'backends', group: 'Backends & balancing', flag: '--backend', arg: 'SPEC', env: 'LB_BACKENDS', defaultText: null, repeatable: true,
    help: 'HOST:PORT[,weight=N][,name=ID], or a discovery source dns:HOST:PORT[,weight=N] or srv:NAME (repeatable; weight 0..1000, default 1)',
    parse: (v, w) => {
      // Each bad entry is a problem of its own (`lb4 check` prints one line
      // per problem), so collect them all instead of stopping at the first.
      const out: BackendEntry[] = [];
      const problems: string[] = [];
      for (const { item, where } of list(v, w)) {
        try {
          out.push(parseBackendEntry(item, where));
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
      if (problems.length > 0) throw new SettingProblems(problems);
      return out;
    },
  },
  {
    key: 'strategy', group: 'Backends & balancing', flag: '--strategy', arg: 'NAME', env: 'LB_STRATEGY', defaultText: 'round-robin',
    help: `balancing strategy: ${strategyNames.join(', ')}`,
    parse: (v, w, ctx = BUILTIN) => {
      const s = str(v, w).trim();
      const f = ctx.findStrategy(s);
      if (!f) throw new Error(`${w}: unknown strategy "${s}" (known: ${ctx.strategyNames.join(', ')})`);
      return f.name;
    },
  },
  {
    key: 'tlsCert', group: 'TLS', flag: '--tls-cert', arg: 'FILE', env: 'LB_TLS_CERT', defaultText: null, unsetText: 'off',
    help: 'terminate TLS with this certificate (PEM; with --tls-key)',
    parse: (v, w) => str(v, w),
  },
  {
    key: 'tlsKey', group: 'TLS', flag: '--tls-key', arg: 'FILE', env: 'LB_TLS_KEY', defaultText: null, unsetText: 'off',
    help: 'private key for --tls-cert (PEM)',
    parse: (v, w) => str(v, w),
    show: (v) => (v === null ? null : v),
  },
  {
    key: 'tlsMinVersion', group: 'TLS', flag: '--tls-min-version', arg: 'V', defaultText: 'TLSv1.2',
    help: 'lowest TLS version accepted: TLSv1.2 or TLSv1.3',
    parse: (v, w) => {
      const s = str(v, w).trim();
      if (s !== 'TLSv1.2' && s !== 'TLSv1.3') throw new Error(`${w}: invalid TLS version "${s}" (use TLSv1.2 or TLSv1.3)`);
      return s;
    },
  },
  {
    key: 'admin', group: 'Admin & logs', flag: '--admin', arg: 'ADDR', env: 'LB_ADMIN', defaultText: null, unsetText: 'off',
    help: 'start the admin HTTP server (stats, health, metrics, dashboard) on ADDR',
    parse: (v, w) => wrap(w, () => parseHostPort(str(v, w), { defaultHost: '127.0.0.1', allowZero: true })),
    show: (v) => (v === null ? null : `${(v as HostPort).host}:${(v as HostPort).port}`),
  },
  {
    key: 'adminToken', group: 'Admin & logs', flag: '--admin-token', arg: 'TOKEN', env: 'LB_ADMIN_TOKEN', defaultText: null,
    help: "bearer token required by the admin API's changing calls",
    parse: (v, w) => {
      const s = str(v, w);
      if (s.length === 0) throw new Error(`${w}: the token is empty`);
      return s;
    },
    show: (v) => (v === null ? null : '<redacted>'),
  },
  {
    key: 'healthCheck', group: 'Health', flag: '--health-check', arg: 'SPEC', env: 'LB_HEALTH_CHECK', defaultText: 'tcp',
    help: 'active check: off, tcp (connect) or http:/PATH (expects 2xx/3xx)',
    parse: parseHealthCheck, show: showHealthCheck,
  },
  { key: 'healthInterval', group: 'Health', flag: '--health-interval', arg: 'DUR', defaultText: '2s', help: 'time between active checks of one backend', parse: (v, w) => { const d = duration(v, w); if (d < 10) throw new Error(`${w}: must be at least 10ms`); return d; }, show: showDuration },
  { key: 'healthTimeout', group: 'Health', flag: '--health-timeout', arg: 'DUR', defaultText: '1s', help: "one check's time limit", parse: (v, w) => { const d = duration(v, w); if (d < 1) throw new Error(`${w}: must be above 0`); return d; }, show: showDuration },
  { key: 'rise', group: 'Health', flag: '--rise', arg: 'N', defaultText: '2', help: 'consecutive good checks that bring a backend up', parse: int(1, 1000) },
  { key: 'fall', group: 'Health', flag: '--fall', arg: 'N', defaultText: '3', help: 'consecutive failed checks that take a backend down', parse: int(1, 1000) },
  { key: 'maxFails', group: 'Health', flag: '--max-fails', arg: 'N', defaultText: '3', help: 'passive: consecutive failed connects that take a backend out (0 = never)', parse: int(0, 1_000_000) },
  { key: 'failTimeout', group: 'Health', flag: '--fail-timeout', arg: 'DUR', defaultText: '10s', help: 'passive: how long it stays out before one trial connection', parse: duration, show: showDuration },
  { key: 'retries', group: 'Backends & balancing', flag: '--retries', arg: 'N', defaultText: '2', help: 'other backends tried when a connect fails', parse: int(0, 100) },
  { key: 'connectTimeout', group: 'Timeouts & limits', flag: '--connect-timeout', arg: 'DUR', defaultText: '5s', help: 'limit for one backend connect', parse: (v, w) => { const d = duration(v, w); if (d < 1) throw new Error(`${w}: must be above 0`); return d; }, show: showDuration },
  { key: 'idleTimeout', group: 'Timeouts & limits', flag: '--idle-timeout', arg: 'DUR', defaultText: '5m', help: 'close a tunnel with no bytes either way for this long (0 = never)', parse: duration, show: showDuration },
  { key: 'maxConns', group: 'Timeouts & limits', flag: '--max-conns', arg: 'N', defaultText: '0', help: 'client connections held at once (0 = no cap; the descriptor limit caps it too); more are closed at once', parse: int(0, 10_000_000) },
  { key: 'backendMaxConns', group: 'Timeouts & limits', flag: '--backend-max-conns', arg: 'N', defaultText: '0', help: 'connections per backend (0 = no cap); a full backend is skipped', parse: int(0, 10_000_000) },
  { key: 'clientMaxConns', group: 'Timeouts & limits', flag: '--client-max-conns', arg: 'N', defaultText: '0', help: 'connections one client IP may hold at once (0 = no cap); more are closed (end client-limit)', parse: int(0, 10_000_000) },
  { key: 'clientRate', group: 'Timeouts & limits', flag: '--client-rate', arg: 'N', defaultText: '0', help: 'new connections (l4) or requests (l7) per second per client IP, sliding window (0 = no cap); l4 closes, l7 answers 429', parse: int(0, 10_000_000) },
  {
    key: 'limitStore', group: 'Timeouts & limits', flag: '--limit-store', arg: 'URL', env: 'LB_LIMIT_STORE', defaultText: null, unsetText: 'off',
    help: 'count --client-rate across lb4 instances in Redis: redis://HOST:PORT (local counting while it is unreachable)',
    parse: (v, w) => parseLimitStore(str(v, w).trim(), w),
    show: (v) => (v === null ? null : redactUrl(v as string)),
  },
  { key: 'geoipDb', group: 'Backends & balancing', flag: '--geoip-db', arg: 'FILE', defaultText: null, help: 'MaxMind DB (.mmdb: GeoLite2/GeoIP2 or ip-location-db) for country/continent clientRoutes; re-read on SIGHUP', parse: (v, w) => str(v, w) },
  { key: 'drainTimeout', group: 'Operations', flag: '--drain-timeout', arg: 'DUR', defaultText: '30s', help: 'on SIGTERM, SIGINT, SIGQUIT or SIGUSR1, how long open connections may finish', parse: duration, show: showDuration },
  { key: 'accessLog', group: 'Admin & logs', flag: '--access-log', env: 'LB_ACCESS_LOG', defaultText: 'off', help: 'one JSON line per finished connection (l4) or request (l7)', parse: bool },
  {
    key: 'logLevel', group: 'Admin & logs', flag: '--log-level', arg: 'LEVEL', env: 'LB_LOG_LEVEL', defaultText: 'info',
    help: `log level: ${LOG_LEVELS.join(', ')}`,
    parse: (v, w) => {
      const s = str(v, w).trim().toLowerCase();
      if (!LOG_LEVELS.includes(s)) throw new Error(`${w}: invalid log level "${s}" (use ${LOG_LEVELS.join(', ')})`);
      return s;
    },
  },
  { key: 'config', group: 'Operations', flag: '--config', arg: 'FILE', env: 'LB_CONFIG', defaultText: null, help: 'YAML file with the same settings (camelCase names); re-read on SIGHUP', parse: (v, w) => str(v, w) },
  { key: 'queueTimeout', group: 'Timeouts & limits', flag: '--queue-timeout', arg: 'DUR', defaultText: '5s', help: 'how long a client may wait when every eligible backend is full', parse: duration, show: showDuration },
  { key: 'maxQueue', group: 'Timeouts & limits', flag: '--max-queue', arg: 'N', defaultText: '1024', help: 'clients waiting at once; beyond it they are closed at once', parse: int(0, 10_000_000) },
  { key: 'slowStart', group: 'Backends & balancing', flag: '--slow-start', arg: 'DUR', defaultText: '0', help: 'ramp a backend that comes back up from low to full weight over this time (0 = off)', parse: duration, show: showDuration },
  {
    key: 'trustProxy', group: 'L7 (HTTP)', flag: '--trust-proxy', arg: 'CIDR', defaultText: null, repeatable: true,
    help: 'l7: peers whose X-Forwarded-For is believed (repeatable)',
    parse: (v, w) => list(v, w).map(({ item, where }) => {
      const s = str(item, where).trim();
      wrap(where, () => parseCidr(s));
      return s;
    }),
  },
  {
    key: 'hashBalanceFactor', group: 'Backends & balancing', flag: '--hash-balance-factor', arg: 'N', defaultText: '0',
    help: 'ip-hash with bounded loads: a backend above N% of the average load is skipped for the next on the ring (N >= 100; 0 = off)',
    parse: (v, w) => {
      const n = int(0, 100_000)(v, w);
      if (n !== 0 && n < 100) throw new Error(`${w}: must be 0 (off) or at least 100 (percent of the average load)`);
      return n;
    },
  },
  { key: 'hashKey', group: 'Backends & balancing', flag: '--hash-key', arg: 'KEY', defaultText: 'ip', help: 'what ip-hash hashes: ip, host, path, header:NAME, cookie:NAME (all but ip in l7 only)', parse: parseHashKey, show: showHashKey },
  {
    key: 'monitorUri', group: 'L7 (HTTP)', flag: '--monitor-uri', arg: 'PATH', defaultText: null, help: 'l7: lb4 answers GET PATH itself (200, or 503 when no backend is up)',
    parse: (v, w) => {
      const s = str(v, w);
      if (!s.startsWith('/') || /\s/.test(s)) throw new Error(`${w}: must be a path starting with /`);
      return s;
    },
  },
  { key: 'maxHeaderSize', group: 'L7 (HTTP)', flag: '--max-header-size', arg: 'BYTES', defaultText: '16384', help: 'l7: request line + header lines + CRLFs; more is answered 431', parse: (v, w) => wrap(w, () => parseSize(v as string | number, 64, 1024 * 1024)) },
  { key: 'maxHeaders', group: 'L7 (HTTP)', flag: '--max-headers', arg: 'N', defaultText: '100', help: 'l7: more header lines is answered 431', parse: int(1, 10_000) },
  { key: 'headerTimeout', group: 'L7 (HTTP)', flag: '--header-timeout', arg: 'DUR', defaultText: '10s', help: 'l7: a request head must be complete this long after its first byte; else 408', parse: duration, show: showDuration },
  { key: 'serverTimeout', group: 'L7 (HTTP)', flag: '--server-timeout', arg: 'DUR', defaultText: '60s', help: 'l7: wait this long for the first response byte; else 504', parse: duration, show: showDuration },
  { key: 'bodyTimeout', group: 'L7 (HTTP)', flag: '--body-timeout', arg: 'DUR', defaultText: '60s', help: 'l7: while a request body arrives, the client must send a byte this often; else 408 and close (0 = off)', parse: duration, show: showDuration },
  { key: 'keepaliveTimeout', group: 'L7 (HTTP)', flag: '--keepalive-timeout', arg: 'DUR', defaultText: '60s', help: 'l7: close an idle client connection between requests after this', parse: duration, show: showDuration },
  { key: 'watchConfig', group: 'Operations', flag: '--watch-config', env: 'LB_WATCH_CONFIG', defaultText: 'off', help: 're-read --config when the file changes (debounced), as on SIGHUP', parse: bool },
  {
    key: 'workers', group: 'Operations', flag: '--workers', arg: 'N|auto', env: 'LB_WORKERS', defaultText: '1',
    help: 'worker processes (node:cluster); auto = one per core; 1 = no cluster',
    parse: (v, w) => {
      const s = str(v, w).trim().toLowerCase();
      if (s === 'auto') return availableParallelism();
      return int(1, 256)(s, w);
    },
  },
  {
    key: 'resolvers', group: 'Backends & balancing', flag: '--resolver', arg: 'ADDR', env: 'LB_RESOLVERS', defaultText: null, unsetText: 'system', repeatable: true,
    help: 'DNS server for dns: and srv: backends, IP or IP:PORT (repeatable, asked in order; default the nameservers of /etc/resolv.conf)',
    parse: (v, w) => list(v, w).map(({ item, where }) => wrap(where, () => parseResolver(str(item, where)))),
    show: (v) => (v as HostPort[]).map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)),
  },
  {
    key: 'user', group: 'Operations', flag: '--user', arg: 'NAME', env: 'LB_USER', defaultText: null,
    help: 'once every listener is bound, switch lb4 (and its workers) to this user (name or uid; needs root)',
    parse: (v, w) => parseAccountName(str(v, w), w),
  },
  {
    key: 'group', group: 'Operations', flag: '--group', arg: 'NAME', env: 'LB_GROUP', defaultText: null,
    help: "and to this group (name or gid; default: the --user's own group)",
    parse: (v, w) => parseAccountName(str(v, w), w),
  },
  // ---- TLS, SNI and the PROXY protocol (README "TLS, SNI and the PROXY protocol") ----
  { key: 'acceptProxy', group: 'PROXY protocol & SNI', flag: '--accept-proxy', env: 'LB_ACCEPT_PROXY', defaultText: 'off', help: 'listeners require a PROXY protocol v1/v2 header (auto-detected) from --accept-proxy-from peers', parse: bool },
  {
    key: 'acceptProxyFrom', group: 'PROXY protocol & SNI', flag: '--accept-proxy-from', arg: 'CIDR', defaultText: '127.0.0.0/8 ::1/128', repeatable: true,
    help: 'peers allowed to send a PROXY header (repeatable); others are closed',
    parse: (v, w) => list(v, w).map(({ item, where }) => {
      const s = str(item, where).trim();
      wrap(where, () => parseCidr(s));
      return s;
    }),
  },
  { key: 'peekTimeout', group: 'PROXY protocol & SNI', flag: '--peek-timeout', arg: 'DUR', defaultText: '5s', help: 'a PROXY header or a passthrough ClientHello must arrive within this', parse: (v, w) => { const d = duration(v, w); if (d < 1) throw new Error(`${w}: must be above 0`); return d; }, show: showDuration },
  { key: 'handshakeTimeout', group: 'TLS', flag: '--handshake-timeout', arg: 'DUR', defaultText: '10s', help: 'TLS termination: close a connection whose handshake is not complete this long after accept (after the PROXY header with --accept-proxy)', parse: (v, w) => { const d = duration(v, w); if (d < 1) throw new Error(`${w}: must be above 0`); return d; }, show: showDuration },
  { key: 'sniMaxBytes', group: 'PROXY protocol & SNI', flag: '--sni-max-bytes', arg: 'BYTES', defaultText: '16384', help: 'passthrough: most bytes read to find the ClientHello server name', parse: (v, w) => wrap(w, () => parseSize(v as string | number, 512, 1024 * 1024)) },
  {
    key: 'sendProxy', group: 'PROXY protocol & SNI', flag: '--send-proxy', arg: 'v1|v2', env: 'LB_SEND_PROXY', defaultText: null,
    help: 'send a PROXY protocol header to every backend (a backend\'s own sendProxy wins)',
    parse: (v, w) => { const n = parseProxyVersion(v, w); return n === 0 ? null : n; },
  },
  { key: 'backendTls', group: 'TLS', flag: '--backend-tls', defaultText: 'off', help: 'connect to every backend with TLS (a backend\'s own tls wins)', parse: bool },
  { key: 'backendTlsInsecure', group: 'TLS', flag: '--backend-tls-insecure', defaultText: 'off', help: 'do not verify backend certificates (logged as a warning)', parse: bool },
  { key: 'backendTlsCa', group: 'TLS', flag: '--backend-tls-ca', arg: 'FILE', defaultText: null, help: 'CA (PEM) that backend certificates are verified against; none = the system CAs', parse: (v, w) => str(v, w) },
  { key: 'tlsCertDir', group: 'TLS', flag: '--tls-cert-dir', arg: 'DIR', defaultText: null, help: 'extra certificates chosen by SNI: DIR/NAME.crt with DIR/NAME.key (re-read on SIGHUP)', parse: (v, w) => str(v, w) },
  {
    key: 'alpn', group: 'TLS', flag: '--alpn', arg: 'LIST', defaultText: null, repeatable: true, help: 'ALPN protocols offered when terminating TLS, comma separated, in preference order (l7 default: http/1.1)',
    parse: (v, w) => {
      const items = (Array.isArray(v) ? v.map((x) => str(x, w)) : [str(v, w)]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x.length > 0);
      for (const x of items) if (x.length > 255 || /[\s,]/.test(x)) throw new Error(`${w}: invalid ALPN protocol "${x}"`);
      return items;
    },
  },
  { key: 'tlsClientCa', group: 'TLS', flag: '--tls-client-ca', arg: 'FILE', defaultText: null, help: 'require client certificates signed by this CA (mTLS)', parse: (v, w) => str(v, w) },
  { key: 'tlsCiphers', group: 'TLS', flag: '--tls-ciphers', arg: 'LIST', defaultText: 'ECDHE+AESGCM:ECDHE+CHACHA20', help: 'OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are all AEAD)', parse: (v, w) => { const s = str(v, w).trim(); if (s.length === 0) throw new Error(`${w}: empty cipher list`); return s; } },
  { key: 'tlsTicketRotation', group: 'TLS', flag: '--tls-ticket-rotation', arg: 'DUR', defaultText: '1h', help: 'rotate the TLS session ticket key this often (0 = never)', parse: duration, show: showDuration },
];

export const SETTINGS_BY_KEY: ReadonlyMap<string, SettingDef> = new Map(SETTINGS.map((s) => [s.key, s]));
