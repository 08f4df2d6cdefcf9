/**
 * The front: steps 1 and 2 of the data path for every listener. A client
 * is accepted (or refused by --max-conns), goes through the peek stage when
 * one is needed (PROXY header, TLS ClientHello for SNI routing), and becomes
 * a Stream with its mode's exchange. Failures before the exchange are
 * counted and logged here (`max-conns`, `proxy-error`, `tls-error`).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { EndReason } from '../core/ends.js';
import { normalizeIp } from '../core/address.js';
import type { Pool } from '../core/pool.js';
import type { Config } from '../config/types.js';
import type { Listener, ListenerHandler } from '../l4/listener.js';
import { PeekStage, type PeekHost } from '../l4/peek-stage.js';
import type { ClientFacts } from '../l4/upstream.js';
import type { PoolSet } from './pools.js';
import type { StreamRegistry } from './registry.js';
import type { StreamServices } from './services.js';
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

  constructor(svc: StreamServices, pools: PoolSet, registry: StreamRegistry, log: Logger, makeExchange: ExchangeFactory) {
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

  onTlsError(err: Error, socket: TLSSocket | null, listener: Listener): void {
    if (this.log.isLevelEnabled('debug')) this.log.debug({ err: err.message, listener: listener.stats.address }, 'tls handshake failed');
    if (socket !== null) this.registry.refused(socket, listener.stats, 'tls-error', null, Date.now(), false);
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
