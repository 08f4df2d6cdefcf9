/**
 * Merge the sources of settings (README "Settings": command line >
 * environment > config file > defaults), validate once, and freeze. Every
 * problem becomes a UsageError whose message says where the value came
 * from: the flag (`--tls-cert: ...`), the env variable (`LB_MODE: ...`), or
 * the YAML file, line and path (`lb4.yaml:12: tlsCert: ...`).
 *
 * With `collect` (`lb4 check`) one pass finds every problem: a setting whose
 * value is bad is reported and the checks that depend on it are skipped, so
 * that one mistake is one line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { isMap as isYamlMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { systemErrorText, UsageError } from '../core/errors.js';
import { SETTINGS, SettingProblems, type ParseContext, type SettingDef } from './schema.js';
import { knownStrategyNames, strategyLookup, type PickerFactory } from '../core/pickers/index.js';
import { didYouMean } from './suggest.js';
import type { CertificateSpec, ClientRouteSpec, Config, PoolSpec, RouteSpec, SniRouteSpec } from './types.js';
import { createRequire } from 'node:module';
import { parseCidr } from '../core/cidr.js';
import { CONTINENTS, isCountryCode } from '../core/continents.js';
import { isDiscoverySpec, type BackendEntry, type BackendSpec, type DiscoverySpec } from './parse.js';
import { resolveIdentity } from './identity.js';

export interface ConfigSources {
  /** Values given on the command line, by setting key (repeatable ones as arrays, switches as true). */
  readonly cli: Readonly<Record<string, unknown>>;
  /** The environment (only LB_* variables are read). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Settings as an object with the config file's camelCase keys, in place of
   * a config file (the library's `configFrom()`); problems name the key
   * alone (`backends[0].weight: ...`). Not used with `--config`.
   */
  readonly options?: Readonly<Record<string, unknown>>;
  /**
   * Strategies beyond the built-in ones that `strategy:` may name (a library
   * user's custom pickers; the balancer must be created with the same ones).
   */
  readonly strategies?: readonly PickerFactory[];
}

/** A parsed config file: its settings, and the line of a YAML path in it. */
interface ConfigFile {
  readonly data: Record<string, unknown>;
  /** 1-based line of `path` (`backends[1].weight`), or of its deepest part that exists; undefined when none does. */
  lineOf(path: string): number | undefined;
}

/** Read and parse a YAML config file; throws UsageError naming `where` (the flag or env variable that named it). */
function loadConfigFile(path: string, where = '--config'): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${where}: cannot read ${path}: ${systemErrorText(err)}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const e = doc.errors[0];
  if (e) {
    // the message's own "at line L, column C:" suffix and excerpt are dropped for the FILE:L:C prefix
    const at = e.linePos?.[0];
    const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new UsageError(`${path}${at ? `:${at.line}:${at.col}` : ''}: invalid YAML: ${msg}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return { data: {}, lineOf: () => undefined };
  if (typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`${path}: the top level must be a mapping of settings`);
  return { data: data as Record<string, unknown>, lineOf: (p) => yamlLine(doc.contents, lines, p) };
}

/**
 * Walk a YAML path (`pools.api.backends[0].weight`, `sni.*.example.com`)
 * down the document's nodes and return the line of the deepest one found.
 * Map keys may contain dots (pool names, server names), so at each mapping
 * the longest key that the rest of the path starts with is taken.
 */
function yamlLine(root: unknown, lines: LineCounter, path: string): number | undefined {
  let node = root;
  let rest = path;
  let line: number | undefined;
  const lineAt = (n: unknown): number | undefined => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r ? lines.linePos(r[0]).line : undefined;
  };
  while (rest.length > 0 && node) {
    if (rest[0] === '[') {
      const m = /^\[(\d+)\]/.exec(rest);
      if (!m || !isSeq(node)) break;
      const item: unknown = node.items[Number(m[1])];
      if (item === undefined) break;
      line = lineAt(item) ?? line;
      node = item;
      rest = rest.slice(m[0].length);
      continue;
    }
    if (rest[0] === '.') rest = rest.slice(1);
    if (!isYamlMap(node)) break;
    let best: { key: unknown; value: unknown } | null = null;
    let bestLen = -1;
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const k = String(pair.key.value);
      const next = rest[k.length];
      if (k.length > bestLen && rest.startsWith(k) && (next === undefined || next === '.' || next === '[')) {
        best = pair;
        bestLen = k.length;
      }
    }
    if (!best) break;
    line = lineAt(best.key) ?? line;
    node = best.value;
    rest = rest.slice(bestLen);
  }
  return line;
}

/** Read and parse a YAML config file into a plain object; throws UsageError. */
export function readConfigFile(path: string): Record<string, unknown> {
  return loadConfigFile(path).data;
}

/** Settings that exist only in the config file (no flag, no env). */
const FILE_ONLY_KEYS = ['pools', 'routes', 'sni', 'defaultPool', 'certificates', 'clientRoutes'];
const FILE_KEYS = new Set([...SETTINGS.filter((s) => s.key !== 'config').map((s) => s.key as string), ...FILE_ONLY_KEYS]);

function envValue(def: SettingDef, env: ConfigSources['env']): string | undefined {
  if (!def.env) return undefined;
  const v = env[def.env];
  return v === undefined || v === '' ? undefined : v;
}

/** Where a setting's value came from. */
type Source = 'cli' | 'env' | 'file' | 'default';

/**
 * Build the frozen Config. Throws UsageError on the first problem, or, with
 * `collect`, pushes every problem into it and returns null when there were any.
 */
export function buildConfig(sources: ConfigSources, collect?: string[]): Config | null {
  const problems: string[] = collect ?? [];
  // Problems about the file's values are written `FILE: yaml.path: ...`
  // (or `yaml.path: ...` for an options object); `fail` turns the first
  // form into `FILE:LINE: yaml.path: ...`.
  let file: Record<string, unknown> = {};
  let filePath: string | null = null;
  let configFile: ConfigFile | null = null;
  let prefix = '';
  const locate = (msg: string): string => {
    if (configFile === null || !msg.startsWith(prefix)) return msg;
    const body = msg.slice(prefix.length);
    const cut = body.indexOf(': ');
    const line = configFile.lineOf(cut < 0 ? body : body.slice(0, cut));
    return line === undefined ? msg : `${filePath}:${line}: ${body}`;
  };
  const fail = (msg: string) => {
    const located = locate(msg);
    if (!collect) throw new UsageError(located);
    problems.push(located);
  };
  const out: Record<string, unknown> = {};
  let ctx: ParseContext;
  try {
    ctx = { findStrategy: strategyLookup(sources.strategies), strategyNames: knownStrategyNames(sources.strategies) };
  } catch (err) {
    fail(`strategies: ${(err as Error).message}`);
    return null;
  }

  // Which file? (--config > LB_CONFIG), read before the other settings.
  const configDef = SETTINGS.find((s) => s.key === 'config')!;
  const cfgCli = sources.cli.config;
  const cfgEnv = envValue(configDef, sources.env);
  if (cfgCli !== undefined || cfgEnv !== undefined) {
    filePath = String(cfgCli ?? cfgEnv);
    try {
      configFile = loadConfigFile(filePath, cfgCli !== undefined ? configDef.flag : configDef.env);
    } catch (err) {
      // nothing else can be judged without the file
      fail((err as Error).message);
      return null;
    }
    file = configFile.data;
    prefix = `${filePath}: `;
  } else if (sources.options !== undefined) {
    file = { ...sources.options };
  }
  for (const k of Object.keys(file)) {
    if (!FILE_KEYS.has(k)) fail(`${prefix}${k}: unknown setting${didYouMean(k, FILE_KEYS)}`);
  }
  const fromFile = filePath !== null || sources.options !== undefined;

  /** Where each setting's value came from (flag, env variable, YAML path or default), for messages. */
  const whereOf: Record<string, string> = {};
  const sourceOf: Record<string, Source> = {};
  /** Settings whose value was bad: checks that depend on them are skipped. */
  const failed = new Set<string>();
  for (const def of SETTINGS) {
    if (def.key === 'config') {
      out.config = filePath;
      continue;
    }
    let raw: unknown;
    let where: string;
    let source: Source;
    const cli = sources.cli[def.key];
    const env = envValue(def, sources.env);
    if (cli !== undefined) {
      raw = cli;
      where = def.flag;
      source = 'cli';
    } else if (env !== undefined) {
      raw = env;
      where = def.env!;
      source = 'env';
    } else if (fromFile && file[def.key] !== undefined && file[def.key] !== null) {
      raw = file[def.key];
      where = `${prefix}${def.key}`;
      source = 'file';
    } else {
      raw = def.defaultText;
      where = `default ${def.flag}`;
      source = 'default';
    }
    whereOf[def.key] = where;
    sourceOf[def.key] = source;
    if (raw === null) {
      out[def.key] = def.repeatable ? [] : null;
      continue;
    }
    try {
      out[def.key] = def.parse(raw, where, ctx);
    } catch (err) {
      failed.add(def.key);
      // one line per problem when a value has several (SettingProblems)
      if (err instanceof SettingProblems) for (const p of err.problems) fail(p);
      else fail((err as Error).message);
    }
  }

  const { poolsOk } = parseFileOnly(out, file, prefix, ctx, fail);

  const c = out as unknown as Config;
  const ok = (...keys: string[]) => keys.every((k) => !failed.has(k));
  /** The same setting named the way its sibling was given: `--tls-key`, `LB_TLS_KEY` or `tlsKey`. */
  const sibling = (key: keyof Config, like: keyof Config): string => {
    const def = SETTINGS.find((s) => s.key === key)!;
    const src = sourceOf[like];
    return src === 'env' && def.env ? def.env : src === 'file' ? String(key) : def.flag;
  };
  if (ok('tlsCert', 'tlsKey')) {
    if (c.tlsCert !== null && c.tlsKey === null) fail(`${whereOf.tlsCert}: needs ${sibling('tlsKey', 'tlsCert')} too (a certificate and its key, both or neither)`);
    if (c.tlsKey !== null && c.tlsCert === null) fail(`${whereOf.tlsKey}: needs ${sibling('tlsCert', 'tlsKey')} too (a certificate and its key, both or neither)`);
    if (c.tlsCert !== null && c.tlsKey !== null) {
      const cert = readable(c.tlsCert, whereOf.tlsCert!, fail);
      const key = readable(c.tlsKey, whereOf.tlsKey!, fail);
      if (cert && key) {
        try {
          createSecureContext({ cert, key });
        } catch (err) {
          fail(`${whereOf.tlsCert}: unusable certificate or key (${c.tlsCert}, ${c.tlsKey}): ${(err as Error).message}`);
        }
      }
    }
  }
  checkTlsSettings(c, prefix, whereOf, failed, fail);
  if (!failed.has('geoipDb')) checkGeoip(c, prefix, whereOf, fail);

  // the backends: at least one somewhere, names unique across pools
  if (ok('backends') && poolsOk && c.pools.every((p) => p.backends.length === 0 && p.sources.length === 0)) {
    fail('no backends: give --backend HOST:PORT (or LB_BACKENDS, or backends: in --config)');
  }
  /** `by default`, `from --mode`, `from LB_MODE`, `from lb4.yaml:3`, `from the options`. */
  const fromText = (key: string): string => {
    const src = sourceOf[key];
    if (src === 'default') return 'by default';
    if (src !== 'file') return `from ${whereOf[key]}`;
    const line = configFile?.lineOf(key);
    return line === undefined ? `from ${key}` : `from ${filePath}:${line}`;
  };
  const lineLabel = (where: string): string => {
    const line = configFile !== null && where.startsWith(prefix) ? configFile.lineOf(where.slice(prefix.length)) : undefined;
    return line === undefined ? '' : `; the first is on line ${line}`;
  };
  const seen = new Map<string, string>();
  for (const p of c.pools) {
    p.backends.forEach((b, i) => {
      const list = p.name === 'default' ? whereOf.backends! : `${prefix}pools.${p.name}.backends`;
      const where = p.name === 'default' && sourceOf.backends !== 'file' ? list : `${list}[${i}]`;
      const first = seen.get(b.name);
      if (first !== undefined) fail(`${where}: duplicate backend name "${b.name}" (names are unique across pools${lineLabel(first)})`);
      else seen.set(b.name, where);
    });
    const sources = new Set<string>();
    for (const src of p.sources) {
      if (sources.has(src.source)) fail(`${p.name === 'default' ? whereOf.backends! : `${prefix}pools.${p.name}.backends`}: duplicate discovery source "${src.source}"`);
      sources.add(src.source);
    }
  }
  if (ok('mode') && c.mode === 'l4' && c.routes.length > 0) {
    fail(`${prefix}routes: HTTP routes need mode l7 (mode is l4 ${fromText('mode')}; use sni: to route TLS by server name in l4)`);
  }
  if (ok('watchConfig') && c.watchConfig && c.config === null) fail(`${whereOf.watchConfig}: needs --config FILE (or LB_CONFIG)`);
  if (ok('mode', 'hashKey') && c.mode === 'l4' && c.hashKey.kind !== 'ip') {
    fail(`${whereOf.hashKey}: "${c.hashKey.kind}" needs mode l7 (mode is l4 ${fromText('mode')}); l4 hashes the client IP`);
  }
  if (ok('user', 'group')) {
    try {
      resolveIdentity(c.user, c.group);
    } catch (err) {
      fail((err as Error).message);
    }
  }
  if (problems.length > 0) return null;
  return deepFreeze(c);
}

/** The file's contents, or null after reporting why it cannot be read. */
function readable(file: string, where: string, fail: Fail): Buffer | null {
  try {
    return readFileSync(file);
  } catch (err) {
    fail(`${where}: cannot read ${file}: ${systemErrorText(err)}`);
    return null;
  }
}

type Fail = (msg: string) => void;

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The file-only settings: `pools:` (name → {strategy?, backends}),
 * `defaultPool:`, `routes:` (L7: [{host?, path?, pool}]) and `sni:`
 * (server name pattern → pool). Fills out.pools, out.defaultPool,
 * out.routes, out.sni. `prefix` starts every YAML path in messages
 * (`FILE: `). `poolsOk` is false when a pool was left out for a problem.
 */
function parseFileOnly(out: Record<string, unknown>, file: Record<string, unknown>, prefix: string, ctx: ParseContext, outerFail: Fail): { poolsOk: boolean } {
  let poolsOk = true;
  let inPools = false;
  const fail: Fail = (msg) => {
    if (inPools) poolsOk = false;
    outerFail(msg);
  };
  const strategyDef = SETTINGS.find((s) => s.key === 'strategy')!;
  const backendsDef = SETTINGS.find((s) => s.key === 'backends')!;
  const pools: PoolSpec[] = [];
  const top = split((out.backends as BackendEntry[] | undefined) ?? []);
  // Config.backends keeps the HOST:PORT ones; the default pool has both
  out.backends = top.backends;
  if (top.backends.length + top.sources.length > 0) pools.push({ name: 'default', strategy: out.strategy as string, ...top });
  if (file.pools !== undefined && file.pools !== null) {
    inPools = true;
    if (!isMap(file.pools)) fail(`${prefix}pools: expected a mapping of pool name to {strategy, backends}`);
    else {
      for (const [name, def] of Object.entries(file.pools)) {
        const where = `${prefix}pools.${name}`;
        if (!/^[A-Za-z0-9._-]+$/.test(name)) fail(`${where}: invalid pool name (allowed: A-Z a-z 0-9 . _ -)`);
        if (name === 'default' && pools.length > 0 && pools[0]!.name === 'default') fail(`${where}: "default" is the pool of --backend/backends:; pick another name`);
        if (!isMap(def)) {
          fail(`${where}: expected {strategy, backends}`);
          continue;
        }
        for (const k of Object.keys(def)) if (k !== 'strategy' && k !== 'backends') fail(`${where}.${k}: unknown pool setting${didYouMean(k, ['strategy', 'backends'])} (known: strategy, backends)`);
        try {
          const strategy = def.strategy === undefined ? (out.strategy as string) : (strategyDef.parse(def.strategy, `${where}.strategy`, ctx) as string);
          const entries = def.backends === undefined ? [] : (backendsDef.parse(def.backends, `${where}.backends`) as BackendEntry[]);
          if (entries.length === 0) fail(`${where}.backends: a pool needs at least one backend`);
          pools.push({ name, strategy, ...split(entries) });
        } catch (err) {
          fail((err as Error).message);
        }
      }
    }
  }
  inPools = false;
  const names = new Set(pools.map((p) => p.name));
  let defaultPool = pools[0]?.name ?? 'default';
  if (file.defaultPool !== undefined && file.defaultPool !== null) {
    const d = String(file.defaultPool);
    if (!names.has(d)) fail(`${prefix}defaultPool: no pool named "${d}"`);
    defaultPool = d;
  }
  const routes: RouteSpec[] = [];
  if (file.routes !== undefined && file.routes !== null) {
    if (!Array.isArray(file.routes)) fail(`${prefix}routes: expected a list of {host, path, pool}`);
    else {
      file.routes.forEach((r: unknown, i: number) => {
        const where = `${prefix}routes[${i}]`;
        if (!isMap(r)) return fail(`${where}: expected {host, path, pool}`);
        for (const k of Object.keys(r)) if (k !== 'host' && k !== 'path' && k !== 'pool') fail(`${where}.${k}: unknown route setting${didYouMean(k, ['host', 'path', 'pool'])} (known: host, path, pool)`);
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
    if (!isMap(file.sni)) fail(`${prefix}sni: expected a mapping of server name (or *.suffix) to pool`);
    else {
      for (const [pattern, pool] of Object.entries(file.sni)) {
        const where = `${prefix}sni.${pattern}`;
        const pat = pattern.toLowerCase();
        if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(pat)) fail(`${where}: invalid server name pattern (exact name or *.suffix)`);
        if (!names.has(String(pool))) fail(`${where}: no pool named "${String(pool)}"`);
        sni.push({ pattern: pat, pool: String(pool) });
      }
    }
  }
  const certificates: CertificateSpec[] = [];
  if (file.certificates !== undefined && file.certificates !== null) {
    if (!Array.isArray(file.certificates)) fail(`${prefix}certificates: expected a list of {cert, key}`);
    else {
      file.certificates.forEach((e: unknown, i: number) => {
        const where = `${prefix}certificates[${i}]`;
        if (!isMap(e) || typeof e.cert !== 'string' || typeof e.key !== 'string') return fail(`${where}: expected {cert: FILE, key: FILE}`);
        for (const k of Object.keys(e)) if (k !== 'cert' && k !== 'key') fail(`${where}.${k}: unknown certificate setting${didYouMean(k, ['cert', 'key'])} (known: cert, key)`);
        certificates.push({ cert: e.cert, key: e.key });
      });
    }
  }
  out.clientRoutes = parseClientRoutes(file.clientRoutes, prefix, names, fail);
  out.certificates = certificates;
  out.pools = pools;
  out.defaultPool = defaultPool;
  out.routes = routes;
  out.sni = sni;
  return { poolsOk };
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
function parseClientRoutes(v: unknown, prefix: string, pools: ReadonlySet<string>, fail: Fail): ClientRouteSpec[] {
  const out: ClientRouteSpec[] = [];
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) {
    fail(`${prefix}clientRoutes: expected a list of {pool, cidr | country | continent}`);
    return out;
  }
  v.forEach((r: unknown, i: number) => {
    const where = `${prefix}clientRoutes[${i}]`;
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
function checkGeoip(c: Config, prefix: string, whereOf: Record<string, string>, fail: Fail): void {
  const geoRule = c.clientRoutes.findIndex((r) => r.country !== null || r.continent !== null);
  if (geoRule >= 0 && c.geoipDb === null) fail(`${prefix}clientRoutes[${geoRule}]: country and continent rules need --geoip-db FILE`);
  if (c.geoipDb === null) return;
  let buf: Buffer;
  try {
    buf = readFileSync(c.geoipDb);
  } catch (err) {
    fail(`${whereOf.geoipDb ?? '--geoip-db'}: cannot read ${c.geoipDb}: ${systemErrorText(err)}`);
    return;
  }
  try {
    // loaded only when a database is configured: it costs start-up time otherwise
    const { Reader } = createRequire(import.meta.url)('maxmind') as typeof import('maxmind');
    new Reader(buf);
  } catch (err) {
    fail(`${whereOf.geoipDb ?? '--geoip-db'}: ${c.geoipDb} is not a MaxMind DB (.mmdb) file: ${(err as Error).message}`);
  }
}

/** Files named by the TLS settings must be readable; termination-only settings need a certificate. */
function checkTlsSettings(c: Config, prefix: string, whereOf: Record<string, string>, failed: ReadonlySet<string>, fail: Fail): void {
  const terminating = c.tlsCert !== null;
  if (!failed.has('tlsClientCa') && c.tlsClientCa !== null) readable(c.tlsClientCa, whereOf.tlsClientCa!, fail);
  if (!failed.has('backendTlsCa') && c.backendTlsCa !== null) readable(c.backendTlsCa, whereOf.backendTlsCa!, fail);
  c.certificates.forEach((e, i) => {
    readable(e.cert, `${prefix}certificates[${i}].cert`, fail);
    readable(e.key, `${prefix}certificates[${i}].key`, fail);
  });
  if (!failed.has('tlsCertDir') && c.tlsCertDir !== null) {
    try {
      readdirSync(c.tlsCertDir);
    } catch (err) {
      fail(`${whereOf.tlsCertDir}: cannot read ${c.tlsCertDir}: ${systemErrorText(err)}`);
    }
  }
  if (!terminating && !failed.has('tlsCert')) {
    if (c.tlsCertDir !== null) fail(`${whereOf.tlsCertDir}: needs --tls-cert/--tls-key (the default certificate)`);
    if (c.certificates.length > 0) fail(`${prefix}certificates: needs --tls-cert/--tls-key (the default certificate)`);
    if (c.tlsClientCa !== null) fail(`${whereOf.tlsClientCa}: needs --tls-cert/--tls-key (lb4 must terminate TLS to check client certificates)`);
  }
  for (const p of c.pools) {
    const list = p.name === 'default' ? whereOf.backends! : `${prefix}pools.${p.name}.backends`;
    p.backends.forEach((b, i) => {
      if (b.tls && b.tls.ca !== null) readable(b.tls.ca, `${list}[${i}].ca`, fail);
    });
    for (const src of p.sources) {
      if (src.tls && src.tls.ca !== null) readable(src.tls.ca, `${list}: ${src.source}.ca`, fail);
    }
  }
}

/** Separate HOST:PORT backends from discovery sources, each list in the order given. */
function split(entries: readonly BackendEntry[]): { backends: BackendSpec[]; sources: DiscoverySpec[] } {
  const backends: BackendSpec[] = [];
  const sources: DiscoverySpec[] = [];
  for (const e of entries) {
    if (isDiscoverySpec(e)) sources.push(e);
    else backends.push(e);
  }
  return { backends, sources };
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
