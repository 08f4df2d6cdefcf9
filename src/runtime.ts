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
import type { L4Session, SessionEnd } from './l4/session.js';

/** Counters of one listener (SPEC /stats `connections`, /metrics per listener). */
export class ListenerStats {
  readonly address: string;
  readonly tls: boolean;
  port = 0;
  accepted = 0;
  active = 0;
  rejected = 0;
  tlsFailures = 0;
  constructor(address: string, tls: boolean) {
    this.address = address;
    this.tls = tls;
  }
}

export interface Runtime {
  readonly config: Config;
  readonly loggers: Loggers;
  /** Put a client in its pool's wait queue; false when the queue is full. */
  enqueue(s: L4Session): boolean;
  dequeue(s: L4Session): void;
  /** Give back a slot on a backend (and wake a queued client). */
  release(pool: Pool, b: Backend): void;
  onConnectSuccess(b: Backend): void;
  onConnectFailure(pool: Pool, b: Backend, err: LbError): void;
  sessionEnded(s: L4Session, reason: SessionEnd): void;
}
