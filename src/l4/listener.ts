/**
 * A listener: a net.Server, or a tls.Server when TLS is terminated, bound to
 * one address. It counts what it accepts and hands each client socket to the
 * connection handler chosen once at start-up (house rule 3).
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { ListenError } from '../core/errors.js';
import type { HostPort } from '../config/parse.js';
import { formatHostPort } from '../config/parse.js';
import { ListenerStats } from '../runtime.js';

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
  private readonly handler: ListenerHandler;

  constructor(address: HostPort, tlsOptions: TlsOptions | null, handler: ListenerHandler) {
    this.address = address;
    this.tls = tlsOptions !== null;
    this.stats = new ListenerStats(formatHostPort(address.host, address.port), this.tls);
    this.handler = handler;
    if (tlsOptions) {
      const server = createTlsServer({ ...tlsOptions, allowHalfOpen: true });
      server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        this.stats.tlsFailures++;
        handler.onTlsError(err, socket, this);
      });
      this.server = server;
    } else {
      this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    }
  }

  private accept(socket: Socket): void {
    this.stats.accepted++;
    handlerCall(this.handler, socket, this);
  }

  /** Bind. Rejects with a ListenError naming the address and errno. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new ListenError(`cannot listen on ${formatHostPort(this.address.host, this.address.port)}: ${err.code ?? err.message}`, err.code));
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
