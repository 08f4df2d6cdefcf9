/**
 * `GET /stats/history`: the last 15 minutes of the series the dashboard
 * charts, kept on the server so that they survive a page reload (README
 * "Dashboard").
 *
 * The AdminServer samples its AdminSource every `intervalMs` (5 s by
 * default, 180 points: 15 minutes) into fixed-size ring buffers: one
 * Float64Array per series, allocated once, plus two per backend (active and
 * rate), allocated when the backend first appears and dropped when it leaves
 * the configuration. Memory is bounded by the backends present, whatever the
 * uptime.
 *
 * Rates are differences of totals between two samples divided by the time
 * between them (not the one-second rates of /stats), so a point is the
 * average over its interval; a backend's counters that go backwards (a
 * reload replaced it) count as no traffic, never as negative.
 */
import type { AdminSource } from './source.js';

/** Default sampling interval and number of points: 5 s × 180 = 15 minutes. */
export const HISTORY_INTERVAL_MS = 5000;
export const HISTORY_POINTS = 180;

/** What one sample reads: totals since start and values now. */
export interface HistorySnapshot {
  /** Client connections accepted since start. */
  connections: number;
  /** Client connections held now. */
  active: number;
  /** Streams waiting in every pool's queue now. */
  queued: number;
  backends: BackendSnapshot[];
}

export interface BackendSnapshot {
  pool: string;
  name: string;
  active: number;
  /** Connections (L4) or requests (L7) that reached it. */
  total: number;
  bytesIn: number;
  bytesOut: number;
  /** Failed connects plus response errors. */
  errors: number;
}

/** The series of the whole balancer, in the order of the JSON `series` object. */
const SERIES = ['conn_rate', 'req_rate', 'active', 'queued', 'bytes_in_rate', 'bytes_out_rate', 'error_rate'] as const;
type SeriesName = (typeof SERIES)[number];

interface BackendRing {
  pool: string;
  name: string;
  active: Float64Array;
  rate: Float64Array;
  /** Totals at the previous sample, for the rates. */
  total: number;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  /** Sample number that last saw it (to drop the ones gone). */
  seen: number;
}

export interface HistoryJson {
  /** The server's clock when answering (ms since epoch): lets a browser with another clock place the points. */
  now: number;
  interval_ms: number;
  capacity: number;
  /** Sample times, ms since epoch, oldest first. */
  t: number[];
  series: Record<SeriesName, Array<number | null>>;
  backends: Array<{ pool: string; name: string; active: Array<number | null>; rate: Array<number | null> }>;
}

export class History {
  readonly intervalMs: number;
  readonly capacity: number;
  private readonly times: Float64Array;
  private readonly series: Record<SeriesName, Float64Array>;
  private readonly backends = new Map<string, BackendRing>();
  /** Next slot to write. */
  private head = 0;
  /** Points held (≤ capacity). */
  private size = 0;
  private samples = 0;
  /** The previous sample: time and the balancer's connection total. */
  private lastAt = 0;
  private lastConnections = 0;

  constructor(intervalMs = HISTORY_INTERVAL_MS, capacity = HISTORY_POINTS) {
    this.intervalMs = intervalMs;
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    const s = {} as Record<SeriesName, Float64Array>;
    for (const name of SERIES) s[name] = new Float64Array(capacity);
    this.series = s;
  }

  /** Points held now. */
  get length(): number {
    return this.size;
  }

  /** Backends with a series now. */
  get backendCount(): number {
    return this.backends.size;
  }

  /**
   * Take the counters at `now` as the starting line: the first point
   * recorded after it has rates over [start, first sample].
   */
  start(now: number, snap: HistorySnapshot): void {
    this.lastAt = now;
    this.lastConnections = snap.connections;
    for (const b of snap.backends) this.ring(b, false);
  }

  /** Record one point at `now` (ms since epoch). */
  record(now: number, snap: HistorySnapshot): void {
    const seq = ++this.samples;
    const first = this.lastAt === 0;
    const dt = first ? 0 : (now - this.lastAt) / 1000;
    const per = (d: number): number => (dt > 0 && d > 0 ? d / dt : first ? NaN : 0);
    const i = this.head;
    let requests = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let errors = 0;
    for (const b of snap.backends) {
      const r = this.ring(b, true);
      // counters that went backwards (a new Backend under the same name) restart from 0
      const dTotal = b.total >= r.total ? b.total - r.total : b.total;
      const dIn = b.bytesIn >= r.bytesIn ? b.bytesIn - r.bytesIn : b.bytesIn;
      const dOut = b.bytesOut >= r.bytesOut ? b.bytesOut - r.bytesOut : b.bytesOut;
      const dErr = b.errors >= r.errors ? b.errors - r.errors : b.errors;
      requests += dTotal;
      bytesIn += dIn;
      bytesOut += dOut;
      errors += dErr;
      r.active[i] = b.active;
      r.rate[i] = round(per(dTotal));
      r.total = b.total;
      r.bytesIn = b.bytesIn;
      r.bytesOut = b.bytesOut;
      r.errors = b.errors;
      r.seen = seq;
    }
    for (const [key, r] of this.backends) if (r.seen !== seq) this.backends.delete(key);
    const s = this.series;
    s.conn_rate[i] = round(per(Math.max(0, snap.connections - this.lastConnections)));
    s.req_rate[i] = round(per(requests));
    s.active[i] = snap.active;
    s.queued[i] = snap.queued;
    s.bytes_in_rate[i] = round(per(bytesIn));
    s.bytes_out_rate[i] = round(per(bytesOut));
    s.error_rate[i] = round(per(errors));
    this.times[i] = now;
    this.head = (i + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.lastAt = now;
    this.lastConnections = snap.connections;
  }

  /** The /stats/history document, oldest point first (NaN → null: no value yet). */
  toJSON(now = Date.now()): HistoryJson {
    const n = this.size;
    const from = (this.head - n + this.capacity) % this.capacity;
    const read = (a: Float64Array): Array<number | null> => {
      const out = new Array<number | null>(n);
      for (let k = 0; k < n; k++) {
        const v = a[(from + k) % this.capacity]!;
        out[k] = Number.isNaN(v) ? null : v;
      }
      return out;
    };
    const series = {} as Record<SeriesName, Array<number | null>>;
    for (const name of SERIES) series[name] = read(this.series[name]);
    return {
      now,
      interval_ms: this.intervalMs,
      capacity: this.capacity,
      t: read(this.times) as number[],
      series,
      backends: [...this.backends.values()].map((r) => ({ pool: r.pool, name: r.name, active: read(r.active), rate: read(r.rate) })),
    };
  }

  /** The ring of backend `b`, made (filled with "no value") on first sight. */
  private ring(b: BackendSnapshot, counting: boolean): BackendRing {
    const key = `${b.pool}/${b.name}`;
    let r = this.backends.get(key);
    if (!r) {
      r = {
        pool: b.pool,
        name: b.name,
        active: new Float64Array(this.capacity).fill(NaN),
        rate: new Float64Array(this.capacity).fill(NaN),
        // seen at start: rates from the starting line; seen later: from 0
        // (it joined since the previous sample, every count is new)
        total: counting ? 0 : b.total,
        bytesIn: counting ? 0 : b.bytesIn,
        bytesOut: counting ? 0 : b.bytesOut,
        errors: counting ? 0 : b.errors,
        seen: this.samples,
      };
      this.backends.set(key, r);
    }
    return r;
  }
}

/** Three decimals are plenty for a chart. */
function round(v: number): number {
  return Number.isNaN(v) ? NaN : Math.round(v * 1000) / 1000;
}

/** Read what a sample needs from the balancer (after its sync()). */
export function snapshotOf(lb: AdminSource): HistorySnapshot {
  lb.sync();
  const backends: BackendSnapshot[] = [];
  let queued = 0;
  for (const p of lb.pools.values()) {
    queued += lb.queueLength(p);
    for (const b of p.backends) {
      backends.push({ pool: p.name, name: b.name, active: b.active, total: b.total, bytesIn: b.bytesIn, bytesOut: b.bytesOut, errors: b.failures + b.responseErrors });
    }
  }
  return { connections: lb.connections.total, active: lb.connections.active, queued, backends };
}
