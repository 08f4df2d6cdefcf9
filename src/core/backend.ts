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
  }

  /** Does `init` name the same target (address, PROXY and TLS settings)? A reload replaces a backend whose target changed. */
  sameTarget(init: BackendInit): boolean {
    if (init.host !== this.host || init.port !== this.port || init.sendProxy !== this.sendProxy) return false;
    const a = this.tls;
    const b = init.tls;
    if (a === undefined || a === false || b === undefined || b === false) return a === b;
    return a.servername === b.servername && a.ca === b.ca && a.insecure === b.insecure;
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

  /** The state of SPEC section 4: admin states win over health. */
  get state(): BackendState {
    if (this.admin === 'disabled') return 'disabled';
    if (this.admin === 'draining' || this.removed) return 'draining';
    return this.healthy ? 'up' : 'down';
  }
}
