/**
 * The per-client table behind `--client-max-conns` and `--client-rate`
 * (README "Per-client limits"): for each client IP, the connections it holds
 * now and a sliding-window estimate of its rate. Pure: the caller passes the
 * time (ms); nothing here reads a clock.
 *
 * Rate: two adjacent fixed windows of RATE_WINDOW_MS, weighted (the
 * "sliding window counter" of Cloudflare's rate limiter, and of nginx
 * limit_req's cousins): with `prev` events in the previous window, `cur` in
 * the current one, and a fraction f of the current window gone,
 *
 *     estimate = prev × (1 - f) + cur
 *
 * is the number of events in the last RATE_WINDOW_MS if the previous
 * window's events were spread evenly; for a steady rate it is exact, and
 * it stays within 20% of the exact sliding count unless the previous
 * window was very bursty. Two numbers per client instead of a log of times.
 * An event is admitted while the estimate is below the limit (estimate <
 * limit): a client that keeps trying gets exactly `limit` per second on
 * average, and a fresh client a burst of `limit`. (Admitting only while
 * estimate + 1 <= limit would let through limit - 1 per second under steady
 * load, since the previous window's weight never quite reaches 0: half the
 * limit at limit 1.)
 *
 * Memory is capped: at most `capacity` clients are held (default
 * CLIENT_TABLE_CAPACITY). A new client when the table is full evicts the
 * least recently seen client that holds no connection; only when every
 * entry holds connections is the least recently seen busy one evicted (its
 * later connectionClosed() calls then find nothing and do nothing). So a
 * flood of distinct source addresses cannot grow the table, and it evicts
 * idle history before live counts.
 *
 * Structure: a Map from IP to slot, and per slot typed arrays (counts,
 * windows) plus links of two intrusive doubly linked LRU lists, one of idle
 * and one of busy slots (head = least recently seen). Every operation is
 * O(1); only the Map allocates, when a client is added.
 */

/** Clients held at most by default: about 5 MiB with their keys. */
export const CLIENT_TABLE_CAPACITY = 65_536;
/** Length of one rate window, ms: rates are per second. */
export const RATE_WINDOW_MS = 1000;

const IDLE = 0;
const BUSY = 1;
const NONE = -1;

export class ClientTable {
  readonly capacity: number;
  private readonly index = new Map<string, number>();
  private readonly keys: (string | null)[];
  private readonly conns: Int32Array;
  /** Index of the current rate window of each slot (floor(now / RATE_WINDOW_MS)). */
  private readonly win: Float64Array;
  private readonly cur: Float64Array;
  private readonly prev: Float64Array;
  private readonly next: Int32Array;
  private readonly back: Int32Array;
  /** Head (least recent) and tail (most recent) of the idle and busy lists. */
  private readonly head = new Int32Array([NONE, NONE]);
  private readonly tail = new Int32Array([NONE, NONE]);
  /** Slots never used yet: [used, capacity). */
  private used = 0;

  constructor(capacity: number = CLIENT_TABLE_CAPACITY) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1');
    this.capacity = capacity;
    this.keys = new Array<string | null>(capacity).fill(null);
    this.conns = new Int32Array(capacity);
    this.win = new Float64Array(capacity);
    this.cur = new Float64Array(capacity);
    this.prev = new Float64Array(capacity);
    this.next = new Int32Array(capacity);
    this.back = new Int32Array(capacity);
  }

  /** Clients held now. */
  get size(): number {
    return this.index.size;
  }

  /** Is `ip` in the table? (Does not count as a visit.) */
  has(ip: string): boolean {
    return this.index.has(ip);
  }

  /** Connections `ip` holds now (0 when not in the table). */
  connections(ip: string): number {
    const s = this.index.get(ip);
    return s === undefined ? 0 : this.conns[s]!;
  }

  /** `ip` opened a connection: count it until closeConnection(). */
  openConnection(ip: string): number {
    const s = this.slot(ip);
    const n = ++this.conns[s]!;
    if (n === 1) {
      this.unlink(s, IDLE);
      this.append(s, BUSY);
    }
    return n;
  }

  /** `ip` closed a connection counted by openConnection(). Unknown IPs and zero counts are left alone. */
  closeConnection(ip: string): void {
    const s = this.index.get(ip);
    if (s === undefined || this.conns[s]! <= 0) return;
    const n = --this.conns[s]!;
    this.unlink(s, BUSY);
    this.append(s, n === 0 ? IDLE : BUSY);
  }

  /**
   * The sliding-window estimate of `ip`'s events in the last
   * RATE_WINDOW_MS at `now` (not counting one about to happen).
   */
  rate(ip: string, now: number): number {
    const s = this.index.get(ip);
    if (s === undefined) return 0;
    this.roll(s, now);
    return this.estimate(s, now);
  }

  /**
   * Admit one event (a new connection, a request) of `ip` at `now` under a
   * limit of `limit` per RATE_WINDOW_MS: 0 when admitted (and counted), else
   * the seconds to wait until one would be (a whole number, at least 1: the
   * HTTP Retry-After). Refused events are not counted, so a client that
   * keeps trying gets `limit` per second through.
   */
  admit(ip: string, now: number, limit: number): number {
    const s = this.slot(ip);
    this.roll(s, now);
    if (this.estimate(s, now) < limit) {
      this.cur[s]!++;
      return 0;
    }
    return retryAfterSeconds(this.prev[s]!, this.cur[s]!, now - this.win[s]! * RATE_WINDOW_MS, limit);
  }

  /** Count one event of `ip` at `now` without a limit (an event another counter admitted). */
  count(ip: string, now: number): void {
    const s = this.slot(ip);
    this.roll(s, now);
    this.cur[s]!++;
  }

  // ---- internals ----

  /** The slot of `ip`, added (evicting if full) when missing; marks it most recently seen. */
  private slot(ip: string): number {
    let s = this.index.get(ip);
    if (s !== undefined) {
      const list = this.conns[s]! > 0 ? BUSY : IDLE;
      this.unlink(s, list);
      this.append(s, list);
      return s;
    }
    if (this.used < this.capacity) {
      s = this.used++;
    } else {
      const list = this.head[IDLE]! !== NONE ? IDLE : BUSY;
      s = this.head[list]!;
      this.unlink(s, list);
      this.index.delete(this.keys[s]!);
    }
    this.keys[s] = ip;
    this.conns[s] = 0;
    this.win[s] = -2;
    this.cur[s] = 0;
    this.prev[s] = 0;
    this.index.set(ip, s);
    this.append(s, IDLE);
    return s;
  }

  /** Move slot s's windows forward to the one holding `now`. */
  private roll(s: number, now: number): void {
    const w = Math.floor(now / RATE_WINDOW_MS);
    const had = this.win[s]!;
    if (w === had) return;
    this.prev[s] = w === had + 1 ? this.cur[s]! : 0;
    this.cur[s] = 0;
    this.win[s] = w;
  }

  private estimate(s: number, now: number): number {
    const f = (now - this.win[s]! * RATE_WINDOW_MS) / RATE_WINDOW_MS;
    return this.prev[s]! * (1 - f) + this.cur[s]!;
  }

  private append(s: number, list: number): void {
    const t = this.tail[list]!;
    this.back[s] = t;
    this.next[s] = NONE;
    if (t === NONE) this.head[list] = s;
    else this.next[t] = s;
    this.tail[list] = s;
  }

  private unlink(s: number, list: number): void {
    const b = this.back[s]!;
    const n = this.next[s]!;
    if (b === NONE) this.head[list] = n;
    else this.next[b] = n;
    if (n === NONE) this.tail[list] = b;
    else this.back[n] = b;
  }
}

/**
 * Seconds until one more event is admitted, given `prev` and `cur` counts
 * and `elapsed` ms into the current window, under `limit` per window: the
 * estimate falls as the previous window's weight does, and at the next
 * window the current count becomes the previous one. A whole number >= 1
 * (the HTTP Retry-After).
 */
export function retryAfterSeconds(prev: number, cur: number, elapsed: number, limit: number): number {
  if (limit < 1) return 1;
  let waitMs: number;
  if (cur < limit) {
    // later in this window, once prev x (1 - f) < limit - cur
    const f = prev > 0 ? 1 - (limit - cur) / prev : 0;
    waitMs = f * RATE_WINDOW_MS - elapsed;
  } else {
    // in the next window, once cur x (1 - f) < limit
    const f = 1 - limit / cur;
    waitMs = RATE_WINDOW_MS - elapsed + f * RATE_WINDOW_MS;
  }
  // the estimate must fall strictly below the limit: 1 ms past the boundary
  const s = Math.ceil((waitMs + 1) / 1000);
  return s >= 1 ? s : 1;
}
