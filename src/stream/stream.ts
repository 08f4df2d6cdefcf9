/**
 * The stream: one client connection's life, the same in L4 and L7 mode (as
 * HAProxy runs one stream layer over a pass-through or an HTTP/1 mux).
 *
 *   accept → (peek) → [assign: choose → connect → retry/avoid → queue] →
 *   exchange → release → account and log
 *
 * The stream owns the steps shared by both modes: who the client is, the
 * backend assignment (pick from a pool, reserve a slot, connect with the
 * connect timeout, retry on another backend that is never the one that just
 * failed, wait in the pool's queue while every candidate is full), passive
 * health reports, giving the slot back, and the connection's account and
 * log line at the end. How bytes move is the exchange's business, plugged in
 * as a StreamExchange: src/l4/exchange.ts (the tunnel, JavaScript or native
 * relay) or src/l7/exchange.ts (HTTP/1, one request at a time).
 *
 * An L4 exchange runs one assignment for the connection; an L7 exchange runs
 * one per request (the pool comes from routing each request). Either way an
 * assignment ends in exactly one of: `onBackendSocket` (a fresh connection),
 * the exchange's own `reuse` (an idle keep-alive connection it had), or
 * `onNoBackend` (nothing to try, the queue full, or the queue wait over).
 *
 * Nothing here allocates per chunk; an assignment allocates its connect
 * attempt, and a queue timer only when it has to wait.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { LbError } from '../core/errors.js';
import type { EndReason } from '../core/ends.js';
import type { ListenerStats } from '../core/listener-stats.js';
import type { Pool } from '../core/pool.js';
import type { Queued } from '../core/wait-queue.js';
import { formatHostPort, normalizeIp } from '../core/address.js';
import { ConnectAttempt, type ConnectOwner } from '../l4/connector.js';
import type { ClientFacts, StreamServices } from './services.js';
import type { Tracked } from './registry.js';

/** How an assignment can fail: nothing to try, the queue full, or the wait in it over. */
export type NoBackendEnd = 'no-backend' | 'queue-full' | 'queue-timeout';

/** The mode-specific part of a stream (step 5 of the data path): how bytes are exchanged. */
export interface StreamExchange {
  /** Begin: read the client (L7) or assign a backend at once (L4). */
  start(): void;
  /** The current assignment connected `socket` to `backend` (the stream holds its slot). */
  onBackendSocket(socket: Socket, backend: Backend): void;
  /**
   * Optional: use an idle connection to `backend` instead of connecting
   * (L7 keep-alive). True when the exchange took one and goes on by itself.
   */
  reuse?(backend: Backend): boolean;
  /** The current assignment found no backend; `connectFailed`: a connect failed on the way. */
  onNoBackend(end: NoBackendEnd, connectFailed: boolean): void;
  /** Bytes client → backends and backends → client so far (for the connection's log line). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Close everything now (the drain deadline); ends the stream. */
  abort(reason: EndReason): void;
  /** Optional: shutdown began (L7 closes a connection idle between requests at once). */
  drain?(): void;
  /** Optional: once a second (L4 hands tunnels open since before `openedBefore` to the native relay); true when it did. */
  housekeep?(openedBefore: number): boolean;
  /** Optional: bring live byte counters up to date (the native relay counts in its own memory). */
  sync?(): void;
  /**
   * Optional: true when the exchange records its own latency samples for
   * p2c-ewma (L7: time to the response's first byte, through
   * Backend.observeLatency); otherwise the stream records each connect time.
   */
  readonly ownLatencySamples?: boolean;
}

export class Stream implements Queued, ConnectOwner, Tracked {
  readonly svc: StreamServices;
  /** The client socket; null once the native relay carries the connection (the destroyed Socket is not kept). */
  client: Socket | null;
  readonly listener: ListenerStats;
  readonly startedAt: number;
  /** The socket peer, `ip:port`. */
  readonly clientAddress: string;
  /** What the peek stage learnt: PROXY header, server name; `ip` is the client IP before X-Forwarded-For. */
  readonly facts: ClientFacts;
  /** The client IP used for hashing, limits and logs (after PROXY protocol; in L7 after trusted X-Forwarded-For). */
  clientIp: string;
  /** Set by the front right after construction. */
  exchange!: StreamExchange;
  /** The last backend this connection reached (L7: the last one used), or null. */
  backend: Backend | null = null;
  /** Connects tried on another backend after a failed one, over the whole connection. */
  retries = 0;
  /** The connection's end reason once it ended, else null. */
  endReason: EndReason | null = null;
  /** The IP this connection is counted under by the per-client limits, or null when not counted. */
  private countedIp: string | null = null;

  // ---- the current assignment ----
  /** The pool it picks from (L7: the current request's). */
  pool: Pool;
  /** The backend whose slot this stream holds (picked, connecting or in use), or null. */
  assigned: Backend | null = null;
  /** Retries of the current assignment (L7: of the current request). */
  assignRetries = 0;
  private key = 0;
  private attempt = 0;
  private avoid: Backend | null = null;
  /** The last connect failed: the next successful pick counts as a retry. */
  private retryPending = false;
  /** The assignment is choosing, queued or connecting. */
  private busy = false;
  /** The assignment's backend was counted (total, last_used). */
  private counted = false;
  private connecting: ConnectAttempt | null = null;
  /** performance.now() when the connect in flight started (its time is a p2c-ewma latency sample). */
  private connectStartedAt = 0;
  private queueTimer: NodeJS.Timeout | null = null;
  qPrev: Queued | null = null;
  qNext: Queued | null = null;
  queued = false;

  constructor(svc: StreamServices, client: Socket, listener: ListenerStats, pool: Pool, facts: ClientFacts | null, startedAt: number) {
    this.svc = svc;
    this.client = client;
    this.listener = listener;
    this.pool = pool;
    this.startedAt = startedAt;
    const peerIp = normalizeIp(client.remoteAddress);
    const peerPort = client.remotePort ?? 0;
    this.clientAddress = formatHostPort(peerIp, peerPort);
    this.facts = facts ?? { ip: peerIp, port: peerPort, proxy: null, serverName: null };
    this.clientIp = this.facts.ip;
    this.onQueueTimeout = this.onQueueTimeout.bind(this);
  }

  get bytesIn(): number {
    return this.exchange.bytesIn;
  }

  get bytesOut(): number {
    return this.exchange.bytesOut;
  }

  get ended(): boolean {
    return this.endReason !== null;
  }

  // ---- per-client limits ----

  /**
   * Count this connection under client IP `ip` (--client-max-conns; default
   * the stream's client IP), given back when the stream ends. False when
   * that client already holds its limit: the caller refuses it (L4 closes
   * with `client-limit`, L7 answers 429). At most once per stream.
   */
  admitConnection(ip: string = this.clientIp): boolean {
    if (this.countedIp !== null) return true;
    if (!this.svc.clients.admitConnection(ip)) return false;
    this.countedIp = ip;
    return true;
  }

  // ---- assignment: choose → connect → retry/avoid → queue ----

  /** Start an assignment: pick a backend of `pool` for hash `key`, then connect, queue or fail. */
  assign(pool: Pool, key: number): void {
    this.pool = pool;
    this.key = key;
    this.attempt = 0;
    this.avoid = null;
    this.assignRetries = 0;
    this.retryPending = false;
    this.counted = false;
    this.busy = true;
    this.choose();
  }

  /** Pick, and connect or queue or fail. Also called when a queued stream is woken (src/stream/pools.ts). */
  choose(): void {
    if (!this.busy || this.endReason !== null) return;
    const pool = this.pool;
    const b = pool.pick(this.key, this.attempt, this.avoid);
    if (b === null) {
      if (pool.lastPickFull) {
        if (this.queued) return; // still full: keep waiting
        if (this.svc.pools.enqueue(this)) {
          this.queueTimer = setTimeout(this.onQueueTimeout, this.svc.config.queueTimeout);
          return;
        }
        this.fail('queue-full');
        return;
      }
      // Nothing to try, also for a stream that was waiting when the last
      // eligible backend was drained, disabled or removed.
      this.leaveQueue();
      this.fail('no-backend');
      return;
    }
    this.leaveQueue();
    if (this.retryPending) {
      // counted only once another backend is actually tried
      this.retryPending = false;
      this.retries++;
      this.assignRetries++;
      if (this.avoid !== null) this.avoid.redispatches++;
    }
    this.assigned = b;
    const x = this.exchange;
    if (x.reuse !== undefined && x.reuse(b)) {
      this.busy = false;
      return;
    }
    this.connect(b);
  }

  /** Connect (again) to the assigned backend; L7 calls it to replay a request on a fresh connection. */
  connect(b: Backend): void {
    this.busy = true;
    const svc = this.svc;
    this.connectStartedAt = performance.now();
    this.connecting = new ConnectAttempt(b, svc.config.connectTimeout, this, {
      proxyHeader: svc.upstream.proxyHeader(b, this.client!, this.facts),
      tls: svc.upstream.tls(b),
    });
  }

  onBackendConnect(socket: Socket, attempt: ConnectAttempt): void {
    this.connecting = null;
    const b = attempt.backend;
    this.svc.health.connectSucceeded(b);
    if (this.exchange.ownLatencySamples !== true) {
      // L4: the connect time (TLS handshake included) is the latency sample
      const now = performance.now();
      b.observeLatency(now - this.connectStartedAt, now);
    }
    if (this.endReason !== null || this.assigned !== b) {
      socket.destroy();
      return;
    }
    this.busy = false;
    this.exchange.onBackendSocket(socket, b);
  }

  onBackendConnectError(err: LbError, attempt: ConnectAttempt): void {
    this.connecting = null;
    const b = attempt.backend;
    if (this.assigned === b) {
      this.assigned = null;
      this.svc.pools.release(this.pool, b);
    }
    this.svc.health.connectFailed(this.pool, b, err);
    if (!this.busy || this.endReason !== null) return;
    // Not retryable: lb4's own resource errors (EMFILE...) would fail on any
    // backend. `avoid` stays unset, so L7 answers 503 (lb4's fault), not 502.
    if (!err.retryable) {
      this.fail('no-backend');
      return;
    }
    this.avoid = b;
    if (this.assignRetries < this.svc.config.retries) {
      this.retryPending = true;
      this.attempt++;
      this.choose();
      return;
    }
    this.fail('no-backend');
  }

  /** The assigned backend was reached (a tunnel opened, a request sent): count it on the backend, once per assignment. */
  reached(b: Backend): void {
    this.backend = b;
    if (this.counted) return;
    this.counted = true;
    this.pool.connected(b, Date.now());
  }

  private fail(end: NoBackendEnd): void {
    this.busy = false;
    this.exchange.onNoBackend(end, this.avoid !== null);
  }

  private onQueueTimeout(): void {
    this.queueTimer = null;
    if (this.queued) this.svc.pools.dequeue(this);
    if (this.busy) this.fail('queue-timeout');
  }

  private leaveQueue(): void {
    if (this.queued) this.svc.pools.dequeue(this);
    if (this.queueTimer !== null) {
      clearTimeout(this.queueTimer);
      this.queueTimer = null;
    }
  }

  /**
   * Stop the assignment in progress: leave the queue, abort the connect in
   * flight. When that connect was a half-open circuit's one trial, the trial
   * is undecided: free the trial slot so that the next client can make it
   * (otherwise the backend would stay out for good where no active check can
   * close the circuit, with --health-check off).
   */
  cancel(): void {
    this.busy = false;
    this.leaveQueue();
    const a = this.connecting;
    if (a !== null) {
      this.connecting = null;
      a.abort();
      const b = a.backend;
      if (b.circuit.state === 'half-open' && b.circuit.trialInFlight) {
        b.circuit.trialInFlight = false;
        this.pool.rebuild();
      }
    }
  }

  /** Give back the slot of the assigned backend (and wake a stream queued for it). */
  release(): void {
    const b = this.assigned;
    if (b === null) return;
    this.assigned = null;
    this.svc.pools.release(this.pool, b);
  }

  // ---- for the registry (src/stream/registry.ts) ----

  /** Close everything now (the drain deadline). */
  abort(reason: EndReason): void {
    if (this.endReason === null) this.exchange.abort(reason);
  }

  /** Shutdown began. */
  drain(): void {
    const x = this.exchange;
    if (x.drain !== undefined && this.endReason === null) x.drain();
  }

  /** Once a second: true when the exchange handed its tunnel to the native relay. */
  housekeep(openedBefore: number): boolean {
    const x = this.exchange;
    return x.housekeep !== undefined && this.endReason === null && x.housekeep(openedBefore);
  }

  /** Bring live byte counters up to date (before /stats, /metrics, a worker's report). */
  sync(): void {
    const x = this.exchange;
    if (x.sync !== undefined) x.sync();
  }

  // ---- the end ----

  /**
   * The connection is over: stop any assignment, give the slot back, close
   * the client socket if still open, then account and log (once).
   */
  end(reason: EndReason): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    this.cancel();
    this.release();
    if (this.countedIp !== null) {
      this.svc.clients.connectionClosed(this.countedIp);
      this.countedIp = null;
    }
    const c = this.client;
    if (c !== null && !c.destroyed) c.destroy();
    this.svc.streamEnded(this, reason);
  }
}
