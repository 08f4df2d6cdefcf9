/**
 * The per-client limits service (`--client-max-conns`, `--client-rate`,
 * `--limit-store`; README "Per-client limits"): the contract both modes
 * call. src/limits/client-limiter.ts implements it; the balancer builds one
 * and hands it to every stream (StreamServices.clients).
 *
 * Who calls what, and when (the client IP is the one after PROXY protocol;
 * in L7 after trusted X-Forwarded-For):
 *
 * - L4, once per connection, before choosing a backend
 *   (src/l4/exchange.ts): admitConnection(ip), then admitRequest(ip) (in L4
 *   the rate counts new connections). Refused → the connection is closed
 *   with end `client-limit`.
 * - L7, admitConnection(ip) once per client connection (when it is
 *   dispatched; refused → closed with end `client-limit`), and
 *   admitRequest(ip) once per request, when its head is parsed and before it
 *   is routed (refused → `429 Too Many Requests` with `Retry-After: N`).
 * - Every admitted connection is given back with connectionClosed(ip), with
 *   the same ip, exactly once, when it ends (the stream does it in end()).
 *
 * admitRequest() answers at once when the rate is counted locally. With a
 * shared store (Redis) it answers RATE_PENDING and later calls
 * waiter.rateDecided(), exactly once, within the store's bounded wait (about
 * 50 ms; on timeout or error the local count decides). The caller keeps the
 * client paused meanwhile (L4: the socket is paused until a backend is
 * connected; L7: the request is not forwarded yet) and ignores the answer if
 * the client left in between. The waiter is an object, not a closure, so a
 * request allocates nothing for it.
 */

/** admitRequest(): the answer comes later through RateWaiter.rateDecided(). */
export const RATE_PENDING = -1;

/** Who waits for an asynchronous rate decision (the L4 exchange, the L7 exchange). */
export interface RateWaiter {
  /** 0: admitted; > 0: refused, retry after this many seconds (a whole number >= 1). */
  rateDecided(retryAfter: number): void;
}

export interface ClientLimits {
  /**
   * A new client connection from `ip`. True: admitted, and counted until
   * connectionClosed(ip). False: `ip` already holds --client-max-conns
   * connections; counted as a refusal (`limited`).
   */
  admitConnection(ip: string): boolean;
  /** A connection admitted by admitConnection(ip) ended. */
  connectionClosed(ip: string): void;
  /**
   * One new connection (L4) or request (L7) from `ip` at `now` (ms since
   * the epoch) under --client-rate: 0 admitted; > 0 refused, the seconds
   * for Retry-After (whole, >= 1; counted in `limited`); RATE_PENDING: the
   * answer goes to `waiter.rateDecided()` later.
   */
  admitRequest(ip: string, now: number, waiter: RateWaiter): number;
  /** Client IPs in the table now (/stats `clients.tracked`). */
  readonly tracked: number;
  /** Refusals since start, connections and rate together (/stats `clients.limited`). */
  readonly limited: number;
}
