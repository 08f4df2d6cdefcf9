/**
 * One backend: identity, the state inputs (admin, active checks, passive
 * circuit), and the counters /stats and /metrics read. Pure data with small
 * state methods; the pool decides eligibility, the runtime does the I/O.
 */
import type { BackendView } from './pickers/picker.js';
import { CheckState, Circuit } from './health.js';
import { formatHostPort } from './address.js';
import { LatencyHistogram } from './latency.js';
import { PeakEwma } from './ewma.js';

export type BackendState = 'up' | 'down' | 'draining' | 'disabled';

/** Upstream TLS of one backend (config file `tls: true`, `servername`, `ca`, `insecure`). */
export interface BackendTlsSpec {
  /** SNI and the name the certificate is checked against; default the backend host when it is a name. */
  readonly servername: string | null;
  /** CA file; null = the global --backend-tls-ca, else the system CAs. */
  readonly ca: string | null;
  /** Skip verification; null = the global --backend-tls-insecure. */
  readonly insecure: boolean | null;
}
export type AdminState = 'enabled' | 'draining' | 'disabled';

export interface BackendInit {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** PROXY version to send (0 = none); absent = the global setting. */
  readonly sendProxy?: 0 | 1 | 2;
  /** Upstream TLS (false = plain); absent = the global setting. */
  readonly tls?: BackendTlsSpec | false;
  /** Who put it in its pool: `config` (the default), `api`, or a discovery source (`dns:HOST:PORT`, `srv:NAME`). */
  readonly source?: string;
  /** SRV priority (lower is preferred; see Pool.rebuild); absent = none. */
  readonly priority?: number;
}

export class Backend implements BackendView {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `HOST:PORT` (IPv6 bracketed), as shown in /stats. */
  readonly address: string;
  /** Configured weight (0..1000); changed by a config reload. */
  configWeight: number;
  /** Effective weight the picker sees (slow start applied); set by the pool on rebuild. */
  weight: number;
  admin: AdminState = 'enabled';
  readonly check = new CheckState();
  readonly circuit = new Circuit();
  /** When the backend last came back up (ms), for slow start; 0 = up since start. */
  upSince = 0;
  /** Removed by a config reload: takes no new traffic, finishes what it has, then is forgotten. */
  removed = false;
  /**
   * Who put it in its pool (/stats `source`): `config`, `api`, or the
   * discovery source that found it. Changed in place when another source
   * takes the name over.
   */
  source: string;
  /**
   * SRV priority, or -1 for none. Among the backends of one source, only
   * those of the lowest priority that has a backend up get traffic
   * (Pool.rebuild); changed in place by a new answer.
   */
  priority: number;

  /** Open connections (L4) or in-flight requests (L7). */
  active = 0;
  /** Connections (L4) or requests (L7) that reached it. */
  total = 0;
  /** Failed connects (each one, retried or not). */
  failures = 0;
  /** Bytes client → backend. */
  bytesIn = 0;
  /** Bytes backend → client. */
  bytesOut = 0;
  /** ms since epoch of the last connection/request it got, 0 = never. */
  lastUsed = 0;
  /** The most `active` ever seen. */
  maxActive = 0;
  /** Connections (L4) or requests (L7) that reached it in the last second, and the most seen (updated once a second by tick()). */
  rate = 0;
  maxRate = 0;
  private lastTotal = 0;
  /** Failed connects after which the client was sent to another backend (HAProxy's redispatches). */
  redispatches = 0;
  /** L7: requests sent again on a fresh connection to it after a reused one closed (HAProxy's retries). */
  replays = 0;
  /** L7: responses that failed after the backend was reached (invalid, cut short, timed out). */
  responseErrors = 0;
  /** ms since epoch of the last change of `state`, or 0 (never changed since start). */
  lastChange = 0;
  /** ms since epoch since when it is down (health), or 0 while up. */
  downSince = 0;
  /** ms spent down before `downSince`. */
  private downtimeBefore = 0;
  /** L7: responses by class, index 1..5 = 1xx..5xx (0 unused). */
  readonly responses = [0, 0, 0, 0, 0, 0];
  /** L7: request durations (head received → response complete), for /stats `latency_ms`. */
  readonly latency = new LatencyHistogram();
  /** Peak-EWMA of its latency (ms) for `p2c-ewma`: L4 connect time, L7 time to the first response byte. */
  readonly ewma = new PeakEwma();
  /** Position in the pool's current snapshot, or -1 when not in it. */
  slot = -1;
  /** PROXY version this backend asked for in the config (0 = none); undefined = the global setting. */
  readonly sendProxy: 0 | 1 | 2 | undefined;
  /** Upstream TLS this backend asked for; undefined = the global setting. */
  readonly tls: BackendTlsSpec | false | undefined;

  constructor(init: BackendInit) {
    this.name = init.name;
    this.host = init.host;
    this.port = init.port;
    this.address = formatHostPort(init.host, init.port);
    this.configWeight = init.weight;
    this.weight = init.weight;
    this.sendProxy = init.sendProxy;
    this.tls = init.tls;
    this.source = init.source ?? 'config';
    this.priority = init.priority ?? -1;
  }

  /** Does `init` name the same target (address, PROXY and TLS settings)? A reload replaces a backend whose target changed. */
  sameTarget(init: BackendInit): boolean {
    if (init.host !== this.host || init.port !== this.port || init.sendProxy !== this.sendProxy) return false;
    const a = this.tls;
    const b = init.tls;
    if (a === undefined || a === false || b === undefined || b === false) return a === b;
    return a.servername === b.servername && a.ca === b.ca && a.insecure === b.insecure;
  }

  /** A connection or request reserved a slot: keep the peak. */
  noteActive(): void {
    if (this.active > this.maxActive) this.maxActive = this.active;
  }

  /** Once a second: the rate over the last second, and its peak. */
  tick(): void {
    this.rate = this.total - this.lastTotal;
    this.lastTotal = this.total;
    if (this.rate > this.maxRate) this.maxRate = this.rate;
  }

  /** Health turned it down (true) or up (false) at `now`: downtime and last change. */
  noteHealth(down: boolean, now: number): void {
    this.lastChange = now;
    if (down) {
      if (this.downSince === 0) this.downSince = now;
    } else if (this.downSince !== 0) {
      this.downtimeBefore += now - this.downSince;
      this.downSince = 0;
    }
  }

  /** Total time spent down (health) since start, in ms. */
  downtime(now: number): number {
    return this.downtimeBefore + (this.downSince !== 0 ? now - this.downSince : 0);
  }

  /**
   * A latency sample for `p2c-ewma`: `ms` taken at `now` (a monotonic ms
   * clock, performance.now()). The stream records L4 connect times; the L7
   * exchange calls this with the time from sending a request to the first
   * byte of its response. O(1), no allocation.
   */
  observeLatency(ms: number, now: number): void {
    this.ewma.observe(ms, now);
  }

  /** Health says usable: the active checks say up and the passive circuit is closed. */
  get healthy(): boolean {
    return this.check.up && this.circuit.state === 'closed';
  }

  /** The state (README "Health and failover"): admin states win over health. */
  get state(): BackendState {
    if (this.admin === 'disabled') return 'disabled';
    if (this.admin === 'draining' || this.removed) return 'draining';
    return this.healthy ? 'up' : 'down';
  }
}
