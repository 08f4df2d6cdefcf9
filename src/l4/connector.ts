/**
 * Connect to a backend with a time limit, and map every failure to a typed,
 * retryable LbError (src/core/errors.ts holds the errno mapping). Exactly one
 * of the owner's two callbacks is called, once.
 *
 * Options (src/l4/upstream.ts builds them): a PROXY protocol header, written
 * first, in clear, before any client byte (the client is held paused until
 * the owner gets the socket); and upstream TLS, whose handshake runs over the
 * TCP connection after the header. The connect timeout bounds both.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Backend } from '../core/backend.js';
import { connectError, type LbError } from '../core/errors.js';

export interface ConnectOwner {
  onBackendConnect(socket: Socket, attempt: ConnectAttempt): void;
  onBackendConnectError(err: LbError, attempt: ConnectAttempt): void;
}

export interface ConnectOptions {
  /** Bytes written first (the PROXY header), or null. */
  readonly proxyHeader?: Buffer | null;
  /** Speak TLS to the backend with these options, or null for plain TCP. */
  readonly tls?: ConnectionOptions | null;
}

export class ConnectAttempt {
  readonly backend: Backend;
  readonly socket: Socket;
  /** The TLS socket over `socket` once the upstream handshake started, else null. */
  private secure: TLSSocket | null = null;
  private readonly owner: ConnectOwner;
  private readonly timeoutMs: number;
  private readonly opts: ConnectOptions;
  private settled = false;

  constructor(backend: Backend, timeoutMs: number, owner: ConnectOwner, opts: ConnectOptions = NO_OPTIONS) {
    this.backend = backend;
    this.owner = owner;
    this.timeoutMs = timeoutMs;
    this.opts = opts;
    this.onConnect = this.onConnect.bind(this);
    this.onSecure = this.onSecure.bind(this);
    this.onError = this.onError.bind(this);
    this.onTimeout = this.onTimeout.bind(this);
    this.socket = connect({ host: backend.host, port: backend.port, allowHalfOpen: true, noDelay: true });
    this.socket.setTimeout(timeoutMs);
    this.socket.once('connect', this.onConnect);
    this.socket.on('error', this.onError);
    this.socket.once('timeout', this.onTimeout);
  }

  private onConnect(): void {
    if (this.settled) return;
    const s = this.socket;
    if (this.opts.proxyHeader) s.write(this.opts.proxyHeader);
    if (this.opts.tls) {
      // allowHalfOpen is honoured by tls.connect, though missing from @types/node
      const t = tlsConnect({ ...this.opts.tls, socket: s, allowHalfOpen: true } as ConnectionOptions);
      this.secure = t;
      t.once('secureConnect', this.onSecure);
      t.on('error', this.onError);
      return;
    }
    this.settled = true;
    s.setTimeout(0);
    s.removeListener('timeout', this.onTimeout);
    s.removeListener('error', this.onError);
    this.owner.onBackendConnect(s, this);
  }

  private onSecure(): void {
    if (this.settled) return;
    this.settled = true;
    const s = this.socket;
    const t = this.secure!;
    s.setTimeout(0);
    s.removeListener('timeout', this.onTimeout);
    s.removeListener('error', this.onError);
    // errors of the raw socket surface on the TLS socket, which the tunnel watches
    s.on('error', noop);
    t.removeListener('error', this.onError);
    this.owner.onBackendConnect(t, this);
  }

  private onError(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.quiet();
    this.owner.onBackendConnectError(connectError(err, false), this);
  }

  private onTimeout(): void {
    if (this.settled) return;
    this.settled = true;
    this.quiet();
    this.owner.onBackendConnectError(connectError(undefined, true, this.timeoutMs), this);
  }

  private quiet(): void {
    this.socket.removeListener('error', this.onError);
    this.socket.on('error', noop);
    if (this.secure) {
      this.secure.removeListener('error', this.onError);
      this.secure.on('error', noop);
      this.secure.destroy();
    }
    this.socket.destroy();
  }

  /** The client went away: drop the attempt without reporting anything. */
  abort(): void {
    if (this.settled) return;
    this.settled = true;
    this.quiet();
  }
}

const NO_OPTIONS: ConnectOptions = Object.freeze({});

function noop(): void {}
