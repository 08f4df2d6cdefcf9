/**
 * A listener: a net.Server bound to one address. It counts what it accepts
 * and hands each client socket to the connection handler chosen once at
 * start-up (decided once, not per connection).
 *
 * TLS termination: the net.Server hands each raw socket to a tls.Server
 * that never listens itself (`tlsServer.emit('connection', raw)`, which is
 * what a listening tls.Server does with the sockets it accepts): at once,
 * or after the PROXY header with --accept-proxy (the peek stage calls
 * startTls()). Owning the raw socket first lets the listener admit it
 * before any handshake work and count the handshakes under way.
 *
 * Handshakes are bounded and never half-open (README "TLS, SNI and the
 * PROXY protocol"):
 * - --handshake-timeout: tls.Server's handshakeTimeout, armed when the TLS
 *   socket is made (accept, or the end of the PROXY header). Node reports
 *   the timeout as a 'tlsClientError' but leaves the socket open: every
 *   'tlsClientError' socket is destroyed here.
 * - A client that sends its FIN before the handshake completes (a TCP
 *   health check, a scanner, half a ClientHello) is closed at once: the TLS
 *   socket is not half-open until the handshake is done. (Half-open from
 *   the first byte, such a socket sat in CLOSE-WAIT for good: nothing reads
 *   a TLS socket before its handshake, so nothing answered the FIN.)
 *
 * Out of descriptors: when accept() fails with EMFILE/ENFILE, libuv first
 * sheds the pending connections with its reserve descriptor; when that
 * reserve is gone it reports the error and tries accept() again at once, in
 * a loop that only ends when the handle closes. So the listener closes its
 * handle, waits (100 ms, doubling up to 1 s while it keeps happening) and
 * binds the same port again: accepting stops for a moment instead of
 * spinning.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { isOutOfDescriptors, ListenError, systemErrorTextWithCode } from '../core/errors.js';
import type { HostPort } from '../config/parse.js';
import { formatHostPort } from '../core/address.js';
import { ListenerStats } from '../core/listener-stats.js';

/** How a client that never completed its TLS handshake is logged. */
export type TlsFailureEnd = 'tls-error' | 'client-close' | 'client-error';

export interface ListenerHandler {
  /**
   * A client socket was just accepted (before any TLS handshake): true to
   * go on, false when the handler turned it away (and closed it).
   */
  admit(socket: Socket, listener: Listener): boolean;
  /** A client connected (after the TLS handshake when TLS is terminated at accept). */
  onClient(socket: Socket, listener: Listener): void;
  /**
   * A TLS handshake did not complete (`socket`: the raw client socket, which
   * still knows its peer); the listener closes the connection right after.
   */
  onTlsError(err: Error, socket: Socket, listener: Listener, end: TlsFailureEnd): void;
  /** The server failed after it was listening. */
  onServerError(err: Error, listener: Listener): void;
  /** accept() failed for want of file descriptors: the listener stopped accepting for `pauseMs`. */
  onAcceptPaused(err: NodeJS.ErrnoException, listener: Listener, pauseMs: number): void;
}

/** Deferred handshake result: the TLS socket, or the error and how to log it. */
export type TlsDone = (err: Error | null, socket: TLSSocket | null, end?: TlsFailureEnd) => void;

/** First pause after accept() ran out of descriptors; doubled while it keeps happening. */
const PAUSE_MIN_MS = 100;
const PAUSE_MAX_MS = 1000;
/** A pause this long after the last one starts again from PAUSE_MIN_MS. */
const PAUSE_RESET_MS = 10_000;

export class Listener {
  readonly address: HostPort;
  readonly stats: ListenerStats;
  /** The listening server (plain TCP; TLS is layered by `tlsServer`). */
  readonly server: Server;
  readonly tls: boolean;
  /** Clients must send a PROXY header first (--accept-proxy). */
  readonly acceptProxy: boolean;
  /**
   * TLS is terminated after the peek stage (--accept-proxy with a
   * certificate): onClient gets raw sockets, and the peek stage calls
   * startTls() once the PROXY header is read.
   */
  readonly deferredTls: boolean;
  /** The tls.Server doing the handshakes (never listening itself), or null without TLS termination. */
  readonly tlsServer: TlsServer | null = null;
  private readonly handler: ListenerHandler;
  /** TLS at accept: every accepted socket goes to the handshake first. */
  private readonly tlsAtAccept: boolean;
  private readonly pendingTls = new WeakMap<Socket, TlsDone>();
  /** Raw sockets whose handshake is under way (counted in stats.handshakes). */
  private readonly handshaking = new WeakSet<Socket>();
  private closed = false;
  private pauseTimer: NodeJS.Timeout | null = null;
  private pauseMs = 0;
  private pausedAt = 0;
  /** Binding again after a pause: a listen error means "not yet". */
  private rebinding = false;

  /**
   * `opts.acceptProxy`: clients start with a PROXY header (deferred TLS when
   * there is a certificate); `opts.handshakeTimeout`: bound on a TLS
   * handshake (--handshake-timeout).
   */
  constructor(address: HostPort, tlsOptions: TlsOptions | null, handler: ListenerHandler, opts: { acceptProxy?: boolean; handshakeTimeout?: number } = {}) {
    this.address = address;
    this.tls = tlsOptions !== null;
    this.acceptProxy = opts.acceptProxy === true;
    this.deferredTls = this.tls && this.acceptProxy;
    this.tlsAtAccept = this.tls && !this.acceptProxy;
    this.stats = new ListenerStats(address.host, address.port, this.tls);
    this.handler = handler;
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    if (tlsOptions) {
      const server = createTlsServer({ ...tlsOptions, handshakeTimeout: opts.handshakeTimeout ?? 10_000 });
      server.on('secureConnection', (socket: TLSSocket) => this.secured(socket));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.tlsFailed(err, socket));
      this.tlsServer = server;
    }
  }

  private accept(socket: Socket): void {
    if (!this.handler.admit(socket, this)) return;
    if (this.tlsAtAccept) {
      this.handshake(socket, null);
      return;
    }
    this.stats.accepted++;
    this.handler.onClient(socket, this);
  }

  /**
   * Run the TLS handshake on a raw socket accepted by this listener (deferred
   * TLS). `done` gets the TLS socket, or the handshake error; either way
   * once, and the TLS socket of a failed handshake is destroyed after it.
   */
  startTls(raw: Socket, done: TlsDone): void {
    this.handshake(raw, done);
  }

  private handshake(raw: Socket, done: TlsDone | null): void {
    // Not half-open until the handshake is done (the TLS socket takes this
    // from the raw one): a FIN now closes the connection. secured() turns
    // half-close back on for the exchange.
    raw.allowHalfOpen = false;
    // read the peer now (Node keeps it): a handshake that fails after the
    // client left is still logged with its address
    void raw.remoteAddress;
    this.handshaking.add(raw);
    this.stats.handshakes++;
    if (done !== null) this.pendingTls.set(raw, done);
    this.tlsServer!.emit('connection', raw);
  }

  /** The raw socket under a TLS socket made by `tlsServer` (Node keeps it as `_parent`). */
  private handshakeOver(socket: TLSSocket): Socket | undefined {
    const raw = (socket as unknown as { _parent?: Socket })._parent;
    if (raw !== undefined && this.handshaking.delete(raw)) this.stats.handshakes--;
    return raw;
  }

  private secured(socket: TLSSocket): void {
    const raw = this.handshakeOver(socket);
    socket.allowHalfOpen = true;
    const done = raw !== undefined ? this.pendingTls.get(raw) : undefined;
    if (done !== undefined) {
      this.pendingTls.delete(raw!);
      done(null, socket);
      return;
    }
    this.stats.accepted++;
    this.handler.onClient(socket, this);
  }

  /**
   * Node emits exactly one 'tlsClientError' for a TLS socket that never
   * completed its handshake: a protocol error, the handshake timeout, or a
   * close before the end ("socket hang up").
   */
  private tlsFailed(err: Error, socket: TLSSocket): void {
    const raw = this.handshakeOver(socket);
    const end = tlsFailureEnd(err);
    if (end === 'tls-error') this.stats.tlsFailures++;
    const done = raw !== undefined ? this.pendingTls.get(raw) : undefined;
    if (done !== undefined) {
      this.pendingTls.delete(raw!);
      done(err, null, end);
    } else {
      this.handler.onTlsError(err, raw ?? socket, this, end);
    }
    socket.destroy();
  }

  /** Bind. Rejects with a ListenError naming the address and errno. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new ListenError(`cannot listen on ${formatHostPort(this.address.host, this.address.port)}: ${systemErrorTextWithCode(err)}`, err.code));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.address.host, port: this.address.port, backlog: 1024 }, () => {
        this.server.removeListener('error', onError);
        this.server.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
        this.server.on('listening', () => (this.rebinding = false));
        const a = this.server.address();
        this.stats.port = typeof a === 'object' && a ? a.port : this.address.port;
        resolve();
      });
    });
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (this.rebinding) {
      // still cannot bind (out of descriptors, or the port was taken meanwhile): try again later
      this.rebinding = false;
      if (!isOutOfDescriptors(err.code)) this.handler.onServerError(err, this);
      this.pause(err);
      return;
    }
    if (isOutOfDescriptors(err.code)) {
      this.pause(err);
      return;
    }
    this.handler.onServerError(err, this);
  }

  /** Stop accepting for a moment (see the module doc), then bind the same port again. */
  private pause(err: NodeJS.ErrnoException): void {
    if (this.closed || this.pauseTimer !== null) return;
    const now = Date.now();
    this.pauseMs = this.pauseMs === 0 || now - this.pausedAt > PAUSE_RESET_MS ? PAUSE_MIN_MS : Math.min(PAUSE_MAX_MS, this.pauseMs * 2);
    this.pausedAt = now;
    if (this.server.listening) this.server.close();
    this.stats.pauses++;
    this.handler.onAcceptPaused(err, this, this.pauseMs);
    this.pauseTimer = setTimeout(() => this.rebind(), this.pauseMs);
    this.pauseTimer.unref();
  }

  private rebind(): void {
    this.pauseTimer = null;
    if (this.closed) return;
    this.rebinding = true;
    // the bound port, not the configured one: port 0 must come back on the same port
    this.server.listen({ host: this.address.host, port: this.stats.port, backlog: 1024 });
  }

  /** The bound port (the real one when 0 was asked). */
  get port(): number {
    return this.stats.port;
  }

  /** Accepting right now (false while paused for want of descriptors, and once closed). */
  get accepting(): boolean {
    return this.server.listening;
  }

  /**
   * Stop accepting now; open connections are not touched. (server.close()'s
   * callback waits for every connection to end, so it is not awaited.)
   */
  close(): void {
    this.closed = true;
    if (this.pauseTimer !== null) clearTimeout(this.pauseTimer);
    this.pauseTimer = null;
    if (this.server.listening) this.server.close();
  }
}

/**
 * How a handshake that did not complete ends in the access log: a client
 * that closed first (Node's "socket hang up") `client-close`, a reset
 * `client-error`, anything else (bad bytes, a bad certificate, the
 * handshake timeout) `tls-error`.
 */
export function tlsFailureEnd(err: Error): TlsFailureEnd {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET') return err.message === 'socket hang up' ? 'client-close' : 'client-error';
  if (code === 'EPIPE') return 'client-error';
  return 'tls-error';
}
