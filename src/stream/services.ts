/**
 * What a stream may ask of the rest of lb4: narrow services the balancer
 * builds once and hands to every stream (docs/architecture.md, "Services").
 * Nothing here calls back into the balancer.
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Backend } from '../core/backend.js';
import type { LbError } from '../core/errors.js';
import type { EndReason } from '../core/ends.js';
import type { Pool } from '../core/pool.js';
import type { Queued } from '../core/wait-queue.js';
import type { ClientLimits } from '../core/client-limits.js';
import type { ClientRouting } from '../core/client-router.js';
import type { Config } from '../config/types.js';
import type { ClientFacts } from '../l4/upstream.js';
import type { Tracked } from './registry.js';

export type { ClientFacts } from '../l4/upstream.js';

/** A stream that may wait in its pool's queue until a slot frees. */
export interface QueuedStream extends Queued {
  /** The pool it waits for. */
  readonly pool: Pool;
  /** Try again to pick a backend (called when woken); stays queued while still full. */
  choose(): void;
}

/** Pools and their wait queues (src/stream/pools.ts). */
export interface PoolService {
  /** Put a stream in its pool's queue; false when the queue is full (--max-queue). */
  enqueue(s: QueuedStream): boolean;
  dequeue(s: QueuedStream): void;
  /** Give back a slot on `b` and wake the oldest stream waiting for `pool`. */
  release(pool: Pool, b: Backend): void;
}

/** Passive health: what real traffic says about a backend (src/health/events.ts). */
export interface ConnectEvents {
  connectSucceeded(b: Backend): void;
  /** Counts against `b` unless the error is lb4's own (a local resource error). */
  connectFailed(pool: Pool, b: Backend, err: LbError): void;
}

/** What lb4 sends a backend besides the client's bytes (src/l4/upstream.ts). */
export interface UpstreamService {
  /** The PROXY header to write first on a connection to `b` for this client, or null. */
  proxyHeader(b: Backend, client: Socket, facts: ClientFacts): Buffer | null;
  /** TLS options for connecting to `b`, or null for plain TCP. */
  tls(b: Backend): ConnectionOptions | null;
}

export interface StreamServices {
  /** The running settings (a reload swaps the object). */
  readonly config: Config;
  readonly pools: PoolService;
  readonly health: ConnectEvents;
  readonly upstream: UpstreamService;
  /** Per-client limits (--client-max-conns, --client-rate; src/core/client-limits.ts is the contract). */
  readonly clients: ClientLimits;
  /** Routing by client (`clientRoutes:`): the pool name for a client IP, or null (src/core/client-router.ts). */
  readonly clientRoutes: ClientRouting;
  /** The stream ended: account, log, forget it (src/stream/registry.ts). */
  streamEnded(s: Tracked, reason: EndReason): void;
}
