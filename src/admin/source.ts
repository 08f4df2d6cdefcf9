/**
 * What the admin server, /stats and /metrics read and do: a narrow view of
 * one running balancer (src/balancer.ts implements it; so does the
 * --workers primary, with counters summed over its workers). The admin
 * side never reaches into listeners, streams or exchanges.
 */
import type { Backend } from '../core/backend.js';
import type { ListenerStats } from '../core/listener-stats.js';
import type { Pool } from '../core/pool.js';
import type { Config } from '../config/types.js';
import type { BackendSpec } from '../config/parse.js';
import type { Loggers } from '../logger.js';
import type { CheckObserver } from '../health/events.js';

export type AdminAction = 'drain' | 'disable' | 'enable';

/** Connection counters of the whole balancer. */
export interface ConnectionCounters {
  /** Client connections held now. */
  readonly active: number;
  /** Client connections handled since start. */
  readonly total: number;
  /** Ended connections by end reason, indexed like END_REASONS (src/core/ends.ts). */
  readonly ends: Float64Array;
  /** The most client connections held at once. */
  readonly maxActive: number;
  /** Connections accepted in the last second, and the peak of that rate. */
  readonly rate: number;
  readonly maxRate: number;
}

/** The per-client limits (the /stats `clients` object). */
export interface ClientCounters {
  /** Client IPs in the table now. */
  readonly tracked: number;
  /** Refusals (--client-max-conns, --client-rate) since start. */
  readonly limited: number;
  /** --limit-store: 'up' or 'down'; null without one (or before its first connect). */
  readonly storeStatus: 'up' | 'down' | null;
}

/** How L4 tunnels move bytes (the /stats `relay` object; src/l4/relay.ts RelayStats has the same shape). */
export interface RelayReport {
  readonly mode: 'native' | 'js';
  /** Tunnels on the native relay now, and handed over since start. */
  readonly tunnels: number;
  readonly total: number;
  /** Native: directions on splice(2) now, and pipes given up because the kernel gave less than 64 KiB. */
  readonly pipes?: number;
  readonly pipes_refused?: number;
  /** js: why. */
  readonly reason?: string;
}

export interface AdminSource {
  readonly config: Config;
  readonly loggers: Loggers;
  /** ms since epoch. */
  readonly startedAt: number;
  /** Shutting down: /health answers `draining`. */
  readonly draining: boolean;
  /** Every pool by name. */
  readonly pools: ReadonlyMap<string, Pool>;
  /** The pool used when no route says otherwise. */
  readonly defaultPool: Pool;
  readonly connections: ConnectionCounters;
  /** Per-client limits. */
  readonly clients: ClientCounters;
  /** Every listener's counters, in configured order (`port` is the bound one). */
  readonly listenerStats: readonly ListenerStats[];
  /** Observers of active check results (metrics adds its histogram here). */
  readonly checkObservers: CheckObserver[];
  /** Streams waiting in `pool`'s queue now. */
  queueLength(pool: Pool): number;
  relayReport(): RelayReport;
  /** The descriptor limit, the client ceiling derived from it (0: none), descriptors open now (-1: unknown). */
  descriptorReport(): { limit: number; max_clients: number; open: number };
  /** Bring live counters up to date before reading them (the native relay counts in its own memory). */
  sync(): void;
  /**
   * Fetch counters kept in other processes before reading them: the
   * --workers primary asks its workers (src/workers/primary.ts). A single
   * balancer has none, its counters are live.
   */
  refresh?(): Promise<void>;
  findBackend(name: string): Backend | undefined;
  poolOf(b: Backend): Pool | undefined;
  /** Admin: drain, disable or enable a backend. */
  setAdminState(b: Backend, action: AdminAction): void;
  /** Run-time API, until the next reload: add a backend (source `api`) to `pool` (the default pool when null). */
  addBackend(pool: string | null, spec: BackendSpec): 'ok' | 'exists' | 'no-pool';
  /** Run-time API: set a backend's weight; null when no backend of that name is in service. */
  setBackendWeight(name: string, weight: number): Backend | null;
  /** Run-time API: take a backend out (it drains, then leaves); false when none of that name is in service. */
  removeBackend(name: string): boolean;
}
