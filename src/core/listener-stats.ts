/**
 * Counters of one listener: /stats `listeners`, /metrics per listener. The
 * listener writes `accepted` and `port`; the front (src/stream/front.ts)
 * and the registry the rest.
 */
import { formatHostPort } from './address.js';

export class ListenerStats {
  /** The configured host. */
  readonly host: string;
  /** The configured address, `HOST:PORT` (port 0 when a free one was asked). */
  readonly address: string;
  readonly tls: boolean;
  /** The bound port (the real one when 0 was asked); 0 before binding. */
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
  /** The most `active` ever seen. */
  maxActive = 0;
  /** Connections accepted in the last second, and the most seen (tick() once a second). */
  rate = 0;
  maxRate = 0;
  private lastAccepted = 0;
  constructor(host: string, port: number, tls: boolean) {
    this.host = host;
    this.address = formatHostPort(host, port);
    this.tls = tls;
  }

  /** One more connection held. */
  opened(): void {
    this.active++;
    if (this.active > this.maxActive) this.maxActive = this.active;
  }

  /** Once a second: the accept rate over the last second, and its peak. */
  tick(): void {
    this.rate = this.accepted - this.lastAccepted;
    this.lastAccepted = this.accepted;
    if (this.rate > this.maxRate) this.maxRate = this.rate;
  }

  /** `HOST:PORT` with the bound port (the /metrics `listener` label). */
  get bound(): string {
    return formatHostPort(this.host, this.port);
  }
}
