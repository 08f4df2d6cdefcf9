/**
 * One discovery source in one pool (`dns:HOST:PORT` or `srv:NAME`): resolve
 * it, turn what it finds into backend specs, report them when they change,
 * and come back when the records' TTL runs out.
 *
 * Schedule: the next resolution is due after the shortest TTL of the
 * records used, clamped to MIN_INTERVAL_MS..MAX_INTERVAL_MS (so a TTL of 0
 * asks once a second, and a day-long TTL still every 5 minutes). A failed
 * or empty answer keeps the last good set (nothing is reported), logs
 * `"msg":"dns error"` with `source`, and tries again after 1 s, 2 s, 4 s...
 * up to RETRY_MAX_MS.
 *
 * Backends: `dns:` gives one per address, named `IP:PORT`, connecting to
 * that address. `srv:` gives one per target, named `TARGET:PORT`, connecting
 * to one of the target's addresses: the one it already uses while the
 * target still has it (so a server that rotates its answers does not
 * replace backends), else the first (IPv4 first, numeric order). The
 * source's `sendProxy`/`tls` apply to each; upstream TLS names the target
 * (SNI and certificate check) unless a servername is given.
 */
import type { Logger } from 'pino';
import type { BackendSpec, DiscoverySpec } from '../config/parse.js';
import { resolveSource, type HostsLookup, type Target } from './resolve.js';
import type { DnsClient } from './dns-client.js';

/** Never re-resolve sooner than this after a good answer (TTL 0 included). */
export const MIN_INTERVAL_MS = 1000;
/** Re-resolve at least this often, whatever the TTL. */
export const MAX_INTERVAL_MS = 5 * 60_000;
/** Retry after a failure: 1 s, doubling, up to this. */
export const RETRY_MAX_MS = 30_000;

/** Where a source reports the backends it wants in its pool. */
export interface SourceSink {
  setSource(pool: string, source: string, specs: readonly BackendSpec[]): void;
}

export interface SourceDeps {
  /** The DNS client in use now (it changes when --resolver does). */
  client(): DnsClient;
  /** The hosts file, with the system's resolvers only; null with --resolver. */
  hosts(): HostsLookup | null;
  readonly sink: SourceSink;
  readonly log: Logger;
}

export class DiscoverySource {
  readonly pool: string;
  spec: DiscoverySpec;
  private readonly deps: SourceDeps;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running: Promise<void> | null = null;
  /** refresh() was asked while a resolution ran: resolve again once it ends. */
  private again = false;
  /** Consecutive failures (for the retry backoff). */
  private fails = 0;
  /** What the last good answer found (kept through failures). */
  private targets: readonly Target[] | null = null;
  /** The address each target connects to (srv:), kept while the target still has it. */
  private readonly chosen = new Map<string, string>();
  /** The specs last reported, as JSON, to report only changes. */
  private reported: string | null = null;

  constructor(pool: string, spec: DiscoverySpec, deps: SourceDeps) {
    this.pool = pool;
    this.spec = spec;
    this.deps = deps;
  }

  get source(): string {
    return this.spec.source;
  }

  /** Resolve now; resolves once this first resolution is over (good or not), then keeps the schedule. */
  start(): Promise<void> {
    return this.resolve();
  }

  /** Re-read the source's settings (weight, sendProxy, tls) after a reload: report again with them. */
  update(spec: DiscoverySpec): void {
    this.spec = spec;
    if (this.targets !== null) this.report(this.targets);
  }

  /** Resolve again now (the resolvers changed). */
  refresh(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.resolve();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private resolve(): Promise<void> {
    const run = this.once().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
    this.running = run;
    return run;
  }

  private async once(): Promise<void> {
    const log = this.deps.log;
    let delay: number;
    try {
      const found = await resolveSource(this.deps.client(), this.spec, { hosts: this.deps.hosts(), previous: (host) => this.addressesOf(host) });
      if (this.stopped) return;
      this.fails = 0;
      this.targets = found.targets;
      const n = this.report(found.targets);
      delay = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Number.isFinite(found.ttl) ? found.ttl * 1000 : MAX_INTERVAL_MS));
      if (log.isLevelEnabled('debug')) log.debug({ source: this.source, pool: this.pool, backends: n, ttl_s: found.ttl, next_ms: delay }, 'dns resolved');
    } catch (err) {
      if (this.stopped) return;
      this.fails++;
      delay = Math.min(RETRY_MAX_MS, MIN_INTERVAL_MS * 2 ** Math.min(this.fails - 1, 15));
      log.warn({ source: this.source, pool: this.pool, err: (err as Error).message, kept: this.targets?.length ?? 0, retry_ms: delay }, 'dns error');
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.resolve();
    }, delay);
    this.timer.unref();
  }

  /** The addresses `host` had in the last good answer. */
  private addressesOf(host: string): string[] {
    const out: string[] = [];
    for (const t of this.targets ?? []) if (t.host === host) out.push(...t.addresses);
    return out;
  }

  /** Turn targets into specs and report them when they differ from the last report; returns how many. */
  private report(targets: readonly Target[]): number {
    const specs = targets.map((t) => this.specOf(t)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (this.chosen.size > specs.length) {
      const names = new Set(specs.map((x) => x.name));
      for (const name of this.chosen.keys()) if (!names.has(name)) this.chosen.delete(name);
    }
    const json = JSON.stringify(specs);
    if (json !== this.reported) {
      this.reported = json;
      this.deps.sink.setSource(this.pool, this.source, specs);
    }
    return specs.length;
  }

  private specOf(t: Target): BackendSpec {
    const prev = this.chosen.get(t.name);
    const host = prev !== undefined && t.addresses.includes(prev) ? prev : t.addresses[0]!;
    this.chosen.set(t.name, host);
    const s = this.spec;
    const spec: BackendSpec = { host, port: t.port, name: t.name, weight: t.weight };
    if (t.priority !== undefined) spec.priority = t.priority;
    if (s.sendProxy !== undefined) spec.sendProxy = s.sendProxy;
    if (s.tls !== undefined) spec.tls = s.tls === false || s.tls.servername !== null ? s.tls : { ...s.tls, servername: t.host };
    return spec;
  }
}
