/**
 * `--limit-store redis://HOST:PORT`: --client-rate counted across every lb4
 * instance in one Redis (README "Per-client limits"), with the same
 * two-window sliding estimate as the local table (src/core/client-table.ts).
 *
 * One round trip per decision: a Lua script reads the client's counters of
 * the current and the previous 1 s window, and increments the current one
 * (with a 3 s expiry) only when the estimate admits the event, atomically.
 * It runs by EVALSHA, falling back to EVAL once when Redis answers NOSCRIPT
 * (a restarted or flushed Redis). Window numbers come from lb4's clock
 * (Date.now()): instances whose clocks agree within a few tens of ms share
 * the windows closely enough for a per-second limit. Keys are
 * `lb4:rate:{IP}:WINDOW`; the braces put both windows of a client in one
 * Redis Cluster slot.
 *
 * The wait is bounded (STORE_TIMEOUT_MS): a decision that has no answer by
 * then, or any error, is left to the caller's local count, as is every
 * decision while Redis is not connected (commands are never queued). The
 * connection is retried in the background (every 100 ms growing to 1 s);
 * losing it logs `"msg":"limit store down"` once, getting it back
 * `"msg":"limit store up"`.
 *
 * Client: ioredis, not node-redis. ioredis has defineCommand (EVALSHA with
 * the EVAL fallback built in), a per-command timeout (commandTimeout), and
 * a switch that fails commands at once while disconnected instead of
 * queueing them (enableOfflineQueue: false): the three things a bounded,
 * fall-back-able decision needs, in a package with five small
 * dependencies. node-redis v5 pulls in its module clients (JSON, search,
 * time series, bloom) and needs an AbortSignal per command for the same
 * bound. ioredis is loaded only when --limit-store is set.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { RATE_WINDOW_MS } from '../core/client-table.js';
import { redactUrl } from '../config/parse.js';

/** Longest wait for Redis' answer to one decision, ms. */
export const STORE_TIMEOUT_MS = 50;
/** Expiry of a window's counter: the current and the previous window are read. */
const KEY_TTL_MS = 3 * RATE_WINDOW_MS;

/**
 * KEYS[1] the current window's counter, KEYS[2] the previous one's;
 * ARGV: limit, ms elapsed in the current window, window ms, expiry ms.
 * Returns {admitted (1/0), current count, previous count}.
 */
const RATE_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
local est = prev * (1 - tonumber(ARGV[2]) / tonumber(ARGV[3])) + cur
if est < limit then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, cur + 1, prev}
end
return {0, cur, prev}
`;

/** What the store tells its owner about one decision. */
export interface StoreAnswer<T> {
  /**
   * Redis decided: `admitted`, with the window counts it saw (`prev`,
   * `cur`) at `elapsed` ms into the current window; or `null` when it did
   * not answer in time or failed (decide locally).
   */
  storeDecided(ctx: T, result: { admitted: boolean; prev: number; cur: number; elapsed: number } | null): void;
}

type RateCommand = (k1: string, k2: string, limit: number, elapsed: number, window: number, ttl: number) => Promise<[number, number, number]>;

export class RedisRateStore {
  readonly url: string;
  private readonly client: RedisClient & { lb4rate: RateCommand };
  private readonly log: Logger;
  /** Last known state: null before the first connect or failure. */
  private state: 'up' | 'down' | null = null;
  private lastError = '';
  private closed = false;

  constructor(url: string, log: Logger, timeoutMs: number = STORE_TIMEOUT_MS) {
    this.url = url;
    this.log = log;
    const require = createRequire(import.meta.url);
    const { Redis } = require('ioredis') as typeof import('ioredis');
    const opts: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: 1000,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
      // a restart of lb4 must not wait for a store that is gone
      lazyConnect: false,
    };
    const client = new Redis(url, opts);
    client.defineCommand('lb4rate', { numberOfKeys: 2, lua: RATE_SCRIPT });
    client.on('ready', () => this.onReady());
    client.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    client.on('close', () => this.onClose());
    this.client = client as RedisClient & { lb4rate: RateCommand };
  }

  /** Connected and usable now. */
  get up(): boolean {
    return this.client.status === 'ready';
  }

  /** 'up', 'down', or null before the first connect or failure (for /stats and /metrics). */
  get status(): 'up' | 'down' | null {
    return this.state;
  }

  private onReady(): void {
    if (this.state === 'down') this.log.info({ store: redactUrl(this.url) }, 'limit store up');
    this.state = 'up';
  }

  private onClose(): void {
    if (this.closed) return;
    if (this.state !== 'down') this.log.warn({ store: redactUrl(this.url), err: this.lastError || 'connection closed' }, 'limit store down');
    this.state = 'down';
  }

  /**
   * Ask Redis to admit one event of `ip` at `now` (ms since the epoch)
   * under `limit` per window; the answer goes to `owner.storeDecided(ctx,
   * ...)`, exactly once, within the bounded wait. False (and no call) when
   * not connected: decide locally.
   */
  decide<T>(ip: string, now: number, limit: number, owner: StoreAnswer<T>, ctx: T): boolean {
    if (this.client.status !== 'ready') return false;
    const w = Math.floor(now / RATE_WINDOW_MS);
    const elapsed = now - w * RATE_WINDOW_MS;
    this.client.lb4rate(`lb4:rate:{${ip}}:${w}`, `lb4:rate:{${ip}}:${w - 1}`, limit, elapsed, RATE_WINDOW_MS, KEY_TTL_MS).then(
      (r) => owner.storeDecided(ctx, { admitted: Number(r[0]) === 1, cur: Number(r[1]), prev: Number(r[2]), elapsed }),
      (err: Error) => {
        this.lastError = err.message;
        owner.storeDecided(ctx, null);
      },
    );
    return true;
  }

  /** Disconnect (shutdown, or a reload that changed or removed --limit-store). */
  close(): void {
    this.closed = true;
    this.client.disconnect();
  }
}
