/**
 * Merge the sources of settings (SPEC section 2: command line > environment >
 * config file > defaults), validate once, and freeze. Every problem becomes a
 * UsageError whose message names the flag, env variable or YAML path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { UsageError } from '../core/errors.js';
import { SETTINGS, SettingProblems, type SettingDef } from './schema.js';
import { createRequire } from 'node:module';
import type { CertificateSpec, ClientRouteSpec, Config, PoolSpec, RouteSpec, SniRouteSpec } from './types.js';
import { parseCidr } from '../core/cidr.js';
import { CONTINENTS, isCountryCode } from '../core/continents.js';
import type { BackendSpec } from './parse.js';

export interface ConfigSources {
  /** Values given on the command line, by setting key (repeatable ones as arrays, switches as true). */
  readonly cli: Readonly<Record<string, unknown>>;
  /** The environment (only LB_* variables are read). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Read and parse a YAML config file into a plain object; throws UsageError. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let data: unknown;
  try {
    // prettyErrors (the default) fills linePos; its message's own "at line
    // L, column C:" suffix and excerpt are dropped for the FILE:L:C prefix
    data = parseYaml(text);
  } catch (err) {
    const e = err as YAMLParseError;
    const line = e.linePos?.[0];
    const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new UsageError(`${path}${line ? `:${line.line}:${line.col}` : ''}: invalid YAML: ${msg}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`${path}: the top level must be a mapping of settings`);
  return data as Record<string, unknown>;
}

/** Settings that exist only in the config file (no flag, no env). */
const FILE_ONLY_KEYS = ['pools', 'routes', 'sni', 'defaultPool', 'certificates', 'clientRoutes'];
const FILE_KEYS = new Set([...SETTINGS.filter((s) => s.key !== 'config').map((s) => s.key as string), ...FILE_ONLY_KEYS]);

function envValue(def: SettingDef, env: ConfigSources['env']): string | undefined {
  if (!def.env) return undefined;
  const v = env[def.env];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Build the frozen Config. Throws UsageError on the first problem, or, with
 * `collect`, pushes every problem into it and returns null when there were any.
 */
export function buildConfig(sources: ConfigSources, collect?: string[]): Config | null {
  const problems: string[] = collect ?? [];
  const fail = (msg: string) => {
    if (!collect) throw new UsageError(msg);
    problems.push(msg);
  };
  const out: Record<string, unknown> = {};

  // Which file? (--config > LB_CONFIG), read before the other settings.
  let file: Record<string, unknown> = {};
  let filePath: string | null = null;
  const configDef = SETTINGS.find((s) => s.key === 'config')!;
  const cfgCli = sources.cli.config;
  const cfgEnv = envValue(configDef, sources.env);
  if (cfgCli !== undefined || cfgEnv !== undefined) {
    filePath = String(cfgCli ?? cfgEnv);
    try {
      file = readConfigFile(filePath);
    } catch (err) {
      fail((err as Error).message);
      return null;
    }
    for (const k of Object.keys(file)) {
      if (!FILE_KEYS.has(k)) fail(`${filePath}: ${k}: unknown setting`);
    }
  }

  /** Where the default pool's backends came from (flag, env variable or YAML key), for messages. */
  let backendsWhere = '--backend';
  for (const def of SETTINGS) {
    if (def.key === 'config') {
      out.config = filePath;
      continue;
    }
    let raw: unknown;
    let where: string;
    const cli = sources.cli[def.key];
    const env = envValue(def, sources.env);
    if (cli !== undefined) {
      raw = cli;
      where = def.flag;
    } else if (env !== undefined) {
      raw = env;
      where = def.env!;
    } else if (filePath !== null && file[def.key] !== undefined && file[def.key] !== null) {
      raw = file[def.key];
      where = `${filePath}: ${def.key}`;
    } else {
      if (def.defaultText === null) {
        out[def.key] = def.repeatable ? [] : null;
        continue;
      }
      raw = def.defaultText;
      where = `default ${def.flag}`;
    }
    try {
      if (def.key === 'backends') backendsWhere = where;
      out[def.key] = def.parse(raw, where);
    } catch (err) {
      // one line per problem when a value has several (SettingProblems)
      if (err instanceof SettingProblems) for (const p of err.problems) fail(p);
      else fail((err as Error).message);
    }
  }
  if (problems.length > 0) return null;

  parseFileOnly(out, file, filePath ?? 'config', fail);
  if (problems.length > 0) return null;

  const c = out as unknown as Config;
  if ((c.tlsCert === null) !== (c.tlsKey === null)) fail('--tls-cert and --tls-key must be given together');
  if (c.tlsCert !== null && c.tlsKey !== null) {
    let cert: Buffer | null = null;
    let key: Buffer | null = null;
    try {
      cert = readFileSync(c.tlsCert);
    } catch (err) {
      fail(`--tls-cert: cannot read ${c.tlsCert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      key = readFileSync(c.tlsKey);
    } catch (err) {
      fail(`--tls-key: cannot read ${c.tlsKey}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (cert && key) {
      try {
        createSecureContext({ cert, key });
      } catch (err) {
        fail(`--tls-cert/--tls-key: unusable certificate or key: ${(err as Error).message}`);
      }
    }
  }
  checkTlsSettings(c, fail);
  checkGeoip(c, fail);
  if (c.pools.every((p) => p.backends.length === 0)) fail('no backends: give --backend HOST:PORT (or LB_BACKENDS, or backends: in --config)');
  const seen = new Set<string>();
  for (const p of c.pools) {
    for (const b of p.backends) {
      if (seen.has(b.name)) fail(`${p.name === 'default' ? backendsWhere : `${c.config}: pools.${p.name}`}: duplicate backend name "${b.name}" (names are unique across pools)`);
      seen.add(b.name);
    }
  }
  if (c.mode === 'l4' && c.routes.length > 0) fail(`${c.config ?? 'config'}: routes: HTTP routes need --mode l7 (use sni: to route TLS by server name in l4)`);
  if (c.watchConfig && c.config === null) fail('--watch-config: needs --config FILE (or LB_CONFIG)');
  if (c.mode === 'l4' && c.hashKey.kind !== 'ip') fail(`--hash-key: "${c.hashKey.kind}" needs --mode l7`);
  if (problems.length > 0) return null;
  return deepFreeze(c);
}

type Fail = (msg: string) => void;

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The file-only settings: `pools:` (name → {strategy?, backends}),
 * `defaultPool:`, `routes:` (L7: [{host?, path?, pool}]) and `sni:`
 * (server name pattern → pool). Fills out.pools, out.defaultPool,
 * out.routes, out.sni.
 */
function parseFileOnly(out: Record<string, unknown>, file: Record<string, unknown>, path: string, fail: Fail): void {
  const strategyDef = SETTINGS.find((s) => s.key === 'strategy')!;
  const backendsDef = SETTINGS.find((s) => s.key === 'backends')!;
  const pools: PoolSpec[] = [];
  const topBackends = (out.backends as BackendSpec[] | undefined) ?? [];
  if (topBackends.length > 0) pools.push({ name: 'default', strategy: out.strategy as string, backends: topBackends });
  if (file.pools !== undefined && file.pools !== null) {
    if (!isMap(file.pools)) fail(`${path}: pools: expected a mapping of pool name to {strategy, backends}`);
    else {
      for (const [name, def] of Object.entries(file.pools)) {
        const where = `${path}: pools.${name}`;
        if (!/^[A-Za-z0-9._-]+$/.test(name)) fail(`${where}: invalid pool name (allowed: A-Z a-z 0-9 . _ -)`);
        if (name === 'default' && topBackends.length > 0) fail(`${where}: "default" is the pool of --backend/backends:; pick another name`);
        if (!isMap(def)) {
          fail(`${where}: expected {strategy, backends}`);
          continue;
        }
        for (const k of Object.keys(def)) if (k !== 'strategy' && k !== 'backends') fail(`${where}.${k}: unknown pool setting (known: strategy, backends)`);
        try {
          const strategy = def.strategy === undefined ? (out.strategy as string) : (strategyDef.parse(def.strategy, `${where}.strategy`) as string);
          const backends = def.backends === undefined ? [] : (backendsDef.parse(def.backends, `${where}.backends`) as BackendSpec[]);
          if (backends.length === 0) fail(`${where}.backends: a pool needs at least one backend`);
          pools.push({ name, strategy, backends });
        } catch (err) {
          fail((err as Error).message);
        }
      }
    }
  }
  const names = new Set(pools.map((p) => p.name));
  let defaultPool = pools[0]?.name ?? 'default';
  if (file.defaultPool !== undefined && file.defaultPool !== null) {
    const d = String(file.defaultPool);
    if (!names.has(d)) fail(`${path}: defaultPool: no pool named "${d}"`);
    defaultPool = d;
  }
  const routes: RouteSpec[] = [];
  if (file.routes !== undefined && file.routes !== null) {
    if (!Array.isArray(file.routes)) fail(`${path}: routes: expected a list of {host, path, pool}`);
    else {
      file.routes.forEach((r: unknown, i: number) => {
        const where = `${path}: routes[${i}]`;
        if (!isMap(r)) return fail(`${where}: expected {host, path, pool}`);
        for (const k of Object.keys(r)) if (k !== 'host' && k !== 'path' && k !== 'pool') fail(`${where}.${k}: unknown route setting (known: host, path, pool)`);
        const host = r.host === undefined || r.host === null ? null : String(r.host).toLowerCase();
        if (host !== null && !/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host)) fail(`${where}.host: invalid host pattern "${host}" (exact name or *.suffix)`);
        const rpath = r.path === undefined || r.path === null ? null : String(r.path);
        if (rpath !== null && !rpath.startsWith('/')) fail(`${where}.path: must start with /`);
        const pool = String(r.pool ?? '');
        if (!names.has(pool)) fail(`${where}.pool: no pool named "${pool}"`);
        routes.push({ host, path: rpath, pool });
      });
    }
  }
  const sni: SniRouteSpec[] = [];
  if (file.sni !== undefined && file.sni !== null) {
    if (!isMap(file.sni)) fail(`${path}: sni: expected a mapping of server name (or *.suffix) to pool`);
    else {
      for (const [pattern, pool] of Object.entries(file.sni)) {
        const where = `${path}: sni.${pattern}`;
        const pat = pattern.toLowerCase();
        if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(pat)) fail(`${where}: invalid server name pattern (exact name or *.suffix)`);
        if (!names.has(String(pool))) fail(`${where}: no pool named "${String(pool)}"`);
        sni.push({ pattern: pat, pool: String(pool) });
      }
    }
  }
  const certificates: CertificateSpec[] = [];
  if (file.certificates !== undefined && file.certificates !== null) {
    if (!Array.isArray(file.certificates)) fail(`${path}: certificates: expected a list of {cert, key}`);
    else {
      file.certificates.forEach((e: unknown, i: number) => {
        const where = `${path}: certificates[${i}]`;
        if (!isMap(e) || typeof e.cert !== 'string' || typeof e.key !== 'string') return fail(`${where}: expected {cert: FILE, key: FILE}`);
        for (const k of Object.keys(e)) if (k !== 'cert' && k !== 'key') fail(`${where}.${k}: unknown certificate setting (known: cert, key)`);
        certificates.push({ cert: e.cert, key: e.key });
      });
    }
  }
  out.clientRoutes = parseClientRoutes(file.clientRoutes, path, names, fail);
  out.certificates = certificates;
  out.pools = pools;
  out.defaultPool = defaultPool;
  out.routes = routes;
  out.sni = sni;
}

/** One code or a list of codes (`country: DE` or `country: [DE, AT]`), upper-cased. */
function codeList(v: unknown, where: string, fail: Fail): string[] {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) fail(`${where}: an empty list matches nothing`);
  return items.map((x) => String(x).trim().toUpperCase());
}

/**
 * `clientRoutes:` (README "Routing by client"): a list of
 * `{pool, cidr | country | continent}`, first match wins. Exactly one
 * matcher per entry; CIDRs as --trust-proxy takes them; country codes are
 * ISO 3166-1 alpha-2, continents AF AN AS EU NA OC SA (the GeoIP codes).
 */
function parseClientRoutes(v: unknown, path: string, pools: ReadonlySet<string>, fail: Fail): ClientRouteSpec[] {
  const out: ClientRouteSpec[] = [];
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) {
    fail(`${path}: clientRoutes: expected a list of {pool, cidr | country | continent}`);
    return out;
  }
  v.forEach((r: unknown, i: number) => {
    const where = `${path}: clientRoutes[${i}]`;
    if (!isMap(r)) return fail(`${where}: expected {pool, cidr | country | continent}`);
    for (const k of Object.keys(r)) if (!['pool', 'cidr', 'country', 'continent'].includes(k)) fail(`${where}.${k}: unknown client route setting (known: pool, cidr, country, continent)`);
    const pool = String(r.pool ?? '');
    if (r.pool === undefined || r.pool === null) fail(`${where}.pool: missing`);
    else if (!pools.has(pool)) fail(`${where}.pool: no pool named "${pool}"`);
    const given = (['cidr', 'country', 'continent'] as const).filter((k) => r[k] !== undefined && r[k] !== null);
    if (given.length !== 1) return fail(`${where}: needs exactly one of cidr, country, continent (got ${given.length === 0 ? 'none' : given.join(', ')})`);
    const kind = given[0]!;
    let cidr: string[] | null = null;
    let country: string[] | null = null;
    let continent: string[] | null = null;
    if (kind === 'cidr') {
      cidr = (Array.isArray(r.cidr) ? r.cidr : [r.cidr]).map((x: unknown) => String(x).trim());
      if (cidr.length === 0) fail(`${where}.cidr: an empty list matches nothing`);
      cidr.forEach((x, j) => {
        try {
          parseCidr(x);
        } catch (err) {
          fail(`${where}.cidr${Array.isArray(r.cidr) ? `[${j}]` : ''}: ${(err as Error).message}`);
        }
      });
    } else if (kind === 'country') {
      country = codeList(r.country, `${where}.country`, fail);
      for (const x of country) if (!isCountryCode(x)) fail(`${where}.country: "${x}" is not an ISO 3166-1 alpha-2 country code`);
    } else {
      continent = codeList(r.continent, `${where}.continent`, fail);
      for (const x of continent) if (!CONTINENTS.includes(x)) fail(`${where}.continent: "${x}" is not a continent code (${CONTINENTS.join(', ')})`);
    }
    out.push({ pool, cidr, country, continent });
  });
  return out;
}

/** `country:`/`continent:` client routes need --geoip-db, and the file must be a MaxMind DB. */
function checkGeoip(c: Config, fail: Fail): void {
  const geoRule = c.clientRoutes.findIndex((r) => r.country !== null || r.continent !== null);
  if (geoRule >= 0 && c.geoipDb === null) fail(`${c.config ?? 'config'}: clientRoutes[${geoRule}]: country and continent rules need --geoip-db FILE`);
  if (c.geoipDb === null) return;
  let buf: Buffer;
  try {
    buf = readFileSync(c.geoipDb);
  } catch (err) {
    fail(`--geoip-db: cannot read ${c.geoipDb}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return;
  }
  try {
    // loaded only when a database is configured: it costs start-up time otherwise
    const { Reader } = createRequire(import.meta.url)('maxmind') as typeof import('maxmind');
    new Reader(buf);
  } catch (err) {
    fail(`--geoip-db: ${c.geoipDb} is not a MaxMind DB (.mmdb) file: ${(err as Error).message}`);
  }
}

/** Files named by the TLS settings must be readable; termination-only settings need a certificate. */
function checkTlsSettings(c: Config, fail: Fail): void {
  const readable = (file: string, where: string) => {
    try {
      readFileSync(file);
    } catch (err) {
      fail(`${where}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const terminating = c.tlsCert !== null;
  if (c.tlsClientCa !== null) readable(c.tlsClientCa, '--tls-client-ca');
  if (c.backendTlsCa !== null) readable(c.backendTlsCa, '--backend-tls-ca');
  c.certificates.forEach((e, i) => {
    readable(e.cert, `certificates[${i}].cert`);
    readable(e.key, `certificates[${i}].key`);
  });
  if (c.tlsCertDir !== null) {
    try {
      readdirSync(c.tlsCertDir);
    } catch (err) {
      fail(`--tls-cert-dir: cannot read ${c.tlsCertDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (!terminating) {
    if (c.tlsCertDir !== null) fail('--tls-cert-dir: needs --tls-cert/--tls-key (the default certificate)');
    if (c.certificates.length > 0) fail(`${c.config ?? 'config'}: certificates: needs --tls-cert/--tls-key (the default certificate)`);
    if (c.tlsClientCa !== null) fail('--tls-client-ca: needs --tls-cert/--tls-key (lb4 must terminate TLS to check client certificates)');
  }
  for (const p of c.pools) {
    for (const b of p.backends) {
      if (b.tls && b.tls.ca !== null) readable(b.tls.ca, `${p.name === 'default' ? 'backends' : `pools.${p.name}.backends`}: ${b.name}.ca`);
    }
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** The effective settings as JSON for /config: secrets redacted, durations as written. */
export function describeConfig(c: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const def of SETTINGS) {
    const v = c[def.key];
    out[def.key] = def.show && v !== null ? def.show(v) : v;
  }
  out.pools = c.pools;
  out.defaultPool = c.defaultPool;
  out.routes = c.routes;
  out.sni = c.sni;
  out.clientRoutes = c.clientRoutes;
  out.certificates = c.certificates;
  return out;
}
