/**
 * The L4 exchange: the stream's plug-in for `--mode l4`. One assignment per
 * client connection (the client IP's hash is the key), then a tunnel that
 * moves bytes both ways until both sides have closed:
 *
 * - a JavaScript Tunnel (src/l4/tunnel.ts) first, always;
 * - handed to the native relay (src/l4/relay.ts) once it has proved worth
 *   it: after OFFLOAD_CHUNKS chunks, or open for OFFLOAD_IDLE_MS (the
 *   balancer's once-a-second housekeeping asks), when the relay is on and
 *   both sides are plain TCP.
 *
 * Until the tunnel exists, the exchange holds the client socket paused (its
 * bytes wait in the kernel) and ends the stream if the client leaves.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { EndReason, TunnelEnd } from '../core/ends.js';
import { hashString } from '../core/hash.js';
import { RATE_PENDING, type RateWaiter } from '../core/client-limits.js';
import type { NoBackendEnd, Stream, StreamExchange } from '../stream/stream.js';
import { NEVER_OFFLOAD, Tunnel, type TunnelOwner } from './tunnel.js';
import { OFFLOAD_CHUNKS, RelayTunnel, type Relay, type RelayOwner } from './relay.js';

export class L4Exchange implements StreamExchange, TunnelOwner, RelayOwner, RateWaiter {
  private readonly stream: Stream;
  /** The balancer's native relay (src/l4/relay.ts). */
  private readonly relay: Relay;
  /** The tunnel once connected: JavaScript, or on the native relay. */
  private tunnel: Tunnel | RelayTunnel | null = null;
  private clientErrored = false;

  constructor(stream: Stream, relay: Relay) {
    this.stream = stream;
    this.relay = relay;
    this.onClientGone = this.onClientGone.bind(this);
    this.onClientError = this.onClientError.bind(this);
    const client = stream.client!;
    client.on('error', this.onClientError);
    client.on('close', this.onClientGone);
    // Hold client bytes in the socket until a backend is connected.
    client.pause();
  }

  /**
   * Per-client limits first (--client-max-conns, then --client-rate, which
   * counts new connections in L4; over either: end `client-limit`), then
   * the assignment. With a shared limit store the rate answer may come
   * later (rateDecided); the client stays paused meanwhile.
   */
  start(): void {
    const s = this.stream;
    if (!s.admitConnection()) {
      s.end('client-limit');
      return;
    }
    const r = s.svc.clients.admitRequest(s.clientIp, Date.now(), this);
    if (r === 0) this.assign();
    else if (r !== RATE_PENDING) s.end('client-limit');
  }

  rateDecided(retryAfter: number): void {
    const s = this.stream;
    if (s.ended) return;
    if (retryAfter === 0) this.assign();
    else s.end('client-limit');
  }

  private assign(): void {
    const s = this.stream;
    s.assign(s.pool, hashString(s.clientIp));
  }

  onBackendSocket(socket: Socket, b: Backend): void {
    const s = this.stream;
    s.reached(b);
    const client = s.client!;
    client.removeListener('error', this.onClientError);
    client.removeListener('close', this.onClientGone);
    this.tunnel = new Tunnel(client, socket, b, s.svc.config.idleTimeout, this, this.relay.available() ? OFFLOAD_CHUNKS : NEVER_OFFLOAD);
  }

  onNoBackend(end: NoBackendEnd): void {
    this.stream.end(end);
  }

  onTunnelEnd(_tunnel: Tunnel | RelayTunnel, reason: TunnelEnd): void {
    this.stream.end(reason);
  }

  onTunnelBusy(tunnel: Tunnel): void {
    this.offload(tunnel);
  }

  /** Hand a JavaScript tunnel open since before `openedBefore` to the native relay; true when it went. */
  housekeep(openedBefore: number): boolean {
    const t = this.tunnel;
    return t instanceof Tunnel && t.offloadAt !== NEVER_OFFLOAD && t.startedAt <= openedBefore && this.offload(t);
  }

  private offload(t: Tunnel): boolean {
    const r = this.relay.handOver(t, this, this.stream.svc.config.idleTimeout);
    if (r === null) {
      t.offloadAt = t.chunks + OFFLOAD_CHUNKS; // not now: try again later
      return false;
    }
    this.tunnel = r;
    this.stream.client = null;
    return true;
  }

  /** Add the relay's live byte counts to the backend's counters. */
  sync(): void {
    if (this.tunnel instanceof RelayTunnel) this.tunnel.sync();
  }

  get bytesIn(): number {
    return this.tunnel !== null ? this.tunnel.bytesIn : 0;
  }

  get bytesOut(): number {
    return this.tunnel !== null ? this.tunnel.bytesOut : 0;
  }

  abort(reason: EndReason): void {
    if (this.tunnel !== null) this.tunnel.destroy(reason as TunnelEnd);
    else this.stream.end(reason);
  }

  private onClientError(): void {
    // 'close' follows; remember why
    this.clientErrored = true;
  }

  /** The client closed before a tunnel existed. */
  private onClientGone(): void {
    if (this.tunnel !== null) return;
    this.stream.end(this.clientErrored ? 'client-error' : 'client-close');
  }
}
