/**
 * One client connection in L4 mode, through the stages of DESIGN.md:
 * (peek) → choose → connect (with retries on other backends, or a wait in
 * the queue when every candidate is full) → exchange (Tunnel) → account and
 * log. The session owns the client socket until the tunnel takes it over.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { LbError } from '../core/errors.js';
import type { Queued } from '../core/wait-queue.js';
import { hashString } from '../core/hash.js';
import { ConnectAttempt, type ConnectOwner } from './connector.js';
import { NEVER_OFFLOAD, Tunnel, type Exchange, type TunnelEnd, type TunnelOwner } from './tunnel.js';
import { handOver, OFFLOAD_CHUNKS, relayAvailable, RelayTunnel, type RelayOwner } from './relay.js';
import type { Runtime, ListenerStats } from '../runtime.js';
import type { Pool } from '../core/pool.js';
import { formatHostPort } from '../config/parse.js';
import { proxyHeaderToSend, upstreamTlsOptions, type ClientFacts } from './upstream.js';

export type SessionEnd = TunnelEnd | 'no-backend' | 'queue-timeout' | 'queue-full' | 'max-conns' | 'proxy-error' | 'tls-error';

/** Strip the IPv4-mapped prefix Node reports on dual-stack sockets. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}

export class L4Session implements ConnectOwner, TunnelOwner, RelayOwner, Queued {
  readonly rt: Runtime;
  /** The client socket; null once the tunnel went to the native relay (the destroyed Socket is not kept alive for nothing). */
  client: Socket | null;
  readonly listener: ListenerStats;
  readonly pool: Pool;
  readonly startedAt: number;
  /** The socket peer, `ip:port`. */
  readonly clientAddress: string;
  /** The IP used for hashing and logs (after PROXY protocol). */
  clientIp: string;
  /** What the peek stage learnt about the client (PROXY header, server name). */
  readonly facts: ClientFacts;
  /** Connects tried on another backend after a failed one. */
  retries = 0;
  private retryPending = false;
  private attemptNo = 0;
  private avoid: Backend | null = null;
  backend: Backend | null = null;
  private connecting: ConnectAttempt | null = null;
  tunnel: Exchange | null = null;
  private finished = false;
  private queueTimer: NodeJS.Timeout | null = null;
  private key = 0;
  qPrev: Queued | null = null;
  qNext: Queued | null = null;
  queued = false;

  constructor(rt: Runtime, client: Socket, listener: ListenerStats, pool: Pool, facts?: ClientFacts, startedAt?: number) {
    this.rt = rt;
    this.client = client;
    this.listener = listener;
    this.pool = pool;
    this.startedAt = startedAt ?? Date.now();
    const peerIp = normalizeIp(client.remoteAddress);
    this.clientAddress = formatHostPort(peerIp, client.remotePort ?? 0);
    this.facts = facts ?? { ip: peerIp, port: client.remotePort ?? 0, proxy: null, serverName: null };
    this.clientIp = this.facts.ip;
    this.onClientGone = this.onClientGone.bind(this);
    this.onClientError = this.onClientError.bind(this);
    this.onQueueTimeout = this.onQueueTimeout.bind(this);
    client.on('error', this.onClientError);
    client.on('close', this.onClientGone);
    // Hold client bytes in the socket until a backend is connected.
    client.pause();
  }

  /** Begin choosing a backend. */
  start(): void {
    this.key = hashString(this.clientIp);
    this.choose();
  }

  /** Choose the next backend and connect, or queue, or give up. Also called when a queued client is woken. */
  choose(): void {
    if (this.finished) return;
    const b = this.pool.pick(this.key, this.attemptNo, this.avoid);
    if (b === null) {
      if (this.pool.lastPickFull) {
        if (this.queued) return; // still full: stay in the queue
        if (this.rt.enqueue(this)) {
          this.queueTimer = setTimeout(this.onQueueTimeout, this.rt.config.queueTimeout);
          return;
        }
        this.finish('queue-full');
        return;
      }
      // Nothing to try (SPEC section 4), also for a client that was waiting
      // when the last eligible backend was drained, disabled or removed.
      if (this.queued) this.rt.dequeue(this);
      this.clearQueueTimer();
      this.finish('no-backend');
      return;
    }
    if (this.queued) this.rt.dequeue(this);
    this.clearQueueTimer();
    if (this.retryPending) {
      this.retryPending = false;
      this.retries++;
    }
    this.backend = b;
    const c = this.rt.config;
    this.connecting = new ConnectAttempt(b, c.connectTimeout, this, {
      proxyHeader: proxyHeaderToSend(c, b, this.client!, this.facts),
      tls: upstreamTlsOptions(c, b),
    });
  }

  onBackendConnect(socket: Socket, attempt: ConnectAttempt): void {
    this.connecting = null;
    const b = attempt.backend;
    this.rt.onConnectSuccess(b);
    this.pool.connected(b, Date.now());
    const client = this.client!;
    client.removeListener('error', this.onClientError);
    client.removeListener('close', this.onClientGone);
    this.tunnel = new Tunnel(client, socket, b, this.rt.config.idleTimeout, this, relayAvailable() ? OFFLOAD_CHUNKS : NEVER_OFFLOAD);
  }

  onTunnelBusy(tunnel: Tunnel): void {
    this.offload(tunnel);
  }

  /** Hand a JavaScript tunnel open since before `openedBefore` to the native relay (the balancer's sweep of idle tunnels); true when it went. */
  offloadIfOlder(openedBefore: number): boolean {
    const t = this.tunnel;
    return t instanceof Tunnel && t.offloadAt !== NEVER_OFFLOAD && t.startedAt <= openedBefore && this.offload(t);
  }

  private offload(t: Tunnel): boolean {
    const r = handOver(t, this, this.rt.config.idleTimeout);
    if (r === null) {
      t.offloadAt = t.chunks + OFFLOAD_CHUNKS; // not now: try again later
      return false;
    }
    this.tunnel = r;
    this.client = null;
    return true;
  }

  /** Add the relay's live byte counts to the backend's counters (before /stats, /metrics, a worker's report). */
  syncBytes(): void {
    if (this.tunnel instanceof RelayTunnel) this.tunnel.sync();
  }

  onBackendConnectError(err: LbError, attempt: ConnectAttempt): void {
    this.connecting = null;
    const b = attempt.backend;
    this.backend = null;
    this.rt.release(this.pool, b);
    this.rt.onConnectFailure(this.pool, b, err);
    if (this.finished) return;
    // not retryable: lb4's own resource errors (EMFILE...) would fail on any backend
    if (err.retryable && this.retries < this.rt.config.retries) {
      // counted in `retries` only once another backend is actually tried
      this.retryPending = true;
      this.attemptNo++;
      this.avoid = b;
      this.choose();
      return;
    }
    this.finish('no-backend');
  }

  /**
   * Stop the connect in flight and give its slot back (the client left, or
   * shutdown). When that connect was a half-open circuit's one trial, the
   * trial is undecided: free the trial slot so the next client can make it.
   * Otherwise the backend would stay out for good when no active check can
   * close the circuit (--health-check off), against SPEC section 4.
   */
  private abandonConnect(): void {
    const attempt = this.connecting!;
    const b = attempt.backend;
    attempt.abort();
    this.connecting = null;
    if (b.circuit.state === 'half-open' && b.circuit.trialInFlight) {
      b.circuit.trialInFlight = false;
      this.pool.rebuild();
    }
    this.rt.release(this.pool, b); // also wakes queued clients, who may now take the trial
  }

  onTunnelEnd(tunnel: Exchange, reason: TunnelEnd): void {
    this.rt.release(this.pool, tunnel.backend);
    this.finish(reason);
  }

  private onQueueTimeout(): void {
    this.queueTimer = null;
    if (this.queued) this.rt.dequeue(this);
    this.finish('queue-timeout');
  }

  private clearQueueTimer(): void {
    if (this.queueTimer !== null) {
      clearTimeout(this.queueTimer);
      this.queueTimer = null;
    }
  }

  private onClientError(): void {
    // 'close' follows; remember why
    this.clientErrored = true;
  }
  private clientErrored = false;

  /** The client closed before a tunnel existed. */
  private onClientGone(): void {
    if (this.tunnel || this.finished) return;
    if (this.connecting) {
      this.abandonConnect();
      this.backend = null;
    }
    if (this.queued) this.rt.dequeue(this);
    this.clearQueueTimer();
    this.finish(this.clientErrored ? 'client-error' : 'client-close');
  }

  /** Close everything now (shutdown after the drain timeout). */
  abort(reason: SessionEnd): void {
    if (this.finished) return;
    if (this.tunnel) {
      this.tunnel.destroy(reason as TunnelEnd);
      return;
    }
    if (this.connecting) this.abandonConnect();
    if (this.queued) this.rt.dequeue(this);
    this.clearQueueTimer();
    this.finish(reason);
  }

  private finish(reason: SessionEnd): void {
    if (this.finished) return;
    this.finished = true;
    if (this.client !== null && !this.client.destroyed) this.client.destroy();
    this.rt.sessionEnded(this, reason);
  }

  /** bytes client → backend, backend → client */
  get bytesIn(): number {
    return this.tunnel ? this.tunnel.bytesIn : 0;
  }
  get bytesOut(): number {
    return this.tunnel ? this.tunnel.bytesOut : 0;
  }
}
