/**
 * The messages between the `--workers` primary and its workers, over the
 * node:cluster IPC channel (`serialization: 'advanced'`, so a Config with
 * Buffers or Maps crosses intact). Every message is a plain object with a
 * `t` tag; nothing else travels between the processes.
 *
 *   primary → worker                         worker → primary
 *                                            hello                     (ready to receive)
 *   start   {id, config, health, tickets,    listening {listeners}     (once bound)
 *            sources}
 *   tickets {keys}                           (TLS ticket key, rotated by the primary)
 *   reload  {config}                         listen-error {message}    (then exits 1)
 *   health  {states}                         stats {req, snapshot}     (answer to stats)
 *   admin   {backend, action}
 *   source  {pool, source, specs}
 *   stats   {req}
 *   shutdown
 *
 * - `config` is the primary's *effective* config (restart-only settings
 *   already kept at their running values, so workers never warn again);
 *   the worker drops `admin` (the admin server is the primary's).
 * - `health` carries what the primary's active checks say per backend name
 *   (rise/fall already applied there); workers never probe. Sent in full
 *   with `start` and after each reload, then one entry per check result.
 * - `source` carries what a discovery source (dns:, srv:) found for a pool:
 *   the primary resolves, workers never do. `start` carries every source's
 *   current set; each change is one `source` message, applied through the
 *   same PoolSet.setSource as in the primary, so both hold the same
 *   backends (a worker's reload keeps the sets of sources still listed).
 * - `stats` answers carry raw counters; the primary sums them (see
 *   primary.ts) and keeps the totals of exited workers so counters never go
 *   backwards.
 */
import type { Config } from '../config/types.js';
import type { BackendSpec } from '../config/parse.js';
import type { CircuitState } from '../core/health.js';
import type { RelayStats } from '../l4/relay.js';
import type { SourceSet } from '../stream/pools.js';

/** Run-time API overrides (weights set, names taken out) until the next reload. */
export interface ApiOverrides {
  readonly weights: ReadonlyArray<readonly [string, number]>;
  readonly deleted: readonly string[];
}

/** A run-time API call the primary applied, for every worker to apply too. */
export type ApiChange =
  | { readonly t: 'api'; readonly op: 'add'; readonly pool: string; readonly spec: BackendSpec }
  | { readonly t: 'api'; readonly op: 'weight'; readonly name: string; readonly weight: number }
  | { readonly t: 'api'; readonly op: 'delete'; readonly name: string };

/** What the primary's active checks say about one backend. */
export interface HealthState {
  readonly name: string;
  readonly up: boolean;
  readonly last: string | null;
  /** ms since epoch of the check, 0 = never. */
  readonly at: number;
  readonly durationMs: number;
}

export type AdminAction = 'drain' | 'disable' | 'enable';

export type ToWorker =
  | { readonly t: 'start'; readonly id: number; readonly config: Config; readonly health: readonly HealthState[]; readonly tickets: Buffer | null; readonly sources: readonly SourceSet[]; readonly overrides: ApiOverrides }
  | { readonly t: 'tickets'; readonly keys: Buffer }
  | { readonly t: 'reload'; readonly config: Config }
  | { readonly t: 'health'; readonly states: readonly HealthState[] }
  | { readonly t: 'admin'; readonly backend: string; readonly action: AdminAction }
  | ({ readonly t: 'source' } & SourceSet)
  | ApiChange
  | { readonly t: 'stats'; readonly req: number }
  | { readonly t: 'shutdown' };

/** A listener as bound in a worker (cluster shares one handle, so every worker reports the same port). */
export interface ListenerReport {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

/**
 * Backend counters a worker reports that the primary sums over its workers
 * and keeps from workers that exited (they only grow).
 */
export const BACKEND_TOTALS = ['total', 'failures', 'bytesIn', 'bytesOut', 'redispatches', 'replays', 'responseErrors'] as const;
/** Backend counters that describe the moment (summed over live workers, not kept). */
export const BACKEND_NOW = ['active', 'rate'] as const;
export const LISTENER_TOTALS = ['accepted', 'rejected', 'tlsFailures', 'proxyErrors', 'pauses'] as const;
export const LISTENER_NOW = ['active', 'rate', 'handshakes'] as const;

/** One backend's counters in one worker. */
export interface BackendCounters {
  readonly name: string;
  readonly pool: string;
  /** Values of BACKEND_TOTALS, in that order. */
  readonly totals: readonly number[];
  /** Values of BACKEND_NOW, in that order. */
  readonly now: readonly number[];
  readonly lastUsed: number;
  readonly responses: readonly number[];
  readonly circuit: CircuitState;
}

export interface ListenerCounters {
  /** Values of LISTENER_TOTALS and LISTENER_NOW, in that order. */
  readonly totals: readonly number[];
  readonly now: readonly number[];
}

/** One worker's counters, and its own /stats document (for `/stats?worker=ID`). */
export interface WorkerSnapshot {
  readonly pid: number;
  readonly connections: { readonly active: number; readonly total: number; readonly rate: number };
  /** Ended connections by end reason (indexed like END_REASONS). */
  readonly ends: readonly number[];
  readonly backends: readonly BackendCounters[];
  readonly listeners: readonly ListenerCounters[];
  /** This worker's native relay (each worker runs its own; the primary none). */
  readonly relay: RelayStats;
  /** Per-client limits: IPs in this worker's table, its refusals since start, its --limit-store state. */
  readonly clients: { readonly tracked: number; readonly limited: number; readonly storeStatus: 'up' | 'down' | null };
  readonly stats: Record<string, unknown>;
}

export type FromWorker =
  | { readonly t: 'hello' }
  | { readonly t: 'listening'; readonly listeners: readonly ListenerReport[] }
  | { readonly t: 'listen-error'; readonly message: string }
  | { readonly t: 'stats'; readonly req: number; readonly snapshot: WorkerSnapshot };

/** Type guard for a message from a worker (anything else on the channel is ignored). */
export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

/** Type guard for a message from the primary. */
export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
