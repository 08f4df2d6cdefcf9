/**
 * Backend (upstream) connections in L7 mode and the per-backend pool of idle
 * keep-alive ones.
 *
 * An `UpstreamConn` wraps one backend socket for its whole life: its socket
 * listeners are bound once, at creation, and forward every event to the
 * current owner (the L7 session using it), or handle it themselves while the
 * connection sits idle in the pool (any byte or end from an idle backend
 * closes it). So lending a connection to a request costs no listener churn
 * and no closure.
 *
 * Idle connections: at most `maxIdle` per backend (LIFO: the most recently
 * used is reused first, so surplus ones age out), each closed after
 * `idleTimeoutMs` without use (the socket's own timeout: Node refreshes it on
 * I/O and its timer does not keep the process alive).
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import { confirmEnd } from '../l4/tunnel.js';

/** What an L7 session receives from the connection it holds. */
export interface UpstreamOwner {
  onUpstreamData(chunk: Buffer): void;
  onUpstreamEnd(): void;
  onUpstreamError(err: Error): void;
  onUpstreamClose(): void;
  onUpstreamDrain(): void;
  onUpstreamTimeout(): void;
}

export class UpstreamConn {
  readonly socket: Socket;
  readonly backend: Backend;
  /** The session using it, or null while idle (or after detach). */
  owner: UpstreamOwner | null = null;
  /** Requests sent on it so far (more than 1 = it was reused). */
  requests = 0;
  /** In the idle list of `pool`. */
  idle = false;
  closed = false;
  private readonly pool: UpstreamPool;

  constructor(socket: Socket, backend: Backend, pool: UpstreamPool) {
    this.socket = socket;
    this.backend = backend;
    this.pool = pool;
    this.onData = this.onData.bind(this);
    this.onEnd = this.onEnd.bind(this);
    this.afterEnd = this.afterEnd.bind(this);
    this.onError = this.onError.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onTimeout = this.onTimeout.bind(this);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('timeout', this.onTimeout);
    if (socket.destroyed) this.closed = true;
  }

  /** Usable for a new request right now. */
  get alive(): boolean {
    const s = this.socket;
    return !this.closed && !s.destroyed && s.writable && !s.readableEnded;
  }

  private onData(chunk: Buffer): void {
    if (this.owner !== null) this.owner.onUpstreamData(chunk);
    else this.socket.destroy(); // an idle backend must not talk
  }
  private onEnd(): void {
    // a reset read as an end would pass a cut close-delimited body off as whole: confirm it first
    if (this.owner !== null) confirmEnd(this.socket, this.afterEnd);
    else this.socket.destroy();
  }
  private afterEnd(err?: Error | null): void {
    // after a reset, the socket's 'error' told the owner
    if (err || this.socket.destroyed) return;
    if (this.owner !== null) this.owner.onUpstreamEnd();
  }
  private onError(err: Error): void {
    if (this.owner !== null) this.owner.onUpstreamError(err);
  }
  private onClose(): void {
    this.closed = true;
    if (this.idle) this.pool.forget(this);
    const o = this.owner;
    this.owner = null;
    if (o !== null) o.onUpstreamClose();
  }
  private onDrain(): void {
    if (this.owner !== null) this.owner.onUpstreamDrain();
  }
  private onTimeout(): void {
    if (this.owner !== null) this.owner.onUpstreamTimeout();
    else this.socket.destroy();
  }

  /** Hand the socket over for good (to a Tunnel after a 101): remove every listener of ours. */
  detach(): Socket {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('error', this.onError);
    s.removeListener('close', this.onClose);
    s.removeListener('drain', this.onDrain);
    s.removeListener('timeout', this.onTimeout);
    s.setTimeout(0);
    this.owner = null;
    return s;
  }
}

export class UpstreamPool {
  readonly maxIdle: number;
  readonly idleTimeoutMs: number;
  private readonly idle = new Map<Backend, UpstreamConn[]>();
  /** Connections opened so far (diagnostics). */
  opened = 0;
  reused = 0;

  constructor(maxIdle = 64, idleTimeoutMs = 30_000) {
    this.maxIdle = maxIdle;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  /** Wrap a freshly connected backend socket. */
  wrap(socket: Socket, backend: Backend): UpstreamConn {
    this.opened++;
    return new UpstreamConn(socket, backend, this);
  }

  /** An idle connection to `b` for `owner`, or null. */
  take(b: Backend, owner: UpstreamOwner): UpstreamConn | null {
    const list = this.idle.get(b);
    if (list === undefined) return null;
    while (list.length > 0) {
      const c = list.pop()!;
      c.idle = false;
      if (!c.alive) {
        c.socket.destroy();
        continue;
      }
      c.owner = owner;
      this.reused++;
      return c;
    }
    return null;
  }

  /** Give back a connection that finished a response and may carry another request. */
  put(c: UpstreamConn): void {
    c.owner = null;
    if (!c.alive || c.backend.removed) {
      c.socket.destroy();
      return;
    }
    let list = this.idle.get(c.backend);
    if (list === undefined) {
      list = [];
      this.idle.set(c.backend, list);
    }
    if (list.length >= this.maxIdle) {
      c.socket.destroy();
      return;
    }
    c.idle = true;
    c.socket.setTimeout(this.idleTimeoutMs);
    // it may have been paused for a slow client: an idle one must see the backend's FIN
    c.socket.resume();
    list.push(c);
  }

  /** @internal an idle connection closed. */
  forget(c: UpstreamConn): void {
    c.idle = false;
    const list = this.idle.get(c.backend);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(c.backend);
  }

  /** Idle connections to `b` now. */
  idleCount(b: Backend): number {
    return this.idle.get(b)?.length ?? 0;
  }

  /** Close every idle connection (shutdown). */
  closeAll(): void {
    for (const list of [...this.idle.values()]) for (const c of [...list]) c.socket.destroy();
    this.idle.clear();
  }
}
