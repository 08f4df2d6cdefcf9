/**
 * Parsers for the value syntaxes of docs/reference.md, "Settings": durations, sizes,
 * listen addresses, backend specs, booleans. Each throws a plain Error whose
 * message says what is wrong with the value; the caller prefixes the name of
 * the flag, env variable or YAML path.
 */
import { isIP } from 'node:net';
import type { HostPort } from '../core/address.js';
import type { BackendTlsSpec } from '../core/backend.js';

export { formatHostPort, type HostPort } from '../core/address.js';
export type { BackendTlsSpec } from '../core/backend.js';

const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250`, `250ms`, `1.5s`, `5m`, `1h` → milliseconds (integer). Bare numbers are ms. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new Error(`invalid duration ${String(text)}`);
    return Math.round(text);
  }
  const m = DURATION_RE.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}" (use e.g. 500ms, 2s, 1.5m, 1h)`);
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new Error(`duration "${text}" is too large`);
  return Math.round(ms);
}

/** Format milliseconds the way a user would write them (for --help and /config). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * A whole number within [min, max] (min >= 0). The message says what is
 * expected: `must be a whole number from 0 to 100, not "-1"`, or `≥ 0` when
 * the upper bound is only a sanity cap (a million or more).
 */
export function parseInteger(text: string | number, min: number, max: number): number {
  const n = typeof text === 'number' ? text : /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  const shown = typeof text === 'number' ? String(text) : `"${text}"`;
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`must be a whole number ${max >= 1_000_000 ? `≥ ${min}` : `from ${min} to ${max}`}, not ${shown}`);
  }
  if (n > max) throw new Error(`must be at most ${max}, not ${shown}`);
  return n;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** Boolean env/flag values: `1 true yes on` / `0 false no off`. */
export function parseBoolean(text: string | boolean): boolean {
  if (typeof text === 'boolean') return text;
  const v = text.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new Error(`"${text}" is not a boolean (use true/false, yes/no, on/off, 1/0)`);
}


const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

function parsePort(text: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`invalid port "${text}"`);
  const port = Number(text);
  if (port > 65535 || (!allowZero && port === 0)) throw new Error(`port ${port} is out of range ${allowZero ? 0 : 1}..65535`);
  return port;
}

/**
 * `PORT`, `HOST:PORT` or `[V6]:PORT`. A bare port is allowed only when
 * `defaultHost` is given (listen addresses); port 0 only when `allowZero`.
 */
export function parseHostPort(text: string, opts: { defaultHost?: string; allowZero?: boolean } = {}): HostPort {
  const s = text.trim();
  const allowZero = opts.allowZero ?? false;
  if (/^\d+$/.test(s)) {
    if (opts.defaultHost === undefined) throw new Error(`"${text}" needs a host (HOST:PORT)`);
    return { host: opts.defaultHost, port: parsePort(s, allowZero) };
  }
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') throw new Error(`invalid address "${text}" (use [V6]:PORT)`);
    const host = s.slice(1, close);
    if (isIP(host) !== 6) throw new Error(`invalid IPv6 address "${host}"`);
    return { host, port: parsePort(s.slice(close + 2), allowZero) };
  }
  const colon = s.lastIndexOf(':');
  if (colon <= 0) throw new Error(`invalid address "${text}" (use HOST:PORT)`);
  const host = s.slice(0, colon);
  if (host.includes(':')) throw new Error(`invalid address "${text}" (write IPv6 as [V6]:PORT)`);
  if (isIP(host) === 0 && !HOSTNAME_RE.test(host)) throw new Error(`invalid host "${host}"`);
  return { host, port: parsePort(s.slice(colon + 1), allowZero) };
}

export const BACKEND_NAME_RE = /^[A-Za-z0-9._:-]+$/;


export interface BackendSpec extends HostPort {
  name: string;
  weight: number;
  /** PROXY version to send (0 = none); absent = the global --send-proxy. */
  sendProxy?: 0 | 1 | 2;
  /** Upstream TLS (false = plain); absent = the global --backend-tls. */
  tls?: BackendTlsSpec | false;
  /** SRV priority of a backend found by an `srv:` source (lower is preferred); absent otherwise. */
  priority?: number;
}

/**
 * A discovery source given where a backend is expected (README "Discovery"):
 * `dns:HOST:PORT[,weight=N]` (every A/AAAA address of HOST is a backend on
 * PORT) or `srv:NAME` (every SRV target of NAME). `source` is the string
 * shown in /stats and the logs; `sendProxy` and `tls` (config file only)
 * apply to every backend the source finds.
 */
export type DiscoverySpec =
  | { readonly kind: 'dns'; readonly source: string; readonly host: string; readonly port: number; readonly weight: number; readonly sendProxy?: 0 | 1 | 2; readonly tls?: BackendTlsSpec | false }
  | { readonly kind: 'srv'; readonly source: string; readonly name: string; readonly sendProxy?: 0 | 1 | 2; readonly tls?: BackendTlsSpec | false };

/** One entry of `--backend` / `backends:`: a backend, or a discovery source. */
export type BackendEntry = BackendSpec | DiscoverySpec;

export function isDiscoverySpec(e: BackendEntry): e is DiscoverySpec {
  return 'kind' in e;
}

/**
 * Is `address` a discovery source rather than `HOST:PORT`? `dns:` followed by
 * `HOST:PORT`, or `srv:` followed by a name. A host literally named `dns` or
 * `srv` still works as `dns:53` or `srv:8080` (a port after the colon).
 */
export function isDiscoveryAddress(address: string): boolean {
  const s = address.trim();
  if (s.startsWith('dns:')) return s.indexOf(':', 4) > 4;
  if (s.startsWith('srv:')) return s.length > 4 && !/^\d+$/.test(s.slice(4));
  return false;
}

/**
 * `dns:HOST:PORT` or `srv:NAME` (without options) → a discovery spec with
 * the given weight (`dns:` only; `srv:` weights come from the records).
 */
export function parseDiscoveryAddress(address: string, weight: number | undefined): DiscoverySpec {
  const s = address.trim();
  if (s.startsWith('dns:')) {
    const rest = s.slice(4);
    const colon = rest.lastIndexOf(':');
    const host = rest.slice(0, colon);
    if (isIP(host) !== 0 || host.startsWith('[')) throw new Error(`"${s}": dns: needs a host name (an IP address is a plain backend: HOST:PORT)`);
    if (!HOSTNAME_RE.test(host)) throw new Error(`invalid host "${host}" in "${s}"`);
    const port = parsePort(rest.slice(colon + 1), false);
    return { kind: 'dns', source: `dns:${host}:${port}`, host, port, weight: weight ?? 1 };
  }
  const name = s.slice(4);
  if (!HOSTNAME_RE.test(name)) throw new Error(`invalid SRV name "${name}" in "${s}"`);
  if (weight !== undefined) throw new Error(`"${s}": srv: takes its weights from the SRV records (no weight=)`);
  return { kind: 'srv', source: `srv:${name}`, name };
}

/** `HOST:PORT[,weight=N][,name=ID]`. */
export function parseBackendSpec(text: string): BackendSpec {
  const parts = text.trim().split(',');
  const hp = parseHostPort(parts[0]!);
  let weight = 1;
  let name: string | undefined;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (key === 'weight') weight = parseWeight(value);
    else if (key === 'name') name = parseBackendName(value);
    else throw new Error(`unknown backend option "${key}" in "${text}" (known: weight, name)`);
  }
  return { ...hp, weight, name: name ?? `${hp.host}:${hp.port}` };
}

/**
 * One `--backend` value: `HOST:PORT[,weight=N][,name=ID]`, or a discovery
 * source `dns:HOST:PORT[,weight=N]` / `srv:NAME`.
 */
export function parseBackendEntry(text: string): BackendEntry {
  const parts = text.trim().split(',');
  if (!isDiscoveryAddress(parts[0]!)) return parseBackendSpec(text);
  let weight: number | undefined;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key === 'weight') weight = parseWeight(eq < 0 ? '' : part.slice(eq + 1));
    else if (key === 'name') throw new Error(`"${text.trim()}": a discovery source names its backends itself (IP:PORT or TARGET:PORT; no name=)`);
    else throw new Error(`unknown backend option "${key}" in "${text}" (known: weight)`);
  }
  return parseDiscoveryAddress(parts[0]!, weight);
}

export function parseWeight(value: string | number): number {
  try {
    return parseInteger(value, 0, 1000);
  } catch {
    throw new Error(`invalid weight "${String(value)}" (a whole number from 0 to 1000)`);
  }
}

export function parseBackendName(value: string): string {
  if (!BACKEND_NAME_RE.test(value)) throw new Error(`invalid backend name "${value}" (allowed: A-Z a-z 0-9 . _ : -)`);
  return value;
}

/** Byte sizes: a bare integer, or with k/KiB/m/MiB suffix. */
export function parseSize(text: string | number, min: number, max: number): number {
  if (typeof text === 'number') return parseInteger(text, min, max);
  const m = /^(\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new Error(`invalid size "${text}"`);
  const unit = (m[2] ?? '').toLowerCase();
  const n = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
  return parseInteger(n, min, max);
}

/** A DNS server for `--resolver`: `IP`, `IP:PORT`, `V6` or `[V6]:PORT` (port 53 by default). Names are not allowed: who would resolve them? */
export function parseResolver(text: string): HostPort {
  const s = text.trim();
  if (isIP(s) !== 0) return { host: s, port: 53 };
  const bad = new Error(`invalid resolver "${text}" (use IP or IP:PORT; [V6]:PORT for IPv6 with a port)`);
  let hp: HostPort;
  try {
    hp = parseHostPort(s);
  } catch {
    throw bad;
  }
  if (isIP(hp.host) === 0) throw bad;
  return hp;
}

/** A URL with its password replaced by `<redacted>` (for /config and logs). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:<redacted>` : '<redacted>'}@`);
}
