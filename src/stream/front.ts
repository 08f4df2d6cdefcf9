/**
 * The front: steps 1 and 2 of the data path for every listener. A client
 * is accepted (or refused by --max-conns), goes through the peek stage when
 * one is needed (PROXY header, TLS ClientHello for SNI routing), and becomes
 * a Stream with its mode's exchange. Failures before the exchange are
 * counted and logged here (`max-conns`, `proxy-error`, `tls-error`).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EndReason } from '../core/ends.js';
import { normalizeIp } from '../core/address.js';
import type { Pool } from '../core/pool.js';
import type { Config } from '../config/types.js';
import type { Listener, ListenerHandler, TlsFailureEnd } from '../l4/listener.js';
import { PeekStage, type PeekHost } from '../l4/peek-stage.js';
import type { ClientFacts } from '../l4/upstream.js';
import type { PoolSet } from './pools.js';
import type { StreamRegistry } from './registry.js';
import type { StreamServices } from './services.js';
import { DescriptorBudget } from './descriptors.js';
import { RateLimitedWarning } from '../logger.js';
import { Stream, type StreamExchange } from './stream.js';

/** Builds the exchange of a new stream (chosen once, by mode). */
export type ExchangeFactory = (s: Stream) => StreamExchange;

export class Front implements ListenerHandler, PeekHost {
  private readonly svc: StreamServices;
  private readonly poolSet: PoolSet;
  private readonly registry: StreamRegistry;
  private readonly log: Logger;
  private readonly makeExchange: ExchangeFactory;
  private readonly peekStage: PeekStage;
  /** The bound listeners (their handshakes in flight count against the descriptor budget). */
  private readonly listeners: readonly Listener[];
  /** The client ceiling derived from the descriptor limit (src/stream/descriptors.ts), measured at start. */
  readonly descriptors = new DescriptorBudget();
  private readonly outOfDescriptors = new RateLimitedWarning('out of file descriptors');

  constructor(svc: StreamServices, pools: PoolSet, registry: StreamRegistry, log: Logger, makeExchange: ExchangeFactory, listeners: readonly Listener[]) {
    this.listeners = listeners;
    this.svc = svc;
    this.poolSet = pools;
    this.registry = registry;
    this.log = log;
    this.makeExchange = makeExchange;
    this.peekStage = new PeekStage(this);
  }

  get config(): Config {
    return this.svc.config;
  }

  get pools(): ReadonlyMap<string, Pool> {
    return this.poolSet.byName;
  }

  get pool(): Pool {
    return this.poolSet.default;
  }

  // ---- ListenerHandler ----

  /**
   * Turn a client away at once when the descriptor budget is spent (end
   * `max-conns`, like one beyond --max-conns), before anything else of it
   * costs a descriptor (README "Out of file descriptors").
   */
  admit(socket: Socket, listener: Listener): boolean {
    let handshakes = 0;
    for (const l of this.listeners) handshakes += l.stats.handshakes;
    const active = this.registry.active;
    if (this.descriptors.admits(active, handshakes)) return true;
    listener.stats.rejected++;
    socket.on('error', noop);
    this.outOfDescriptors.note(this.log, { reason: 'client ceiling', limit: this.descriptors.limit, max_clients: this.descriptors.maxClients, connections: active, handshakes });
    this.registry.refused(socket, listener.stats, 'max-conns', null, Date.now(), false);
    socket.destroy();
    return false;
  }

  /** accept() ran out of descriptors: the listener pauses (src/l4/listener.ts); say so, rate-limited. */
  onAcceptPaused(err: NodeJS.ErrnoException, listener: Listener, pauseMs: number): void {
    this.outOfDescriptors.note(this.log, { reason: `accept ${err.code}`, listener: listener.stats.address, pause_ms: pauseMs, connections: this.registry.active });
  }

  onClient(socket: Socket, listener: Listener): void {
    const max = this.svc.config.maxConns;
    if (max > 0 && this.registry.active >= max) {
      listener.stats.rejected++;
      socket.on('error', noop);
      this.registry.refused(socket, listener.stats, 'max-conns', null, Date.now(), false);
      socket.destroy();
      return;
    }
    this.registry.accepted(listener.stats);
    if (this.peekStage.needed(listener)) this.peekStage.run(socket, listener);
    else this.dispatch(socket, listener, this.clientPool(normalizeIp(socket.remoteAddress)) ?? this.poolSet.default, null, Date.now());
  }

  /** A TLS handshake did not complete (`end`: `tls-error`, or the client left first); the listener closes the socket next. */
  onTlsError(err: Error, socket: Socket, listener: Listener, end: TlsFailureEnd): void {
    if (this.log.isLevelEnabled('debug')) this.log.debug({ err: err.message, listener: listener.stats.address }, 'tls handshake failed');
    this.registry.refused(socket, listener.stats, end, null, Date.now(), false);
  }

  onServerError(err: Error, listener: Listener): void {
    this.log.error({ err: err.message, listener: listener.stats.address }, 'listener error');
  }

  // ---- PeekHost ----

  /** The pool `clientRoutes:` sends client `ip` to, or null for the usual routing. */
  clientPool(ip: string): Pool | null {
    const name = this.svc.clientRoutes.route(ip);
    return name !== null ? (this.poolSet.byName.get(name) ?? null) : null;
  }

  /**
   * Hand a client to its exchange. The peek stage passes the pool it routed
   * to and what it learnt (`facts`: the client IP and port after a PROXY
   * header, the header itself, the server name).
   */
  dispatch(socket: Socket, listener: Listener, pool: Pool, facts: ClientFacts | null, startedAt: number): void {
    const s = new Stream(this.svc, socket, listener.stats, pool, facts, startedAt);
    s.exchange = this.makeExchange(s);
    this.registry.add(s);
    s.exchange.start();
  }

  /** The peek stage gave up on a client (`proxy-error`, `tls-error`, or it left first). */
  peekFailed(socket: Socket, listener: Listener, end: EndReason, clientIp: string, startedAt: number, reason: string): void {
    if (end === 'proxy-error') listener.stats.proxyErrors++;
    else if (end === 'tls-error' && !listener.tls) listener.stats.tlsFailures++;
    socket.on('error', noop);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ end, reason, listener: listener.stats.address }, 'peek failed');
    this.registry.refused(socket, listener.stats, end, clientIp, startedAt, true);
    socket.destroy();
  }
}

function noop(): void {}
