/**
 * The L4 exchange: move bytes both ways between a client socket and a
 * backend socket, unchanged and in order (docs/reference.md, "Streaming (L4)").
 *
 * - Backpressure without stream.pipe: a 'data' handler writes to the other
 *   side and pauses its source when write() returns false; the other side's
 *   'drain' resumes it. Memory held per tunnel stays around the sockets'
 *   buffers whatever the sizes sent.
 * - Half-close: both sockets run with allowHalfOpen; an 'end' on one side
 *   ends the other side's write half, and the opposite direction stays open
 *   until it ends too.
 * - Idle timeout on the backend socket alone: Node refreshes a socket's
 *   timeout on reads and on writes, and every byte of either direction is
 *   either read from or written to the backend socket.
 * - A reset or error on one side closes the other with a reset too (TCP RST:
 *   resetAndDestroy(), on the TCP socket under TLS), never a clean FIN that
 *   would pass a broken stream off as complete; nothing throws. A clean
 *   close, the idle timeout and the drain close with a FIN as before.
 * - An 'end' is confirmed before it is passed on (confirmEnd()): libuv takes
 *   a reset that arrives behind unread bytes for an end of stream.
 *
 * Handlers are bound once per tunnel (no closures per chunk); the per-chunk
 * work is one write and two additions.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { TunnelEnd } from '../core/ends.js';

export type { TunnelEnd } from '../core/ends.js';

export interface TunnelOwner {
  /** Called once, after both sockets have closed. */
  onTunnelEnd(tunnel: Tunnel, reason: TunnelEnd): void;
  /** The tunnel reached `offloadAt` chunks: it is busy enough to hand to the native relay (only asked when `offloadAt` is finite). */
  onTunnelBusy?(tunnel: Tunnel): void;
}

/** What a session needs of its tunnel, whichever carries it (this JavaScript Tunnel, or the native relay's RelayTunnel). */
export interface Exchange {
  readonly backend: Backend;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Close both sides now; the end is reported to the owner as usual. */
  destroy(reason: TunnelEnd): void;
}

/** `offloadAt` of a tunnel that is never handed to the native relay (2^30 - 1 chunks: never reached). */
export const NEVER_OFFLOAD = 0x3fffffff;

export class Tunnel implements Exchange {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly backend: Backend;
  private readonly owner: TunnelOwner;
  /** Bytes client → backend. */
  bytesIn = 0;
  /** Bytes backend → client. */
  bytesOut = 0;
  /** The first thing that ended the tunnel; null while it runs. */
  reason: TunnelEnd | null = null;
  private clientClosed = false;
  private upstreamClosed = false;
  private done = false;

  /** When it started (for the hand-over of idle tunnels to the native relay). */
  readonly startedAt: number;
  /** Chunks moved either way. */
  chunks = 0;
  /** When the last chunk moved (Date.now()); the relay's idle clock goes on from it after a hand-over. */
  lastActive: number;
  /**
   * At this many chunks the owner is asked to hand the tunnel to the native
   * relay (src/l4/relay.ts); it raises the mark when that cannot happen yet.
   * NEVER_OFFLOAD without the relay. (A small integer, not Infinity: the
   * field stays a Smi, so setting it never changes the object's shape.)
   */
  offloadAt: number;

  constructor(client: Socket, upstream: Socket, backend: Backend, idleTimeoutMs: number, owner: TunnelOwner, offloadAt = NEVER_OFFLOAD) {
    this.client = client;
    this.startedAt = Date.now();
    this.lastActive = this.startedAt;
    this.offloadAt = offloadAt;
    this.upstream = upstream;
    this.backend = backend;
    this.owner = owner;
    this.onClientData = this.onClientData.bind(this);
    this.onUpstreamData = this.onUpstreamData.bind(this);
    this.onClientDrain = this.onClientDrain.bind(this);
    this.onUpstreamDrain = this.onUpstreamDrain.bind(this);
    this.onClientEnd = this.onClientEnd.bind(this);
    this.onUpstreamEnd = this.onUpstreamEnd.bind(this);
    this.passClientEnd = this.passClientEnd.bind(this);
    this.passUpstreamEnd = this.passUpstreamEnd.bind(this);
    this.onClientError = this.onClientError.bind(this);
    this.onUpstreamError = this.onUpstreamError.bind(this);
    this.onClientClose = this.onClientClose.bind(this);
    this.onUpstreamClose = this.onUpstreamClose.bind(this);
    this.onIdle = this.onIdle.bind(this);

    client.on('data', this.onClientData);
    client.on('drain', this.onClientDrain);
    client.on('end', this.onClientEnd);
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
    upstream.on('data', this.onUpstreamData);
    upstream.on('drain', this.onUpstreamDrain);
    upstream.on('end', this.onUpstreamEnd);
    upstream.on('error', this.onUpstreamError);
    upstream.on('close', this.onUpstreamClose);
    if (idleTimeoutMs > 0) {
      upstream.setTimeout(idleTimeoutMs);
      upstream.on('timeout', this.onIdle);
    }
    // Either socket may have closed before we attached (a reset while the
    // connect completed): 'close' will not fire again, so check now.
    if (client.destroyed) this.onClientClose();
    if (upstream.destroyed) this.onUpstreamClose();
    // A client that sent its FIN while we were connecting: a paused socket
    // with nothing buffered still emits 'end' at once, before we listened.
    // Pass the half-close on now, or the backend would never see it (and a
    // server waiting for the client's bytes would hold the tunnel until
    // --idle-timeout).
    if (!this.done && client.readableEnded && !client.destroyed) this.onClientEnd();
    if (!this.done && upstream.readableEnded && !upstream.destroyed) this.onUpstreamEnd();
    // The client was held paused while we chose and connected.
    if (client.isPaused()) client.resume();
  }

  private onClientData(chunk: Buffer): void {
    const n = chunk.length;
    this.bytesIn += n;
    this.backend.bytesIn += n;
    if (!this.upstream.write(chunk)) this.client.pause();
    // Only the first chunks of a tunnel run here when the relay takes over, so Date.now() per chunk is cheap enough.
    if (this.offloadAt !== NEVER_OFFLOAD) this.lastActive = Date.now();
    if (++this.chunks >= this.offloadAt) this.owner.onTunnelBusy!(this);
  }

  private onUpstreamData(chunk: Buffer): void {
    const n = chunk.length;
    this.bytesOut += n;
    this.backend.bytesOut += n;
    if (!this.client.write(chunk)) this.upstream.pause();
    if (this.offloadAt !== NEVER_OFFLOAD) this.lastActive = Date.now();
    if (++this.chunks >= this.offloadAt) this.owner.onTunnelBusy!(this);
  }

  /**
   * Let go of both sockets without closing them (they are being handed to
   * the native relay): no handler of this tunnel runs again, no timeout.
   */
  detach(): void {
    const c = this.client;
    const u = this.upstream;
    c.removeListener('data', this.onClientData);
    c.removeListener('drain', this.onClientDrain);
    c.removeListener('end', this.onClientEnd);
    c.removeListener('error', this.onClientError);
    c.removeListener('close', this.onClientClose);
    u.removeListener('data', this.onUpstreamData);
    u.removeListener('drain', this.onUpstreamDrain);
    u.removeListener('end', this.onUpstreamEnd);
    u.removeListener('error', this.onUpstreamError);
    u.removeListener('close', this.onUpstreamClose);
    u.removeListener('timeout', this.onIdle);
    u.setTimeout(0);
    this.done = true;
    this.offloadAt = NEVER_OFFLOAD;
  }

  private onUpstreamDrain(): void {
    this.client.resume();
  }

  private onClientDrain(): void {
    this.upstream.resume();
  }

  private onClientEnd(): void {
    confirmEnd(this.client, this.passClientEnd);
  }

  private passClientEnd(err?: Error | null): void {
    // a reset after all: the 'error' handler passed it on
    if (err || this.client.destroyed) return;
    if (this.reason === null) this.reason = 'client-close';
    if (!this.upstream.destroyed) this.upstream.end();
  }

  private onUpstreamEnd(): void {
    confirmEnd(this.upstream, this.passUpstreamEnd);
  }

  private passUpstreamEnd(err?: Error | null): void {
    if (err || this.upstream.destroyed) return;
    if (this.reason === null) this.reason = 'backend-close';
    if (!this.client.destroyed) this.client.end();
  }

  private onClientError(): void {
    if (this.reason === null) this.reason = 'client-error';
    resetSocket(this.upstream);
  }

  private onUpstreamError(): void {
    if (this.reason === null) this.reason = 'backend-error';
    resetSocket(this.client);
  }

  private onClientClose(): void {
    if (this.clientClosed) return;
    this.clientClosed = true;
    if (this.reason === null) this.reason = 'client-close';
    // A client that went away without a FIN (reset, destroyed) takes the
    // backend with it. One that closed cleanly has sent everything and can
    // receive nothing more: let our last writes to the backend flush, then close.
    if (!this.upstreamClosed) {
      if (this.client.readableEnded) this.upstream.destroySoon();
      else this.upstream.destroy();
    }
    this.maybeDone();
  }

  private onUpstreamClose(): void {
    if (this.upstreamClosed) return;
    this.upstreamClosed = true;
    if (this.reason === null) this.reason = 'backend-close';
    if (!this.clientClosed) {
      if (this.upstream.readableEnded) this.client.destroySoon();
      else this.client.destroy();
    }
    this.maybeDone();
  }

  private onIdle(): void {
    if (this.reason === null) this.reason = 'idle-timeout';
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Close both sides now (drain timeout at shutdown, admin action). */
  destroy(reason: TunnelEnd): void {
    if (this.reason === null) this.reason = reason;
    this.client.destroy();
    this.upstream.destroy();
  }

  private maybeDone(): void {
    if (this.done || !this.clientClosed || !this.upstreamClosed) return;
    this.done = true;
    this.owner.onTunnelEnd(this, this.reason ?? 'client-close');
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Call `then` once the 'end' just read from `s` is known to be a FIN, not a
 * reset. libuv reads a socket until a read returns less than asked; when
 * the hang-up came with that read, it reports the end of the stream without
 * reading again, so a reset that arrived behind unread bytes surfaces as an
 * 'end' and its error stays in the kernel socket. An empty write brings it
 * out: it fails (ECONNRESET, then the socket's 'error') after a reset and
 * succeeds after a FIN. With writes queued, the hang-up has run them already
 * and their error is known by the next turn. Under TLS, or once our side
 * has ended, nothing can be written: the end stands.
 */
export function confirmEnd(s: Socket, then: (err?: Error | null) => void): void {
  if (s.destroyed) return;
  if (s.writableEnded || (s as Socket & { encrypted?: boolean }).encrypted) then(null);
  else if (s.writableLength === 0) s.write(EMPTY, then);
  else setImmediate(then);
}

interface ResettableHandle {
  reset?: unknown;
}

/**
 * Close `s` with a TCP reset (RST) instead of a FIN, so that the peer learns
 * the stream broke (it reads ECONNRESET), as it would without lb4 in
 * between. A TLS socket is reset through the TCP socket under it
 * (`_parent`: the socket a TLSSocket wraps, on both lb4's sides). Anything
 * that has no TCP handle (already closed) is destroyed as usual.
 */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  const raw = (s as unknown as { _parent?: Socket | null })._parent ?? s;
  const h = (raw as unknown as { _handle?: ResettableHandle | null })._handle;
  if (!raw.destroyed && h && typeof h.reset === 'function') raw.resetAndDestroy();
  s.destroy();
}
