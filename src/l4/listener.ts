/**
 * A listener: a net.Server, or a tls.Server when TLS is terminated, bound to
 * one address. It counts what it accepts and hands each client socket to the
 * connection handler chosen once at start-up (house rule 3).
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { ListenError, systemErrorTextWithCode } from '../core/errors.js';
import type { HostPort } from '../config/parse.js';
import { formatHostPort } from '../core/address.js';
import { ListenerStats } from '../core/listener-stats.js';

export interface ListenerHandler {
  /** A client connected (after the TLS handshake when TLS is terminated). */
  onClient(socket: Socket, listener: Listener): void;
  /** A TLS handshake failed. */
  onTlsError(err: Error, socket: TLSSocket | null, listener: Listener): void;
  /** The server failed after it was listening. */
  onServerError(err: Error, listener: Listener): void;
}

export class Listener {
  readonly address: HostPort;
  readonly stats: ListenerStats;
  readonly server: Server;
  readonly tls: boolean;
  /** Clients must send a PROXY header first (--accept-proxy). */
  readonly acceptProxy: boolean;
  /**
   * TLS is terminated after the peek stage (--accept-proxy with a
   * certificate): `server` is a plain net.Server handing raw sockets to
   * onClient, and the peek stage calls startTls() once the PROXY header is read.
   */
  readonly deferredTls: boolean;
  /** The tls.Server doing the handshakes (listening itself, or fed by startTls()), or null. */
  readonly tlsServer: TlsServer | null = null;
  private readonly handler: ListenerHandler;
  private readonly pendingTls = new WeakMap<Socket, (err: Error | null, socket: TLSSocket | null) => void>();

  /**
   * `opts.acceptProxy`: clients start with a PROXY header (deferred TLS when
   * there is a certificate); `opts.handshakeTimeout`: bound on a deferred TLS
   * handshake (--peek-timeout), since such a client is already counted.
   */
  constructor(address: HostPort, tlsOptions: TlsOptions | null, handler: ListenerHandler, opts: { acceptProxy?: boolean; handshakeTimeout?: number } = {}) {
    this.address = address;
    this.tls = tlsOptions !== null;
    this.acceptProxy = opts.acceptProxy === true;
    this.deferredTls = this.tls && this.acceptProxy;
    this.stats = new ListenerStats(address.host, address.port, this.tls);
    this.handler = handler;
    if (tlsOptions && this.deferredTls) {
      // Never listens: raw sockets are handed to it with emit('connection')
      // after their PROXY header was read. Node's TLS wrap first reads what
      // the raw socket still buffers (the unshifted ClientHello).
      const server = createTlsServer({ ...tlsOptions, allowHalfOpen: true, handshakeTimeout: opts.handshakeTimeout ?? 120_000 });
      server.on('secureConnection', (socket: TLSSocket) => this.tlsDone(socket, null));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        this.stats.tlsFailures++;
        this.tlsDone(socket, err);
      });
      this.tlsServer = server;
      this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    } else if (tlsOptions) {
      const server = createTlsServer({ ...tlsOptions, allowHalfOpen: true });
      server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        this.stats.tlsFailures++;
        handler.onTlsError(err, socket, this);
      });
      this.server = server;
      this.tlsServer = server;
    } else {
      this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    }
  }

  /**
   * Run the TLS handshake on a raw socket accepted by this listener (deferred
   * TLS). `done` gets the TLS socket, or the handshake error.
   */
  startTls(raw: Socket, done: (err: Error | null, socket: TLSSocket | null) => void): void {
    this.pendingTls.set(raw, done);
    this.tlsServer!.emit('connection', raw);
  }

  private tlsDone(socket: TLSSocket, err: Error | null): void {
    // the TLS socket wraps the raw one we handed over (`_parent`, Node internals)
    const raw = (socket as unknown as { _parent?: Socket })._parent;
    const done = raw ? this.pendingTls.get(raw) : undefined;
    if (!done) {
      if (err) this.handler.onTlsError(err, socket, this);
      else socket.destroy();
      return;
    }
    this.pendingTls.delete(raw!);
    done(err, err ? null : socket);
  }

  private accept(socket: Socket): void {
    this.stats.accepted++;
    handlerCall(this.handler, socket, this);
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
        this.server.on('error', (err) => this.handler.onServerError(err, this));
        const a = this.server.address();
        this.stats.port = typeof a === 'object' && a ? a.port : this.address.port;
        resolve();
      });
    });
  }

  /** The bound port (the real one when 0 was asked). */
  get port(): number {
    return this.stats.port;
  }

  /**
   * Stop accepting now; open connections are not touched. (server.close()'s
   * callback waits for every connection to end, so it is not awaited.)
   */
  close(): void {
    if (this.server.listening) this.server.close();
  }
}

function handlerCall(h: ListenerHandler, socket: Socket, l: Listener): void {
  h.onClient(socket, l);
}
