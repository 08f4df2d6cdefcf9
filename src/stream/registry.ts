/**
 * Step 6 of the data path, account and log: the open client connections of
 * one balancer and their counters (/stats `connections`, /metrics), the
 * access log's `connection` lines, the rate-limited `no backend available`
 * warning, and the wait for the last connection at shutdown.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import { END_INDEX, endCounters, type EndReason } from '../core/ends.js';
import type { ListenerStats } from '../core/listener-stats.js';
import { formatHostPort, normalizeIp } from '../core/address.js';
import type { Config } from '../config/types.js';
import { RateLimitedWarning, type Loggers } from '../logger.js';

/** A client connection as the registry sees it (a Stream). */
export interface Tracked {
  readonly listener: ListenerStats;
  /** The socket peer, `ip:port`. */
  readonly clientAddress: string;
  readonly clientIp: string;
  /** The last backend it reached, or null. */
  readonly backend: Backend | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly startedAt: number;
  readonly retries: number;
  /** Close everything now (the drain deadline). */
  abort(reason: EndReason): void;
  /** Shutdown began. */
  drain(): void;
  /** Once a second; true when it handed a tunnel to the native relay. */
  housekeep(openedBefore: number): boolean;
  /** Bring live byte counters up to date. */
  sync(): void;
}

export class StreamRegistry {
  /** Connections past the peek stage. */
  readonly open = new Set<Tracked>();
  /** Client connections held now, the peek stage included (--max-conns counts these). */
  active = 0;
  /** Client connections handled since start (not those refused by --max-conns). */
  total = 0;
  /** The most `active` ever seen. */
  maxActive = 0;
  /** Connections accepted in the last second, and the most seen (tick() once a second). */
  rate = 0;
  maxRate = 0;
  private lastTotal = 0;
  /** Ended connections by end reason (index: END_INDEX). */
  readonly ends = endCounters();
  private readonly getConfig: () => Config;
  private readonly loggers: Loggers;
  private emptyWaiter: (() => void) | null = null;
  private readonly noBackend = new RateLimitedWarning('no backend available');

  constructor(getConfig: () => Config, loggers: Loggers) {
    this.getConfig = getConfig;
    this.loggers = loggers;
  }

  /** A client was accepted on `listener` (before any peek). */
  accepted(listener: ListenerStats): void {
    this.total++;
    this.active++;
    if (this.active > this.maxActive) this.maxActive = this.active;
    listener.opened();
  }

  /** Once a second: the connection rate over the last second, and its peak. */
  tick(): void {
    this.rate = this.total - this.lastTotal;
    this.lastTotal = this.total;
    if (this.rate > this.maxRate) this.maxRate = this.rate;
  }

  /** A connection went past the peek stage. */
  add(t: Tracked): void {
    this.open.add(t);
  }

  /** A connection ended: count, log, forget. */
  ended(t: Tracked, reason: EndReason): void {
    this.open.delete(t);
    this.active--;
    t.listener.active--;
    this.ends[END_INDEX[reason]]!++;
    if (this.getConfig().accessLog) {
      this.loggers.always.info(
        {
          client: t.clientAddress,
          client_ip: t.clientIp,
          backend: t.backend !== null ? t.backend.name : null,
          bytes_in: t.bytesIn,
          bytes_out: t.bytesOut,
          duration_ms: Date.now() - t.startedAt,
          retries: t.retries,
          end: reason,
        },
        'connection',
      );
    }
    if (reason === 'no-backend') this.noteNoBackend(t.clientAddress, t.retries);
    this.checkEmpty();
  }

  /**
   * A client that never became a stream: refused by --max-conns (`counted`
   * false: it was never counted as accepted), or given up on by the peek
   * stage (`proxy-error`, `tls-error`, or it left first). Logs its line.
   */
  refused(socket: Socket, listener: ListenerStats, end: EndReason, clientIp: string | null, startedAt: number, counted: boolean): void {
    if (counted) {
      this.active--;
      listener.active--;
    }
    this.ends[END_INDEX[end]]!++;
    if (this.getConfig().accessLog) {
      // before destroy(): a destroyed socket no longer knows its peer
      const peer = normalizeIp(socket.remoteAddress);
      this.loggers.always.info(
        { client: formatHostPort(peer, socket.remotePort ?? 0), client_ip: clientIp ?? peer, backend: null, bytes_in: 0, bytes_out: 0, duration_ms: Date.now() - startedAt, retries: 0, end },
        'connection',
      );
    }
    if (counted) this.checkEmpty();
  }

  /**
   * A client was given up on (nothing to try, or every connect failed).
   * Logged (warn) even without --access-log, at most once a second, with
   * the count of the ones not logged in between, so an outage cannot flood
   * the log.
   */
  noteNoBackend(client: string, retries: number): void {
    this.noBackend.note(this.loggers.log, { client, retries });
  }

  /** Resolves when no connection is open, or after `timeoutMs`. */
  whenEmpty(timeoutMs: number): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, timeoutMs);
      t.unref();
      const self = this;
      function done(): void {
        clearTimeout(t);
        if (self.emptyWaiter === done) self.emptyWaiter = null;
        resolve();
      }
      this.emptyWaiter = done;
    });
  }

  private checkEmpty(): void {
    if (this.emptyWaiter !== null && this.open.size === 0) this.emptyWaiter();
  }
}
