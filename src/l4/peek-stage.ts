/**
 * The peek stage between accept and dispatch (docs/architecture.md, "The data path", step 2), for the
 * listeners that need one (decided once per listener: --accept-proxy, or a
 * config `sni:` map):
 *
 * 1. PROXY header (--accept-proxy): a peer outside --accept-proxy-from is
 *    closed at once; otherwise a v1 or v2 header (auto-detected) must arrive
 *    within --peek-timeout and its bounds (v1 107 bytes, v2 16 + length). It
 *    is consumed; the bytes after it are given back to the socket. Its source
 *    becomes the client IP (LOCAL and UNKNOWN keep the socket peer). A
 *    failing CRC32C TLV is rejected (spec 2.2.3).
 * 2. TLS: a listener with a certificate and --accept-proxy runs its
 *    handshake now (deferred TLS), within --handshake-timeout.
 * 3. Route: by client first (config `clientRoutes:`, the client IP after
 *    the PROXY header; src/core/client-router.ts), then by server name
 *    (config `sni:`): terminated TLS uses the
 *    handshake's SNI; a passthrough listener (no certificate) peeks the
 *    ClientHello (--sni-max-bytes, --peek-timeout) and gives it back whole,
 *    so the backend gets the untouched bytes. Names that match no route, and
 *    hellos without SNI, go to the default pool; non-TLS bytes or a
 *    malformed hello are closed (`tls-error`).
 *
 * Failures end with `proxy-error` or `tls-error` through PeekHost.peekFailed;
 * a client that closes before sending anything ends `client-close`.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/types.js';
import type { Pool } from '../core/pool.js';
import { CidrSet } from '../core/cidr.js';
import type { Listener } from './listener.js';
import { normalizeIp } from '../core/address.js';
import type { EndReason } from '../core/ends.js';
import { peek, PEEK_MORE, type PeekFailure, type PeekVerdict } from './peek.js';
import { parseProxyHeader, PROXY_V2_MAX_LENGTH, type ProxyHeader } from './proxy-protocol.js';
import { parseClientHello, SniRouter, type ClientHelloOk } from './sni.js';
import type { ClientFacts } from './upstream.js';

/** What the peek stage needs from the balancer. */
export interface PeekHost {
  readonly config: Config;
  readonly pools: ReadonlyMap<string, Pool>;
  /** The pool used when no route says otherwise. */
  readonly pool: Pool;
  /** The pool `clientRoutes:` sends client `ip` to (checked before `sni:`), or null. */
  clientPool(ip: string): Pool | null;
  /** Hand the client on (the exchange stage). */
  dispatch(socket: Socket, listener: Listener, pool: Pool, facts: ClientFacts, startedAt: number): void;
  /** The peek failed: close, count, log (`end`). */
  peekFailed(socket: Socket, listener: Listener, end: EndReason, clientIp: string, startedAt: number, reason: string): void;
}

interface ProxyPeek {
  header: ProxyHeader;
  length: number;
}

function parseProxy(buf: Buffer): PeekVerdict<ProxyPeek> {
  const r = parseProxyHeader(buf);
  if (r.status === 'incomplete') return PEEK_MORE;
  if (r.status === 'error') return { kind: 'fail', reason: r.reason };
  if (r.header.crc32cOk === false) return { kind: 'fail', reason: 'PROXY v2 CRC32C mismatch' };
  return { kind: 'done', result: { header: r.header, length: r.length } };
}

export class PeekStage {
  private readonly host: PeekHost;
  /** Built per config (SIGHUP may change them). */
  private builtFor: Config | null = null;
  private trusted: CidrSet = new CidrSet([]);
  private router: SniRouter<string> | null = null;

  constructor(host: PeekHost) {
    this.host = host;
  }

  /** Does a client of `listener` go through this stage? */
  needed(listener: Listener): boolean {
    return listener.acceptProxy || this.host.config.sni.length > 0;
  }

  private refresh(): Config {
    const c = this.host.config;
    if (this.builtFor !== c) {
      this.builtFor = c;
      this.trusted = new CidrSet(c.acceptProxyFrom);
      this.router = c.sni.length > 0 ? new SniRouter(c.sni.map((r) => ({ pattern: r.pattern, target: r.pool })), c.defaultPool) : null;
    }
    return c;
  }

  /** Run the stage for one accepted client; ends in dispatch() or peekFailed(). */
  run(socket: Socket, listener: Listener): void {
    const c = this.refresh();
    const startedAt = Date.now();
    const peerIp = normalizeIp(socket.remoteAddress);
    const peerPort = socket.remotePort ?? 0;
    if (!listener.acceptProxy) {
      this.afterProxy(socket, listener, { ip: peerIp, port: peerPort, proxy: null, serverName: null }, startedAt);
      return;
    }
    if (!this.trusted.has(peerIp)) {
      this.host.peekFailed(socket, listener, 'proxy-error', peerIp, startedAt, `peer ${peerIp} is not in --accept-proxy-from`);
      return;
    }
    peek(socket, PROXY_V2_MAX_LENGTH, c.peekTimeout, parseProxy, {
      done: (r, buf) => {
        if (buf.length > r.length) socket.unshift(buf.subarray(r.length));
        const h = r.header;
        const real = h.command === 'PROXY' && h.sourceAddress !== undefined && (h.family === 'TCP4' || h.family === 'TCP6');
        const facts: ClientFacts = {
          ip: real ? normalizeIp(h.sourceAddress) : peerIp,
          port: real ? (h.sourcePort ?? 0) : peerPort,
          proxy: h,
          serverName: null,
        };
        this.afterProxy(socket, listener, facts, startedAt);
      },
      fail: (why, reason, got) => this.failed(socket, listener, 'proxy-error', why, reason, got, peerIp, startedAt),
    });
  }

  private failed(socket: Socket, listener: Listener, end: EndReason, why: PeekFailure, reason: string, got: number, ip: string, startedAt: number): void {
    if (why === 'closed' && got === 0) end = 'client-close';
    else if (why === 'error' && got === 0) end = 'client-error';
    this.host.peekFailed(socket, listener, end, ip, startedAt, reason);
  }

  private afterProxy(socket: Socket, listener: Listener, facts: ClientFacts, startedAt: number): void {
    const c = this.host.config;
    if (listener.deferredTls) {
      listener.startTls(socket, (err, tlsSocket, end) => {
        if (err || !tlsSocket) {
          this.host.peekFailed(socket, listener, end ?? 'tls-error', facts.ip, startedAt, err ? err.message : 'handshake failed');
          return;
        }
        this.routeTerminated(tlsSocket, listener, facts, startedAt);
      });
      return;
    }
    if (listener.tls) {
      this.routeTerminated(socket as TLSSocket, listener, facts, startedAt);
      return;
    }
    if (this.router === null) {
      this.route(socket, listener, facts, startedAt);
      return;
    }
    // passthrough: peek the ClientHello, give it back whole
    const max = c.sniMaxBytes;
    const parseHello = (buf: Buffer): PeekVerdict<ClientHelloOk> => {
      const r = parseClientHello(buf, max);
      if (r.status === 'incomplete') return PEEK_MORE;
      if (r.status === 'ok') return { kind: 'done', result: r };
      return { kind: 'fail', reason: r.reason };
    };
    peek(socket, max + 1024, c.peekTimeout, parseHello, {
      done: (hello, buf) => {
        socket.unshift(buf);
        this.route(socket, listener, { ...facts, serverName: hello.serverName }, startedAt);
      },
      fail: (why, reason, got) => this.failed(socket, listener, 'tls-error', why, reason, got, facts.ip, startedAt),
    });
  }

  private routeTerminated(socket: TLSSocket, listener: Listener, facts: ClientFacts, startedAt: number): void {
    const sn = (socket as TLSSocket & { servername?: string | false }).servername;
    this.route(socket, listener, { ...facts, serverName: typeof sn === 'string' && sn.length > 0 ? sn.toLowerCase() : null }, startedAt);
  }

  /** Client routes first (by the client IP after the PROXY header), then `sni:`, then the default pool. */
  private route(socket: Socket, listener: Listener, facts: ClientFacts, startedAt: number): void {
    const byClient = this.host.clientPool(facts.ip);
    let pool = byClient ?? this.host.pool;
    if (byClient === null && this.router !== null) {
      const name = this.router.route(facts.serverName);
      pool = (name !== undefined ? this.host.pools.get(name) : undefined) ?? this.host.pool;
    }
    this.host.dispatch(socket, listener, pool, facts, startedAt);
  }
}
