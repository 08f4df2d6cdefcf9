/**
 * The per-client limits service (contract: src/core/client-limits.ts):
 * `--client-max-conns` and `--client-rate` counted in a bounded table
 * (src/core/client-table.ts), and with `--limit-store` the rate counted in
 * Redis across instances (src/limits/redis-store.ts), the local table
 * deciding whenever Redis cannot.
 *
 * The local table counts every event admitted by either, so that when
 * Redis goes away the local count starts from this instance's recent
 * history instead of from zero. Connection counts are always local (a
 * connection's end must be counted where it was admitted).
 *
 * Settings are read live: a reload changes the limits at once; a changed
 * --limit-store reconnects (apply()). Connections open before a reload
 * that turned the limits on are not counted.
 */
import type { Logger } from 'pino';
import { ClientTable, CLIENT_TABLE_CAPACITY, retryAfterSeconds } from '../core/client-table.js';
import { RATE_PENDING, type ClientLimits, type RateWaiter } from '../core/client-limits.js';
import type { Config } from '../config/types.js';
import { RedisRateStore, type StoreAnswer } from './redis-store.js';

/** One decision in flight at the store. */
interface Pending {
  readonly ip: string;
  readonly now: number;
  readonly limit: number;
  readonly waiter: RateWaiter;
}

export class ClientLimiter implements ClientLimits, StoreAnswer<Pending> {
  private readonly getConfig: () => Config;
  private readonly log: Logger;
  private readonly table: ClientTable;
  private store: RedisRateStore | null = null;
  /** start() was called: a --limit-store is connected to (never in a --workers primary, which serves no client). */
  private started = false;
  /** Refusals since start. */
  limited = 0;

  constructor(getConfig: () => Config, log: Logger, capacity: number = CLIENT_TABLE_CAPACITY) {
    this.getConfig = getConfig;
    this.log = log;
    this.table = new ClientTable(capacity);
  }

  /** Connect to --limit-store, when set. */
  start(): void {
    this.started = true;
    this.apply(this.getConfig());
  }

  get tracked(): number {
    return this.table.size;
  }

  /** The shared store's state: 'up', 'down', or null without --limit-store (or before its first connect). */
  get storeStatus(): 'up' | 'down' | null {
    return this.store === null ? null : this.store.status;
  }

  /** Follow a (re-read) config: connect to a new --limit-store, drop a removed one. */
  apply(c: Config): void {
    if (!this.started) return;
    const url = c.limitStore;
    if (this.store !== null && this.store.url === url) return;
    this.store?.close();
    this.store = url === null ? null : new RedisRateStore(url, this.log);
  }

  admitConnection(ip: string): boolean {
    const c = this.getConfig();
    const max = c.clientMaxConns;
    if (max === 0 && c.clientRate === 0) return true;
    if (max > 0 && this.table.connections(ip) >= max) {
      this.limited++;
      return false;
    }
    this.table.openConnection(ip);
    return true;
  }

  connectionClosed(ip: string): void {
    this.table.closeConnection(ip);
  }

  admitRequest(ip: string, now: number, waiter: RateWaiter): number {
    const limit = this.getConfig().clientRate;
    if (limit === 0) return 0;
    const st = this.store;
    if (st !== null && st.decide(ip, now, limit, this, { ip, now, limit, waiter })) return RATE_PENDING;
    return this.local(ip, now, limit);
  }

  /** The store answered (or gave up): count, decide, tell the waiter. */
  storeDecided(p: Pending, r: { admitted: boolean; prev: number; cur: number; elapsed: number } | null): void {
    let retryAfter: number;
    if (r === null) {
      retryAfter = this.local(p.ip, p.now, p.limit);
    } else if (r.admitted) {
      this.table.count(p.ip, p.now);
      retryAfter = 0;
    } else {
      this.limited++;
      retryAfter = retryAfterSeconds(r.prev, r.cur, r.elapsed, p.limit);
    }
    p.waiter.rateDecided(retryAfter);
  }

  private local(ip: string, now: number, limit: number): number {
    const r = this.table.admit(ip, now, limit);
    if (r > 0) this.limited++;
    return r;
  }

  /** Shutdown: disconnect from the store. */
  close(): void {
    this.started = false;
    this.store?.close();
    this.store = null;
  }
}
