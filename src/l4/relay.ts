/**
 * The native relay (native/relay-engine.c, bound by native/relay-addon.c)
 * seen from TypeScript: an L4 tunnel whose client and backend are both plain
 * TCP sockets can move its bytes on the relay's epoll thread instead of
 * through two net.Socket streams (why: the module comment of
 * native/relay-engine.c; numbers in perf/CHANGELOG.md).
 *
 * When: every tunnel starts as a JavaScript Tunnel, and is handed over once
 * it has proved worth it: at OFFLOAD_CHUNKS chunks (a keep-alive connection,
 * a download), or after OFFLOAD_IDLE_MS open (an idle connection, whose two
 * net.Sockets cost ~4 KB more than the relay's state). A connection that
 * carries one request and closes never pays the hand-over (measured: it
 * costs more than it saves there).
 *
 * Two levels, because the relay thread belongs to the process (one epoll
 * thread and one addon instance per process, like the event loop) while
 * everything a balancer counts or decides belongs to that balancer:
 * - the process's RelayHost (started with the first hand-over, never in a
 *   `--workers` primary, which carries none, and never for /stats alone)
 *   runs the thread and dispatches each tunnel's end to its RelayTunnel;
 * - each balancer's Relay decides whether its tunnels use the native relay
 *   at all (`relay: 'js'` turns it off: LB4_RELAY=js for the CLI), counts
 *   its own tunnels and hears about a failure of the thread. Two balancers
 *   in one process share the thread and nothing else.
 *
 * The relay is used when the addon was built (`npm ci` builds it on Linux;
 * a prebuilt one ships in the npm package; LB4_RELAY_ADDON names another
 * build, such as the sanitizer build of `make native-asan`). A RelayTunnel keeps the
 * Tunnel's contract: the same end reasons, byte counts on the session and
 * the backend, and destroy() for the drain.
 *
 * Should the relay thread ever stop (its epoll set failing), its tunnels end
 * (reset both sides, reason `shutdown`), the failure is logged at error
 * (`"msg":"l4 relay failed"`, through watchRelayFailure) and new tunnels stay
 * in JavaScript; /stats then says `mode: "js"` and why.
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
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { Tunnel, TunnelEnd } from './tunnel.js';
import { nativeAddonPath } from './addon-path.js';

interface NativeStats {
  live: number;
  highSlot: number;
  pipes: number;
  pipesOpened: number;
  pipesRefused: number;
  failed: number;
}

interface NativeRelay {
  /** The end reasons' names in the engine's order (native/relay-engine.h, RELAY_END_LIST). */
  readonly reasons: readonly string[];
  init(
    onEnd: (id: number, reason: number, errno: number, bytesIn: number, bytesOut: number) => void,
    onFail: (errno: number, message: string) => void,
    options?: { pipeSize?: number },
  ): Float64Array;
  adopt(clientFd: number, backendFd: number, idleMs: number, idleSoFarMs: number): number;
  close(id: number, reason: number): void;
  stats(): NativeStats;
  stop(): void;
  trim(): boolean;
  raiseNofile(): { soft: number; hard: number };
}

/**
 * The relay's end codes, by number: the order of RELAY_END_LIST in
 * native/relay-engine.h. The addon exports its list (`reasons`); a
 * different one (a stale build) is refused at load, and
 * test/unit/relay-addon.test.ts compares the two.
 */
export const REASONS: readonly TunnelEnd[] = ['client-close', 'backend-close', 'client-error', 'backend-error', 'idle-timeout', 'shutdown'];
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

  /** The balancer's relay that counts this tunnel. */
  private readonly relay: Relay;

  constructor(host: RelayHost, relay: Relay, id: number, backend: Backend, owner: RelayOwner, baseIn: number, baseOut: number) {
    this.host = host;
    this.relay = relay;
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
    this.relay.live--;
    this.sync();
    this.owner.onTunnelEnd(this, this.reason);
  }
}

/** The process's relay thread (one per process; see the module comment). */
class RelayHost {
  readonly native: NativeRelay;
  readonly counters: Float64Array;
  /** Why the relay thread stopped, once it did (new tunnels then stay in JavaScript). */
  failed: string | null = null;
  /** The balancers' relays, told when the thread stops. */
  readonly relays = new Set<Relay>();
  /** Live tunnels by slot. */
  private readonly tunnels: (RelayTunnel | undefined)[] = [];

  constructor(native: NativeRelay, pipeSize: number) {
    this.native = native;
    this.counters = native.init(this.onEnd.bind(this), this.onFail.bind(this), pipeSize > 0 ? { pipeSize } : {});
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

  /** The relay thread stopped (its tunnels were reported just before). */
  private onFail(errno: number, message: string): void {
    this.failed = message;
    for (const r of this.relays) r.failed(message, errno);
  }
}

/** Process switches for the relay thread (configureRelay). */
let addonPath: string | null = null;
let pipeSize = 0;
/** The process's relay thread: undefined before it started, null when it cannot run here (no addon). */
let processHost: RelayHost | null | undefined;
/** After a failed start (out of descriptors...), not before this time (ms since the epoch). */
let hostRetryAt = 0;
const HOST_RETRY_MS = 5000;

/**
 * Read the relay thread's process switches from the environment (the CLI
 * passes process.env; they apply to `--workers` children too, which
 * inherit it):
 * - LB4_RELAY_ADDON=FILE: load this build of the addon instead of the
 *   built or prebuilt one (the sanitizer build: make test-native-asan);
 * - LB4_RELAY_PIPE_SIZE=BYTES: the splice pipe size to ask for (default
 *   262144); a pipe the kernel gives smaller than 64 KiB is not used, so a
 *   value below that keeps every direction copying.
 * (LB4_RELAY=js is a balancer option: the CLI passes `relay: 'js'`.)
 * Returns a problem to report (exit 2), or null. Call before the first connection.
 */
export function configureRelay(env: NodeJS.ProcessEnv): string | null {
  const file = env.LB4_RELAY_ADDON;
  if (file !== undefined && file !== '') addonPath = isAbsolute(file) ? file : resolve(file);
  const size = env.LB4_RELAY_PIPE_SIZE;
  if (size !== undefined && size !== '') {
    if (!/^\d+$/.test(size) || Number(size) < 1 || Number(size) > 1 << 30) return `LB4_RELAY_PIPE_SIZE: expected a number of bytes from 1 to ${1 << 30}, got ${JSON.stringify(size)}`;
    pipeSize = Number(size);
  }
  return null;
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
  let native: NativeRelay;
  try {
    const require = createRequire(import.meta.url);
    native = require(addonPath ?? nativeAddonPath()) as NativeRelay;
  } catch (err) {
    loadError = `${addonPath === null ? 'not built' : `cannot load ${addonPath}`} (${(err as Error).message.split('\n')[0]})`;
    return null;
  }
  const names = Array.isArray(native.reasons) ? native.reasons : [];
  if (names.length !== REASONS.length || names.some((n, i) => n !== REASONS[i])) {
    loadError = `the addon's end reasons (${names.join(', ')}) are not this build's: rebuild it (make native)`;
    return null;
  }
  addon = native;
  return addon;
}

/** Why the process's relay thread cannot carry tunnels, or null when it can (or could start). */
function hostProblem(): string | null {
  if (processHost) return processHost.failed === null ? null : `failed: ${processHost.failed}`;
  return loadAddon() === null ? (loadError ?? 'off') : null;
}

/** The process's relay thread, started on first use; null where tunnels stay in JavaScript. */
function getHost(): RelayHost | null {
  if (processHost !== undefined) return processHost !== null && processHost.failed === null ? processHost : null;
  if (Date.now() < hostRetryAt) return null;
  const native = loadAddon();
  if (native === null) {
    processHost = null;
    return null;
  }
  try {
    processHost = new RelayHost(native, pipeSize);
  } catch (err) {
    // Starting the thread needs descriptors (epoll, eventfd) that a busy
    // lb4 may lack right now: tunnels stay in JavaScript, and the next
    // hand-over tries again a few seconds later.
    loadError = (err as Error).message;
    hostRetryAt = Date.now() + HOST_RETRY_MS;
    return null;
  }
  // Stop and join the relay thread and free its memory on the way out
  // (process.exit included), so nothing runs while the process tears down
  // and a leak checker sees everything freed.
  process.once('exit', () => native.stop());
  return processHost;
}

/** /stats `relay`: what carries L4 tunnels here, and the relay's counters. */
export interface RelayStats {
  mode: 'native' | 'js';
  /** This balancer's tunnels on the relay now, and handed over since start. */
  tunnels: number;
  total: number;
  /** Native: the process's directions on splice(2) now, and pipes given up because the kernel gave less than 64 KiB. */
  pipes?: number;
  pipes_refused?: number;
  /** js: why. */
  reason?: string;
}

export interface RelayOptions {
  /** `js`: every L4 tunnel in JavaScript, none on the native relay (LB4_RELAY=js). Default `native` where it can run. */
  relay?: 'native' | 'js';
}

/**
 * One balancer's view of the native relay: whether its tunnels use it, its
 * own counts, and the failure of the thread. See the module comment.
 */
export class Relay {
  private readonly off: boolean;
  /** This balancer's tunnels on the relay now, and handed over since start. */
  live = 0;
  total = 0;
  private readonly failureListeners = new Set<(message: string, errno: number) => void>();

  constructor(opts: RelayOptions = {}) {
    this.off = opts.relay === 'js';
  }

  /** Why this balancer's tunnels stay in JavaScript, or null when the native relay carries them. */
  whyNot(): string | null {
    return this.off ? 'turned off (LB4_RELAY=js)' : hostProblem();
  }

  /**
   * Load the addon now (at start) rather than with the first tunnel: a
   * dlopen() needs descriptors that a busy lb4 may not have then. The
   * thread itself still starts with the first hand-over.
   */
  preload(): void {
    if (!this.off) loadAddon();
  }

  /** True when tunnels can be handed to the native relay (starts the process's relay thread on first use). */
  available(): boolean {
    return !this.off && getHost() !== null;
  }

  /** For /stats: how tunnels move bytes, and how many the relay carries now and has carried. Never starts the thread. */
  stats(): RelayStats {
    const why = this.whyNot();
    if (why !== null) return { mode: 'js', tunnels: 0, total: this.total, reason: why };
    if (!processHost) return { mode: 'native', tunnels: 0, total: 0, pipes: 0, pipes_refused: 0 };
    const st = processHost.native.stats();
    return { mode: 'native', tunnels: this.live, total: this.total, pipes: st.pipes, pipes_refused: st.pipesRefused };
  }

  /**
   * The start-up line `"msg":"l4 relay"`: which relay carries L4 tunnels
   * (`native`, or `js` with the reason). Loads the addon; starts nothing.
   */
  plan(mode: 'l4' | 'l7'): { mode: 'native' | 'js'; reason?: string } {
    if (mode === 'l7') return { mode: 'js', reason: 'not used with --mode l7 (the relay carries L4 tunnels)' };
    const why = this.whyNot();
    return why === null ? { mode: 'native' } : { mode: 'js', reason: why };
  }

  /** Call `listener` (message, errno) if the relay thread stops; returns the function that stops listening. */
  onFailure(listener: (message: string, errno: number) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  /** @internal from the process's relay thread. */
  failed(message: string, errno: number): void {
    for (const l of this.failureListeners) l(message, errno);
  }

  /**
   * Hand a running JavaScript Tunnel to the native relay. Returns the
   * RelayTunnel that goes on in its place, or null when it cannot be handed
   * over now (relay off or unavailable, TLS on either side, a side already
   * ended, bytes buffered or writes queued in Node, or the relay refused);
   * the JavaScript Tunnel then simply goes on.
   */
  handOver(tunnel: Tunnel, owner: RelayOwner, idleTimeoutMs: number): RelayTunnel | null {
    if (this.off) return null;
    const h = getHost();
    if (h === null) return null;
    h.relays.add(this);
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
    const t = new RelayTunnel(h, this, id, tunnel.backend, owner, tunnel.bytesIn, tunnel.bytesOut);
    h.register(t);
    this.live++;
    this.total++;
    tunnel.detach();
    // Node's descriptors go; the relay's duplicates keep the connections.
    client.on('error', noop);
    upstream.on('error', noop);
    client.destroy();
    upstream.destroy();
    return t;
  }

  /** Stop hearing about the process's relay thread (the balancer stopped). */
  close(): void {
    processHost?.relays.delete(this);
    this.failureListeners.clear();
  }
}

/**
 * Raise the soft RLIMIT_NOFILE to the hard limit where it can (through the
 * addon; Node itself usually did at start-up) and say what the process
 * runs with. Without the addon, the limits read from /proc/self/limits;
 * null when neither is possible. -1: unlimited.
 */
export function raiseFdLimit(): { soft: number; hard: number } | null {
  const native = process.platform === 'linux' ? loadAddon() : null;
  if (native !== null) {
    try {
      return native.raiseNofile();
    } catch {
      // fall through to reading the limits
    }
  }
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    const n = (v: string): number => (v === 'unlimited' ? -1 : Number(v));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return null;
  }
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
