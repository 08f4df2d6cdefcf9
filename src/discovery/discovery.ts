/**
 * Every discovery source of a balancer (README "Discovery"): one
 * DiscoverySource per (pool, source) listed in the config, all asking the
 * same DNS servers (--resolver, or the nameservers of /etc/resolv.conf).
 * It reports through a SourceSink (the balancer connects it to
 * PoolSet.setSource); it knows nothing of pools, streams or workers.
 *
 * Without --resolver, a name listed in /etc/hosts takes its addresses from
 * there first, as the system's resolver does (`hosts: files dns`).
 *
 * sync(config) runs on start and on every reload: sources that are new
 * start (their first answer awaited), sources still listed keep their
 * schedule (a changed weight, sendProxy or tls is reported again at once),
 * sources no longer listed stop (the reload withdraws their backends). A
 * change of resolvers builds a new client and resolves every source again.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HostPort } from '../core/address.js';
import type { Config } from '../config/types.js';
import { DnsClient } from './dns-client.js';
import { DiscoverySource, type SourceSink } from './source.js';
import { parseHosts, type HostsLookup } from './resolve.js';

export type { SourceSink } from './source.js';

/** Where the system's DNS servers are listed (resolv.conf(5)). */
export const RESOLV_CONF = '/etc/resolv.conf';
/** The system's static names (hosts(5)), looked at before DNS when no --resolver is given. */
export const HOSTS_FILE = '/etc/hosts';
/** How long sync() waits for new sources' first answers (lb4 listens after it). */
export const FIRST_ANSWER_WAIT_MS = 3000;
/** The hosts file is read again at most this often. */
const HOSTS_REREAD_MS = 1000;

/**
 * The `nameserver` lines of a resolv.conf text, port 53 (a scope suffix
 * `%eth0` is dropped). None → 127.0.0.1, as the C library assumes.
 */
export function systemResolvers(text: string | null): HostPort[] {
  const out: HostPort[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push({ host: m[1]!.replace(/%.*$/, ''), port: 53 });
  }
  return out.length > 0 ? out : [{ host: '127.0.0.1', port: 53 }];
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A lookup in /etc/hosts, re-read at most once a second. */
function hostsFileLookup(): HostsLookup {
  let at = 0;
  let table = new Map<string, string[]>();
  return (name) => {
    const now = Date.now();
    if (now - at >= HOSTS_REREAD_MS) {
      at = now;
      table = parseHosts(readText(HOSTS_FILE) ?? '');
    }
    return table.get(name) ?? null;
  };
}

export class Discovery {
  private readonly sink: SourceSink;
  private readonly log: Logger;
  private readonly sources = new Map<string, DiscoverySource>();
  private client: DnsClient | null = null;
  private clientKey = '';
  /** The hosts lookup while the system's resolvers are used; null with --resolver. */
  private hosts: HostsLookup | null = null;
  /** Clients replaced by a resolver change: their queries in flight finish (bounded), stop() cancels them. */
  private readonly retired = new Set<DnsClient>();
  private stopped = false;

  constructor(sink: SourceSink, log: Logger) {
    this.sink = sink;
    this.log = log;
  }

  /** Sources running now. */
  get size(): number {
    return this.sources.size;
  }

  /**
   * Align the running sources with `c` (see the module doc). Resolves once
   * every new source has had its first answer or error, or after
   * FIRST_ANSWER_WAIT_MS, whichever comes first.
   */
  async sync(c: Config): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, { pool: string; spec: Config['pools'][number]['sources'][number] }>();
    for (const p of c.pools) for (const spec of p.sources) wanted.set(`${p.name}\0${spec.source}`, { pool: p.name, spec });
    for (const [key, src] of this.sources) {
      if (wanted.has(key)) continue;
      src.stop();
      this.sources.delete(key);
    }
    if (wanted.size === 0) {
      if (this.client) this.retired.add(this.client);
      this.client = null;
      this.clientKey = '';
      return;
    }
    const system = c.resolvers.length === 0;
    const servers = system ? systemResolvers(readText(RESOLV_CONF)) : c.resolvers;
    this.hosts = system ? hostsFileLookup() : null;
    const key = JSON.stringify(servers);
    const resolversChanged = this.client !== null && key !== this.clientKey;
    if (this.client === null || resolversChanged) {
      if (this.client) this.retired.add(this.client);
      this.client = new DnsClient(servers);
      this.clientKey = key;
      this.log.info({ resolvers: servers.map((s) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)), sources: wanted.size }, 'dns discovery');
    }
    const first: Promise<void>[] = [];
    for (const [k, { pool, spec }] of wanted) {
      const running = this.sources.get(k);
      if (running) {
        if (JSON.stringify(running.spec) !== JSON.stringify(spec)) running.update(spec);
        if (resolversChanged) running.refresh();
        continue;
      }
      const src = new DiscoverySource(pool, spec, { client: () => this.client!, hosts: () => this.hosts, sink: this.sink, log: this.log });
      this.sources.set(k, src);
      first.push(src.start());
    }
    if (first.length === 0) return;
    // wait for the first answers, but not for long: a source still waiting goes on in the background
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(first), new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_ANSWER_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** Stop every source and cancel queries in flight (shutdown). */
  stop(): void {
    this.stopped = true;
    for (const s of this.sources.values()) s.stop();
    this.sources.clear();
    this.client?.close();
    this.client = null;
    for (const c of this.retired) c.close();
    this.retired.clear();
  }
}
