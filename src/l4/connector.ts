/**
 * Connect to a backend with a time limit, and map every failure to a typed,
 * retryable LbError (src/core/errors.ts holds the errno mapping). Exactly one
 * of the owner's two callbacks is called, once.
 */
import { connect, type Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import { connectError, type LbError } from '../core/errors.js';

export interface ConnectOwner {
  onBackendConnect(socket: Socket, attempt: ConnectAttempt): void;
  onBackendConnectError(err: LbError, attempt: ConnectAttempt): void;
}

export class ConnectAttempt {
  readonly backend: Backend;
  readonly socket: Socket;
  private readonly owner: ConnectOwner;
  private readonly timeoutMs: number;
  private settled = false;

  constructor(backend: Backend, timeoutMs: number, owner: ConnectOwner) {
    this.backend = backend;
    this.owner = owner;
    this.timeoutMs = timeoutMs;
    this.onConnect = this.onConnect.bind(this);
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
    this.settled = true;
    const s = this.socket;
    s.setTimeout(0);
    s.removeListener('timeout', this.onTimeout);
    s.removeListener('error', this.onError);
    this.owner.onBackendConnect(s, this);
  }

  private onError(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.socket.destroy();
    this.owner.onBackendConnectError(connectError(err, false), this);
  }

  private onTimeout(): void {
    if (this.settled) return;
    this.settled = true;
    this.socket.removeListener('error', this.onError);
    this.socket.on('error', noop);
    this.socket.destroy();
    this.owner.onBackendConnectError(connectError(undefined, true, this.timeoutMs), this);
  }

  /** The client went away: drop the attempt without reporting anything. */
  abort(): void {
    if (this.settled) return;
    this.settled = true;
    this.socket.removeListener('error', this.onError);
    this.socket.on('error', noop);
    this.socket.destroy();
  }
}

function noop(): void {}
