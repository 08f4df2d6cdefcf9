/**
 * Merge the sources of settings (SPEC section 2: command line > environment >
 * config file > defaults), validate once, and freeze. Every problem becomes a
 * UsageError whose message names the flag, env variable or YAML path.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { UsageError } from '../core/errors.js';
import { SETTINGS, type SettingDef } from './schema.js';
import type { Config } from './types.js';

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
    data = parseYaml(text, { prettyErrors: false });
  } catch (err) {
    const e = err as YAMLParseError;
    const line = e.linePos?.[0];
    throw new UsageError(`${path}${line ? `:${line.line}:${line.col}` : ''}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`${path}: the top level must be a mapping of settings`);
  return data as Record<string, unknown>;
}

const FILE_KEYS = new Set(SETTINGS.filter((s) => s.key !== 'config').map((s) => s.key as string));

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
      out[def.key] = def.parse(raw, where);
    } catch (err) {
      fail((err as Error).message);
    }
  }
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
  if (c.backends.length === 0) fail('no backends: give --backend HOST:PORT (or LB_BACKENDS, or backends: in --config)');
  const seen = new Set<string>();
  for (const b of c.backends) {
    if (seen.has(b.name)) fail(`--backend: duplicate backend name "${b.name}"`);
    seen.add(b.name);
  }
  if (c.mode === 'l4' && c.hashKey.kind !== 'ip') fail(`--hash-key: "${c.hashKey.kind}" needs --mode l7`);
  if (problems.length > 0) return null;
  return deepFreeze(c);
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
  return out;
}
