/**
 * The native relay (native/relay.c) seen from TypeScript: an L4 tunnel whose
 * client and backend are both plain TCP sockets can move its bytes on the
 * relay's epoll thread instead of through two net.Socket streams (why: the
 * module comment of native/relay.c; numbers in perf/CHANGELOG.md).
 *
 * When: every tunnel starts as a JavaScript Tunnel, and is handed over once
 * it has proved worth it: at OFFLOAD_CHUNKS chunks (a keep-alive connection,
 * a download), or after OFFLOAD_IDLE_MS open (an idle connection, whose two
 * net.Sockets cost ~4 KB more than the relay's state). A connection that
 * carries one request and closes never pays the hand-over (measured: it
 * costs more than it saves there).
 *
 * The relay is used when the addon was built (`npm ci` builds it on Linux,
 * build/Release/lb4_relay.node) and not turned off (LB4_RELAY=js, read by
 * the CLI). A RelayTunnel keeps the Tunnel's contract: the same end reasons,
 * byte counts on the session and the backend, and destroy() for the drain.
 *
 * The hand-over is one synchronous block, so that no read can come in
 * between, and only happens when Node holds nothing of the tunnel's bytes
 * (nothing buffered, no write queued, no half-close started). The relay
 * dup()s both descriptors, then the net.Sockets are destroyed: that closes
 * Node's descriptors without a FIN or a reset (close() on one of two
 * descriptors of a socket sends nothing), and libuv takes them out of its
 * epoll set before closing.
 */
/** Chunks (either way) after which a JavaScript Tunnel is handed over; and again this many later when it could not be. */
export const OFFLOAD_CHUNKS = 16;
/** Age after which an open JavaScript Tunnel is handed over, busy or not (the balancer sweeps once a second). */
export const OFFLOAD_IDLE_MS = 1000;

import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { Tunnel, TunnelEnd } from './tunnel.js';
import { nativeAddonPath } from './addon-path.js';

interface NativeRelay {
  init(onEnd: (id: number, reason: number, errno: number, bytesIn: number, bytesOut: number) => void): Float64Array;
  adopt(clientFd: number, backendFd: number, idleMs: number, idleSoFarMs: number): number;
  close(id: number, reason: number): void;
  trim(): boolean;
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
  private syncedIn: number;
  private syncedOut: number;
  /** Bytes the JavaScript Tunnel moved before the hand-over (already on the backend's counters). */
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
    this.syncedIn = baseIn;
    this.syncedOut = baseOut;
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
  /** Tunnels on the relay now, and handed over since start. */
  live = 0;
  total = 0;
  /** Live tunnels by slot. */
  private readonly tunnels: (RelayTunnel | undefined)[] = [];

  constructor(native: NativeRelay) {
    this.native = native;
    this.counters = native.init(this.onEnd.bind(this));
  }

  register(t: RelayTunnel): void {
    this.tunnels[t.id & SLOT_MASK] = t;
    this.live++;
    this.total++;
  }

  private onEnd(id: number, reason: number, errno: number, bytesIn: number, bytesOut: number): void {
    const slot = id & SLOT_MASK;
    const t = this.tunnels[slot];
    if (t === undefined || t.id !== id) return;
    this.tunnels[slot] = undefined;
    this.live--;
    t.ended(reason, errno, bytesIn, bytesOut);
  }
}

let host: RelayHost | null | undefined;
let disabled = false;

/** Use the JavaScript tunnel for every connection (LB4_RELAY=js). Call before the first connection. */
export function disableNativeRelay(): void {
  disabled = true;
}

let addon: NativeRelay | null | undefined;
/** Why the addon did not load, when it did not. */
let loadError: string | null = null;

/** The addon itself, loaded once (also for trim() when the relay is off); null where it was not built. */
function loadAddon(): NativeRelay | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== 'linux') {
    loadError = `not available on ${process.platform}`;
    return null;
  }
  try {
    const require = createRequire(import.meta.url);
    addon = require(nativeAddonPath()) as NativeRelay;
  } catch (err) {
    loadError = `not built (${(err as Error).message.split('\n')[0]})`;
  }
  return addon;
}

function getHost(): RelayHost | null {
  if (host !== undefined) return host;
  host = null;
  if (disabled) return null;
  const native = loadAddon();
  if (native !== null) host = new RelayHost(native);
  return host;
}

/** For /stats: how tunnels move bytes, and how many the relay carries now and has carried. */
export function relayStats(): { mode: 'native' | 'js'; tunnels: number; total: number; reason?: string } {
  const h = getHost();
  if (h === null) return { mode: 'js', tunnels: 0, total: 0, reason: disabled ? 'turned off (LB4_RELAY=js)' : (loadError ?? 'off') };
  return { mode: 'native', tunnels: h.live, total: h.total };
}

interface HandleLike {
  fd?: number;
}

function fdOf(s: Socket): number {
  const h = (s as unknown as { _handle?: HandleLike | null })._handle;
  return h && typeof h.fd === 'number' ? h.fd : -1;
}

function noop(): void {}

/**
 * Give the C heap's free memory back to the system (glibc malloc_trim, from
 * the relay's addon); false when the addon is not loaded. See src/reclaim.ts.
 */
export function trimNativeHeap(): boolean {
  const native = loadAddon();
  return native !== null && native.trim();
}

/** True when tunnels can be handed to the native relay in this process. */
export function relayAvailable(): boolean {
  return getHost() !== null;
}

/**
 * Hand a running JavaScript Tunnel to the native relay. Returns the
 * RelayTunnel that goes on in its place, or null when it cannot be handed
 * over now (relay off or unavailable, TLS on either side, a side already
 * ended, bytes buffered or writes queued in Node, or the relay refused); the
 * JavaScript Tunnel then simply goes on.
 */
export function handOver(tunnel: Tunnel, owner: RelayOwner, idleTimeoutMs: number): RelayTunnel | null {
  const h = getHost();
  if (h === null) return null;
  const client = tunnel.client;
  const upstream = tunnel.upstream;
  if ((client as { encrypted?: boolean }).encrypted || (upstream as { encrypted?: boolean }).encrypted) return null;
  if (client.destroyed || upstream.destroyed) return null;
  // half-closes in flight stay with the JavaScript tunnel, which saw them start
  if (client.readableEnded || upstream.readableEnded || client.writableEnded || upstream.writableEnded) return null;
  // nothing may sit in Node's buffers: the relay starts from the kernel's
  if (client.readableLength > 0 || upstream.readableLength > 0) return null;
  if (client.writableLength > 0 || upstream.writableLength > 0) return null;
  const cfd = fdOf(client);
  const ufd = fdOf(upstream);
  if (cfd < 0 || ufd < 0) return null;
  const id = h.native.adopt(cfd, ufd, idleTimeoutMs, Math.max(0, Date.now() - tunnel.lastActive));
  if (id < 0) return null;
  const t = new RelayTunnel(h, id, tunnel.backend, owner, tunnel.bytesIn, tunnel.bytesOut);
  h.register(t);
  tunnel.detach();
  // Node's descriptors go; the relay's duplicates keep the connections.
  client.on('error', noop);
  upstream.on('error', noop);
  client.destroy();
  upstream.destroy();
  return t;
}
