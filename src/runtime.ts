/**
 * What a session needs from the running balancer: settings, logging, the
 * queue, and the accounting and passive-health hooks. The Balancer
 * (src/balancer.ts) implements it; sessions depend on this interface only.
 */
import type { Config } from './config/types.js';
import type { Loggers } from './logger.js';
import type { Backend } from './core/backend.js';
import type { LbError } from './core/errors.js';
import type { Pool } from './core/pool.js';
import type { SessionEnd } from './l4/session.js';
import type { Queued } from './core/wait-queue.js';

/** Counters of one listener (SPEC /stats `connections`, /metrics per listener). */
export class ListenerStats {
  readonly address: string;
  readonly tls: boolean;
  port = 0;
  accepted = 0;
  active = 0;
  rejected = 0;
  tlsFailures = 0;
  /** Connections closed for a bad, missing or untrusted PROXY header (--accept-proxy). */
  proxyErrors = 0;
  /** TLS handshakes under way right now (a gauge). */
  handshakes = 0;
  /** Times accepting stopped for a moment because accept() ran out of file descriptors. */
  pauses = 0;
  constructor(address: string, tls: boolean) {
    this.address = address;
    this.tls = tls;
  }
}

/** A client connection as the balancer sees it (L4Session, L7Session): what the connection log and the drain need. */
export interface ClientSession {
  readonly listener: ListenerStats;
  /** The socket peer, `ip:port`. */
  readonly clientAddress: string;
  readonly clientIp: string;
  /** The backend used (in L7 the last one), or null. */
  readonly backend: Backend | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly startedAt: number;
  readonly retries: number;
  /** Close everything now (shutdown after the drain timeout). */
  abort(reason: SessionEnd): void;
}

/** A client that may wait in its pool's queue (SPEC section 4) until a slot frees. */
export interface QueuedClient extends Queued {
  /** The pool it waits for (in L7 the pool of the current request). */
  readonly pool: Pool;
  /** Try again to pick a backend (called when woken); stays queued while still full. */
  choose(): void;
}

export interface Runtime {
  readonly config: Config;
  readonly loggers: Loggers;
  /** Put a client in its pool's wait queue; false when the queue is full. */
  enqueue(s: QueuedClient): boolean;
  dequeue(s: QueuedClient): void;
  /** Give back a slot on a backend (and wake a queued client). */
  release(pool: Pool, b: Backend): void;
  onConnectSuccess(b: Backend): void;
  onConnectFailure(pool: Pool, b: Backend, err: LbError): void;
  sessionEnded(s: ClientSession, reason: SessionEnd): void;
}
