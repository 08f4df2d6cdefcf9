/**
 * The native relay (native/relay.c) seen from TypeScript: once an L4
 * session's client and backend are both plain TCP sockets and connected, the
 * tunnel's bytes can move on the relay's epoll thread instead of through two
 * net.Socket streams (why: the module comment of native/relay.c, numbers in
 * perf/CHANGELOG.md).
 *
 * `offload()` hands a connected pair over, or returns null and changes
 * nothing, in which case the caller runs the JavaScript Tunnel as before.
 * The relay is used when the addon was built (`npm ci` builds it on Linux,
 * build/Release/lb4_relay.node) and not turned off (LB4_RELAY=js, read by
 * the CLI). A RelayTunnel keeps the Tunnel's contract: the same end reasons,
 * byte counts on the session and the backend, and destroy() for the drain.
 *
 * The hand-over, all in one synchronous block so that no read can come in
 * between: bytes Node already read (a peeked head given back with unshift(),
 * a request that came while we connected, a banner from a server that speaks
 * first) are written to the other side; if any write stays queued the pair
 * stays in JavaScript. Then the relay dup()s both descriptors, and the
 * net.Sockets are destroyed: that closes Node's descriptors without a FIN or
 * a reset (close() on one of two descriptors of a socket sends nothing), and
 * libuv takes them out of its epoll set before closing.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { TunnelEnd } from './tunnel.js';

interface NativeRelay {
  init(onEnd: (id: number, reason: number, errno: number, bytesIn: number, bytesOut: number) => void): Float64Array;
  adopt(clientFd: number, backendFd: number, idleMs: number): number;
  close(id: number, reason: number): void;
}

/** The relay's end codes, by number (native/relay.c, enum END_*). */
const REASONS: readonly TunnelEnd[] = ['client-close', 'backend-close', 'client-error', 'backend-error', 'idle-timeout', 'shutdown'];
const SLOT_MASK = (1 << 17) - 1;

export interface RelayOwner {
  onTunnelEnd(tunnel: RelayTunnel, reason: TunnelEnd): void;
}

/** A tunnel carried by the native relay. */
export class RelayTunnel {
  readonly backend: Backend;
  readonly id: number;
  private readonly host: RelayHost;
  private readonly owner: RelayOwner;
  private readonly slot: number;
  /** Why it ended; null while it runs. */
  reason: TunnelEnd | null = null;
  /** The socket error that ended it (errno), or 0. */
  errno = 0;
  private finalIn = 0;
  private finalOut = 0;
  /** What the backend's counters already hold of this tunnel's bytes. */
  private syncedIn = 0;
  private syncedOut = 0;
  /** Bytes already counted before the hand-over (written by JavaScript). */
  private readonly baseIn: number;
  private readonly baseOut: number;

  constructor(host: RelayHost, id: number, backend: Backend, owner: RelayOwner, baseIn: number, baseOut: number) {
    this.host = host;
    this.id = id;
    this.slot = id & SLOT_MASK;
    this.backend = backend;
    this.owner = owner;
    this.baseIn = baseIn;
    this.baseOut = baseOut;
  }

  /** Bytes client → backend so far. */
  get bytesIn(): number {
    return this.reason === null ? this.baseIn + this.host.counters[this.slot * 2] : this.finalIn;
  }

  /** Bytes backend → client so far. */
  get bytesOut(): number {
    return this.reason === null ? this.baseOut + this.host.counters[this.slot * 2 + 1] : this.finalOut;
  }

  /** Add the bytes moved since the last call to the backend's counters (for /stats and /metrics, and at the end). */
  sync(): void {
    const i = this.bytesIn;
    const o = this.bytesOut;
    this.backend.bytesIn += i - this.syncedIn;
    this.backend.bytesOut += o - this.syncedOut;
    this.syncedIn = i;
    this.syncedOut = o;
  }

  /** Close both sides now (drain deadline at shutdown, admin action); the end is reported as usual. */
  destroy(reason: TunnelEnd): void {
    if (this.reason === null) this.host.native.close(this.id, REASONS.indexOf(reason));
  }

  /** From the relay: both sockets are closed. */
  ended(code: number, errno: number, bytesIn: number, bytesOut: number): void {
    if (this.reason !== null) return;
    this.finalIn = this.baseIn + bytesIn;
    this.finalOut = this.baseOut + bytesOut;
    this.errno = errno;
    this.reason = REASONS[code] ?? 'client-close';
    this.sync();
    this.owner.onTunnelEnd(this, this.reason);
  }
}

class RelayHost {
  readonly native: NativeRelay;
  readonly counters: Float64Array;
  /** Live tunnels by slot. */
  private readonly tunnels: (RelayTunnel | undefined)[] = [];

  constructor(native: NativeRelay) {
    this.native = native;
    this.counters = native.init(this.onEnd.bind(this));
  }

  register(t: RelayTunnel): void {
    this.tunnels[t.id & SLOT_MASK] = t;
  }

  private onEnd(id: number, reason: number, errno: number, bytesIn: number, bytesOut: number): void {
    const slot = id & SLOT_MASK;
    const t = this.tunnels[slot];
    if (t === undefined || t.id !== id) return;
    this.tunnels[slot] = undefined;
    t.ended(reason, errno, bytesIn, bytesOut);
  }
}

let host: RelayHost | null | undefined;
let disabled = false;
/** Why the relay is not in use, for the start-up log; null when it is. */
let unavailable: string | null = null;

/** Use the JavaScript tunnel for every connection (LB4_RELAY=js). Call before the first connection. */
export function disableNativeRelay(): void {
  disabled = true;
}

function getHost(): RelayHost | null {
  if (host !== undefined) return host;
  host = null;
  if (disabled) {
    unavailable = 'turned off (LB4_RELAY=js)';
    return null;
  }
  if (process.platform !== 'linux') {
    unavailable = `not available on ${process.platform}`;
    return null;
  }
  try {
    const require = createRequire(import.meta.url);
    host = new RelayHost(require('../../build/Release/lb4_relay.node') as NativeRelay);
  } catch (err) {
    unavailable = `not built (${(err as Error).message.split('\n')[0]})`;
  }
  return host;
}

/** 'native' when L4 tunnels run on the native relay, else the reason they do not. */
export function relayStatus(): string {
  return getHost() !== null ? 'native' : (unavailable ?? 'off');
}

interface HandleLike {
  fd?: number;
}

function fdOf(s: Socket): number {
  const h = (s as unknown as { _handle?: HandleLike | null })._handle;
  return h && typeof h.fd === 'number' ? h.fd : -1;
}

function noop(): void {}

/** Bytes JavaScript moved during a hand-over (see offload()). */
export interface Moved {
  bytesIn: number;
  bytesOut: number;
}

/**
 * Hand a connected client/backend pair to the native relay. Returns the
 * RelayTunnel, or null: relay off or unavailable, a TLS socket on either
 * side, writes still queued, or the relay refused. On null the sockets are
 * untouched except that bytes Node had buffered may have been written to the
 * other side already; `moved` says how many, and the caller's JavaScript
 * Tunnel counts them.
 */
export function offload(client: Socket, upstream: Socket, backend: Backend, idleTimeoutMs: number, owner: RelayOwner, moved: Moved): RelayTunnel | null {
  const h = getHost();
  if (h === null) return null;
  if ((client as { encrypted?: boolean }).encrypted || (upstream as { encrypted?: boolean }).encrypted) return null;
  if (client.destroyed || upstream.destroyed) return null;
  if (client.writableLength > 0 || upstream.writableLength > 0) return null;
  const cfd = fdOf(client);
  const ufd = fdOf(upstream);
  if (cfd < 0 || ufd < 0) return null;
  if (client.readableLength > 0) {
    const head = client.read() as Buffer | null;
    if (head !== null) {
      moved.bytesIn = head.length;
      upstream.write(head);
    }
  }
  if (upstream.readableLength > 0) {
    const banner = upstream.read() as Buffer | null;
    if (banner !== null) {
      moved.bytesOut = banner.length;
      client.write(banner);
    }
  }
  // Still queued in Node (a head larger than the socket took at once): the
  // JavaScript tunnel goes on from here.
  if (client.writableLength > 0 || upstream.writableLength > 0) return null;
  const id = h.native.adopt(cfd, ufd, idleTimeoutMs);
  if (id < 0) return null;
  const t = new RelayTunnel(h, id, backend, owner, moved.bytesIn, moved.bytesOut);
  h.register(t);
  // Node's descriptors go; the relay's duplicates keep the connections.
  client.removeAllListeners();
  upstream.removeAllListeners();
  client.on('error', noop);
  upstream.on('error', noop);
  client.destroy();
  upstream.destroy();
  return t;
}
