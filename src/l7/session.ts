/**
 * One client connection in L7 mode (--mode l7): the exchange stage of
 * DESIGN.md for HTTP/1.1. One request at a time:
 *
 *   read head → route (Host, path) → pick a backend (per request) → take an
 *   idle upstream connection or connect (retries on other backends, or wait
 *   in the queue) → forward the rewritten head and the body → parse the
 *   response, rewrite its head, stream its body → account and log → next
 *   request (keep-alive) or close.
 *
 * Rules (SPEC section 7):
 * - Bytes go out only after the request parser accepted them. A whole read
 *   is parsed before anything of it is forwarded, so a malformed head, or a
 *   malformed body chunk in the same read as its head, forwards nothing
 *   (400, or 431 for the limits). Once body bytes went out, a later framing
 *   error closes both sides.
 * - The request parser pauses after each message (pauseOnComplete) and the
 *   client socket is paused until the response is complete: pipelined
 *   requests are answered in order and unread requests stay in the kernel's
 *   buffers (backpressure).
 * - Body bytes are forwarded as read (framing included), never copied or
 *   buffered whole; a full socket on the far side pauses the near one.
 * - The response is parsed (response-type llhttp) only to know where it ends
 *   (HEAD, 1xx, 204, 304, Content-Length, chunked, close-delimited) and to
 *   rewrite its hop-by-hop headers: client and backend persistence are
 *   managed independently.
 * - A 101 answer to an upgrade request turns the connection into an L4
 *   Tunnel to that backend for the rest of its life. CONNECT gets 405.
 *
 * Timers: one per session, re-armed per phase (header, keep-alive, queue,
 * server), never per chunk. Upstream inactivity uses the upstream socket's
 * own timeout. Handlers are bound once; no closure per request or chunk.
 */
import { isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Backend } from '../core/backend.js';
import type { LbError } from '../core/errors.js';
import type { Queued } from '../core/wait-queue.js';
import type { Pool } from '../core/pool.js';
import { hashString } from '../core/hash.js';
import { ConnectAttempt, type ConnectOwner } from '../l4/connector.js';
import { Tunnel, type TunnelEnd, type TunnelOwner } from '../l4/tunnel.js';
import { normalizeIp, type SessionEnd } from '../l4/session.js';
import { proxyHeaderToSend, proxyVersionFor, upstreamTlsOptions, type ClientFacts } from '../l4/upstream.js';
import type { ClientSession, ListenerStats, QueuedClient } from '../runtime.js';
import { formatHostPort } from '../config/parse.js';
import { ExecResult, HEADERS_TOO_LARGE, HeadersAction, HttpParser, TOO_MANY_HEADERS, type ParsedHead, type ParserHandler } from './parser.js';
import { clientIpFrom, CONN_CLOSE, CONN_KEEPALIVE, CONN_UPGRADE, PROTO_HTTP, PROTO_HTTPS, rewriteHead, type HeadEdits } from './forwarded.js';
import { normalizeHost } from './router.js';
import { latencyOf } from './latency.js';
import type { L7Context } from './context.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-pool.js';

// Session states.
const S_HEAD = 0; // reading a request head (or idle between requests)
const S_WAIT = 1; // head parsed: choosing, queued or connecting (client paused)
const S_PROXY = 2; // request sent (its body may still stream); response expected or streaming
const S_CLOSING = 3; // last answer written; waiting for the client to go
const S_TUNNEL = 4; // upgraded: a Tunnel owns both sockets
const S_DONE = 5;

// Timer kinds.
const T_NONE = 0;
const T_HEADER = 1;
const T_KEEPALIVE = 2;
const T_QUEUE = 3;
const T_SERVER = 4;
const T_LINGER = 5;

/** How long a closing client may keep sending before it is cut (lingering close). */
const LINGER_MS = 2000;
/** Response heads may be larger than request heads (Set-Cookie...). */
const RESPONSE_LIMITS = { maxHeaderSize: 65536, maxHeaders: 256 };

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function localResponse(status: number, close: boolean, extra = ''): Buffer {
  const text = STATUS_TEXT[status] ?? 'Error';
  const body = `${status} ${text}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nCache-Control: no-store\r\n${extra}` +
      `Connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${body}`,
    'latin1',
  );
}

/** Prebuilt answers (allocated once). */
const ANSWERS: Record<number, Buffer> = {};
for (const s of [400, 408, 431, 502, 503, 504]) ANSWERS[s] = localResponse(s, true);
ANSWERS[405] = localResponse(405, true, 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE\r\n');
const MONITOR_OK = localResponse(200, false);
const MONITOR_DOWN = localResponse(503, false);
const MONITOR_OK_CLOSE = localResponse(200, true);
const MONITOR_DOWN_CLOSE = localResponse(503, true);

/** RFC 9110 section 9.2.2: requests that may be repeated. */
function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'TRACE':
    case 'PUT':
    case 'DELETE':
      return true;
    default:
      return false;
  }
}

/** The request target's path (before `?`). Allocates only when there is a query. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** Value of cookie `name` over every Cookie header, or undefined. */
function cookieValue(head: ParsedHead, name: string): string | undefined {
  for (let i = head.findHeader('cookie'); i >= 0; i = head.findHeader('cookie', i + 1)) {
    const v = head.headerValues[i]!;
    let pos = 0;
    while (pos < v.length) {
      let semi = v.indexOf(';', pos);
      if (semi < 0) semi = v.length;
      let s = pos;
      while (s < semi && (v.charCodeAt(s) === 0x20 || v.charCodeAt(s) === 0x09)) s++;
      if (semi - s > name.length && v.charCodeAt(s + name.length) === 0x3d && v.startsWith(name, s)) {
        return v.slice(s + name.length + 1, semi).trim();
      }
      pos = semi + 1;
    }
  }
  return undefined;
}

/** Request-side parser events, forwarded to the session (one per session, no closures). */
class RequestEvents implements ParserHandler {
  constructor(private readonly s: L7Session) {}
  onMessageBegin(start: number): void {
    this.s.reqBegin(start);
  }
  onHeadersComplete(head: ParsedHead): number {
    return this.s.reqHead(head);
  }
  onBody(): void {}
  onMessageComplete(): void {
    this.s.reqComplete = true;
  }
}

/** Response-side parser events. */
class ResponseEvents implements ParserHandler {
  constructor(private readonly s: L7Session) {}
  onMessageBegin(start: number): void {
    this.s.resBegin(start);
  }
  onHeadersComplete(head: ParsedHead): number {
    return this.s.resHeadDone(head);
  }
  onBody(): void {}
  onMessageComplete(): void {
    this.s.resMsgComplete = true;
  }
}

export class L7Session implements ConnectOwner, UpstreamOwner, TunnelOwner, QueuedClient, ClientSession {
  readonly ctx: L7Context;
  readonly client: Socket;
  readonly listener: ListenerStats;
  readonly startedAt: number;
  readonly clientAddress: string;
  /** The client IP before X-Forwarded-For (the PROXY-protocol source, else the socket peer). */
  readonly peerIp: string;
  /** The client IP of the last request (after trusted X-Forwarded-For). */
  clientIp: string;
  /** Pool of the current request. */
  pool: Pool;
  /** The last backend used. */
  backend: Backend | null = null;
  retries = 0;
  /** Who the client is, for the PROXY header sent to backends that want one. */
  private readonly facts: ClientFacts;
  /**
   * Idle keep-alive connections to backends that get a PROXY header: a
   * header names one client, so such a connection is never shared with
   * another client session (HAProxy marks them private the same way); at
   * most one per backend, closed with the session.
   */
  private privateUps: UpstreamConn[] | null = null;
  bytesIn = 0;
  bytesOut = 0;
  requests = 0;
  qPrev: Queued | null = null;
  qNext: Queued | null = null;
  queued = false;

  private state = S_HEAD;
  private readonly https: boolean;
  private readonly reqParser: HttpParser;
  private readonly resParser: HttpParser;
  private timer: NodeJS.Timeout | null = null;
  private timerKind = T_NONE;
  private timerMs = 0;
  private endReason: SessionEnd = 'client-close';
  private clientErrored = false;
  private clientEnded = false;
  private tunnel: Tunnel | null = null;

  // The chunk being parsed and where that execute() started.
  private cur: Buffer | null = null;
  private curOff = 0;
  /** Offset in `cur` where the current message began, or -1. */
  private msgStart = -1;
  /** Head bytes from earlier reads (heads split over reads), or null. */
  private spill: Buffer | null = null;
  /** Unparsed client bytes (the next pipelined request, or bytes after an upgrade request). */
  private rest: Buffer | null = null;
  private restOff = 0;

  // The current request.
  head: ParsedHead | null = null;
  private headRaw: Buffer | null = null;
  reqComplete = false;
  private pendingBody: Buffer | null = null;
  private outHead: Buffer | null = null;
  private upgrading = false;
  private clientKeepAlive = false;
  private isHeadRequest = false;
  private reqStartedAt = 0;
  private reqBytesIn = 0;
  private reqBytesOut = 0;
  private reqRetries = 0;
  private attemptNo = 0;
  private avoid: Backend | null = null;
  private key = 0;
  private reqBackend: Backend | null = null;
  private counted = false;
  private connecting: ConnectAttempt | null = null;
  private up: UpstreamConn | null = null;
  private replayable = false;
  private replayed = false;

  // The current response.
  private rcur: Buffer | null = null;
  private rcurOff = 0;
  private resMsgStart = -1;
  private resSpill: Buffer | null = null;
  private resHead: ParsedHead | null = null;
  private resHeadRaw: Buffer | null = null;
  resMsgComplete = false;
  private resStarted = false;
  private resHeadSent = false;
  private status = 0;

  private readonly edits: HeadEdits = { xff: '', protoLine: '', upgrading: false, connectionLine: '' };
  private readonly resEdits: HeadEdits = { xff: '', protoLine: '', upgrading: false, connectionLine: '' };

  constructor(ctx: L7Context, client: Socket, listener: ListenerStats, clientIp?: string, startedAt?: number, facts?: ClientFacts) {
    this.ctx = ctx;
    this.client = client;
    this.listener = listener;
    this.startedAt = startedAt ?? Date.now();
    const peer = normalizeIp(client.remoteAddress);
    this.clientAddress = formatHostPort(peer, client.remotePort ?? 0);
    this.peerIp = clientIp !== undefined && clientIp !== '' ? clientIp : peer;
    this.clientIp = this.peerIp;
    this.facts = facts ?? { ip: this.peerIp, port: client.remotePort ?? 0, proxy: null, serverName: null };
    this.pool = ctx.host.pool;
    this.https = (client as TLSSocket).encrypted === true;
    const c = ctx.host.config;
    this.reqParser = new HttpParser('request', new RequestEvents(this), { maxHeaderSize: c.maxHeaderSize, maxHeaders: c.maxHeaders });
    this.reqParser.pauseOnComplete = true;
    this.resParser = new HttpParser('response', new ResponseEvents(this), RESPONSE_LIMITS);
    this.resParser.pauseOnComplete = true;
    this.onClientData = this.onClientData.bind(this);
    this.onClientEnd = this.onClientEnd.bind(this);
    this.onClientError = this.onClientError.bind(this);
    this.onClientClose = this.onClientClose.bind(this);
    this.onClientDrain = this.onClientDrain.bind(this);
    this.onTimer = this.onTimer.bind(this);
    this.onClientFinish = this.onClientFinish.bind(this);
  }

  /** Start reading requests. */
  start(): void {
    const c = this.client;
    c.on('data', this.onClientData);
    c.on('end', this.onClientEnd);
    c.on('error', this.onClientError);
    c.on('close', this.onClientClose);
    c.on('drain', this.onClientDrain);
    // idle until the first byte (keep-alive rule), then --header-timeout (SPEC section 2: after its first byte)
    this.arm(T_KEEPALIVE, this.ctx.host.config.keepaliveTimeout);
    if (c.destroyed) {
      this.onClientClose();
      return;
    }
    if (c.isPaused()) c.resume();
  }

  // ---- timers ----

  /**
   * Set the session's one timer. Disarming only forgets the kind (a pending
   * timer then fires as a no-op), and re-arming with the same duration
   * refreshes the existing timer: the usual request cycle (server timeout,
   * then keep-alive, both 60 s by default) creates no timer object.
   */
  private arm(kind: number, ms: number): void {
    if (kind === T_NONE || ms <= 0) {
      this.timerKind = T_NONE;
      return;
    }
    this.timerKind = kind;
    const t = this.timer;
    if (t !== null && this.timerMs === ms) {
      t.refresh();
      return;
    }
    if (t !== null) clearTimeout(t);
    this.timerMs = ms;
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
  }

  private onTimer(): void {
    const kind = this.timerKind;
    this.timer = null;
    this.timerKind = T_NONE;
    switch (kind) {
      case T_HEADER:
        if (this.state !== S_HEAD) return;
        if (this.reqParser.headInProgress) this.answerError(408, 'idle-timeout');
        else this.finish('idle-timeout');
        return;
      case T_KEEPALIVE:
        if (this.state === S_HEAD) this.finish('idle-timeout');
        return;
      case T_QUEUE:
        if (this.state !== S_WAIT) return;
        if (this.queued) this.ctx.host.dequeue(this);
        this.answerError(503, 'queue-timeout');
        return;
      case T_SERVER:
        if (this.state === S_PROXY && !this.resStarted) this.answerError(504, 'idle-timeout');
        return;
      case T_LINGER:
        this.finish(this.endReason);
        return;
      default:
        return;
    }
  }

  // ---- client side ----

  private onClientData(chunk: Buffer): void {
    switch (this.state) {
      case S_HEAD:
        this.feedHead(chunk, 0);
        return;
      case S_PROXY:
        if (!this.reqComplete) {
          this.feedBody(chunk, 0);
          return;
        }
        this.stash(chunk);
        return;
      case S_CLOSING:
        return; // lingering close: read and drop
      default:
        this.stash(chunk);
        return;
    }
  }

  /** Bytes that arrived while we were not reading requests (a pause took effect late). */
  private stash(chunk: Buffer): void {
    this.client.pause();
    if (this.rest === null) {
      this.rest = chunk;
      this.restOff = 0;
    } else {
      this.rest = Buffer.concat([this.rest.subarray(this.restOff), chunk]);
      this.restOff = 0;
    }
  }

  /**
   * Parse request bytes from `chunk[off]` while reading heads. Requests
   * answered locally (monitor URI) loop on to the next pipelined one.
   */
  private feedHead(chunk: Buffer, off: number): void {
    const p = this.reqParser;
    for (;;) {
      this.cur = chunk;
      this.curOff = off;
      this.msgStart = -1;
      const r = p.execute(chunk, off);
      this.cur = null;
      if (r === ExecResult.ERROR) {
        const code = p.errorCode;
        this.answerError(code === HEADERS_TOO_LARGE || code === TOO_MANY_HEADERS ? 431 : 400, 'client-error');
        return;
      }
      const end = p.offset;
      if (this.head === null) {
        // The head goes on in a later read: keep its bytes (bounded by --max-header-size).
        if (p.headInProgress) {
          const from = this.msgStart >= 0 ? this.msgStart : off;
          const part = chunk.subarray(from, end);
          this.spill = this.spill === null ? Buffer.from(part) : Buffer.concat([this.spill, part]);
        }
        if (r !== ExecResult.OK && end < chunk.length) {
          off = end; // a pause without a message (not expected): go on parsing
          continue;
        }
        if (this.clientEnded) this.finish('client-close');
        return;
      }
      const h = this.head;
      if (r !== ExecResult.OK && end < chunk.length) {
        this.rest = chunk;
        this.restOff = end;
      }
      const body = h.headEnd < end ? chunk.subarray(h.headEnd, end) : null;
      if (!this.beginRequest(body)) return;
      // answered locally and kept alive: on to the next pipelined request
      const rest = this.rest;
      if (rest === null) return;
      this.rest = null;
      chunk = rest;
      off = this.restOff;
    }
  }

  /** @internal request parser: a message starts at `start` of the current chunk. */
  reqBegin(start: number): void {
    this.msgStart = start;
    this.reqStartedAt = performance.now();
    this.reqBytesIn = 0;
    this.reqBytesOut = 0;
    this.reqRetries = 0;
    if (this.timerKind === T_KEEPALIVE) this.arm(T_HEADER, this.ctx.host.config.headerTimeout);
  }

  /** @internal request parser: the head is complete. */
  reqHead(head: ParsedHead): number {
    const c = this.cur!;
    if (head.headStart >= 0) {
      this.headRaw = c.subarray(head.headStart, head.headEnd);
    } else {
      const tail = c.subarray(this.curOff, head.headEnd);
      this.headRaw = this.spill === null ? Buffer.from(tail) : Buffer.concat([this.spill, tail]);
    }
    this.spill = null;
    this.head = head;
    return HeadersAction.CONTINUE;
  }

  /**
   * A request head was accepted (with `body`: the body bytes of the same
   * read, already validated). Answer it locally or start proxying it.
   * Returns true when it was answered locally and the connection stays open.
   */
  private beginRequest(body: Buffer | null): boolean {
    const h = this.head!;
    const host = this.ctx.host;
    const config = host.config;
    this.requests++;
    this.attemptNo = 0;
    this.avoid = null;
    this.counted = false;
    this.replayed = false;
    this.status = 0;
    this.clientKeepAlive = h.shouldKeepAlive && !this.clientEnded;
    this.isHeadRequest = h.method === 'HEAD';
    this.upgrading = h.upgrade;
    this.arm(T_NONE, 0);
    if (h.method === 'CONNECT') {
      this.answerError(405, 'client-error');
      return false;
    }
    // RFC 9112 3.2: an HTTP/1.1 request without Host, or with two, is a 400
    const hostAt = h.findHeader('host');
    if ((hostAt < 0 && h.versionMinor === 1) || (hostAt >= 0 && h.findHeader('host', hostAt + 1) >= 0)) {
      this.answerError(400, 'client-error');
      return false;
    }
    const trust = this.ctx.trust;
    this.clientIp = trust === null ? this.peerIp : clientIpFrom(this.peerIp, h, trust, isIpAddress);
    if (config.monitorUri !== null && h.method === 'GET' && pathOf(h.url) === config.monitorUri) {
      const up = this.ctx.anyBackendUp();
      const keep = this.clientKeepAlive && this.reqComplete && !host.draining;
      this.status = up ? 200 : 503;
      const res = keep ? (up ? MONITOR_OK : MONITOR_DOWN) : up ? MONITOR_OK_CLOSE : MONITOR_DOWN_CLOSE;
      this.writeClient(res);
      this.logRequest();
      this.endRequest();
      if (!keep) {
        this.closeClient('client-close');
        return false;
      }
      this.state = S_HEAD;
      this.arm(T_KEEPALIVE, config.keepaliveTimeout);
      return true;
    }
    if (this.upgrading) this.clientKeepAlive = false; // unless the backend answers 101
    const pool = this.ctx.router.route(h.getHeader('host') ?? '', h.url);
    this.pool = pool;
    this.key = pool.factory.needs === 'none' ? 0 : this.hashKey(h);
    this.pendingBody = body;
    this.state = S_WAIT;
    this.client.pause();
    this.choose();
    return false;
  }

  private hashKey(h: ParsedHead): number {
    const hk = this.ctx.host.config.hashKey;
    let v: string | undefined;
    switch (hk.kind) {
      case 'host': {
        const raw = h.getHeader('host');
        v = raw === undefined ? undefined : normalizeHost(raw);
        break;
      }
      case 'path':
        v = pathOf(h.url);
        break;
      case 'header':
        v = h.getHeader(hk.name);
        break;
      case 'cookie':
        v = cookieValue(h, hk.name);
        break;
      default:
        v = undefined;
    }
    return hashString(v === undefined || v === '' ? this.clientIp : v);
  }

  /** Choose a backend for the current request; connect, queue or answer 503. Also called when woken from the queue. */
  choose(): void {
    if (this.state !== S_WAIT) return;
    const host = this.ctx.host;
    const b = this.pool.pick(this.key, this.attemptNo, this.avoid);
    if (b === null) {
      if (this.pool.lastPickFull && !this.queued) {
        if (host.enqueue(this)) {
          this.arm(T_QUEUE, host.config.queueTimeout);
          return;
        }
        this.answerError(503, 'queue-full');
        return;
      }
      if (this.queued) return; // still full: keep waiting
      // nothing (else) to try: 502 when a connect already failed, else 503
      this.answerError(this.avoid !== null ? 502 : 503, 'no-backend');
      return;
    }
    if (this.queued) host.dequeue(this);
    if (this.timerKind === T_QUEUE) this.arm(T_NONE, 0);
    this.reqBackend = b;
    this.backend = b;
    const idle = proxyVersionFor(host.config, b) !== 0 ? this.takePrivate(b) : b.circuit.state === 'closed' ? this.ctx.upstreams.take(b, this) : null;
    if (idle !== null) {
      this.useConn(idle);
      return;
    }
    this.connect(b);
  }

  private connect(b: Backend): void {
    const c = this.ctx.host.config;
    this.connecting = new ConnectAttempt(b, c.connectTimeout, this, {
      proxyHeader: proxyHeaderToSend(c, b, this.client, this.facts),
      tls: upstreamTlsOptions(c, b),
    });
  }

  /** This session's own idle connection to `b` (PROXY-header backends), if one is still usable. */
  private takePrivate(b: Backend): UpstreamConn | null {
    const list = this.privateUps;
    if (list === null) return null;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.backend !== b) continue;
      list.splice(i, 1);
      if (!c.alive) {
        c.socket.destroy();
        return null;
      }
      c.owner = this;
      return c;
    }
    return null;
  }

  /** Keep an idle PROXY-header connection for this session's next request to the same backend. */
  private keepPrivate(up: UpstreamConn): void {
    up.owner = null;
    const list = (this.privateUps ??= []);
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.backend === up.backend) {
        list[i]!.socket.destroy();
        list.splice(i, 1);
        break;
      }
    }
    list.push(up);
  }

  onBackendConnect(socket: Socket, attempt: ConnectAttempt): void {
    this.connecting = null;
    const b = attempt.backend;
    this.ctx.host.onConnectSuccess(b);
    if (this.state !== S_WAIT || this.reqBackend !== b) {
      socket.destroy();
      return;
    }
    const conn = this.ctx.upstreams.wrap(socket, b);
    conn.owner = this;
    this.useConn(conn);
  }

  onBackendConnectError(err: LbError, attempt: ConnectAttempt): void {
    this.connecting = null;
    const b = attempt.backend;
    const host = this.ctx.host;
    if (this.reqBackend === b) {
      this.reqBackend = null;
      host.release(this.pool, b);
    }
    host.onConnectFailure(this.pool, b, err);
    if (this.state !== S_WAIT) return;
    // not retryable: lb4's own resource errors (EMFILE...) would fail on any backend
    if (err.retryable && this.reqRetries < host.config.retries) {
      this.reqRetries++;
      this.retries++;
      this.attemptNo++;
      this.avoid = b;
      this.choose();
      return;
    }
    this.answerError(err.side === 'internal' ? 503 : 502, 'no-backend');
  }

  /** Send the current request on `conn`. */
  private useConn(conn: UpstreamConn): void {
    const b = conn.backend;
    const host = this.ctx.host;
    const config = host.config;
    this.up = conn;
    conn.requests++;
    conn.socket.setTimeout(config.idleTimeout);
    if (!this.counted) {
      this.counted = true;
      this.pool.connected(b, Date.now());
    }
    let out = this.outHead;
    if (out === null) {
      const e = this.edits;
      e.xff = this.peerIp;
      e.protoLine = this.https ? PROTO_HTTPS : PROTO_HTTP;
      e.upgrading = this.upgrading;
      e.connectionLine = this.upgrading ? CONN_UPGRADE : this.head!.versionMinor === 0 ? CONN_KEEPALIVE : '';
      out = rewriteHead(this.headRaw!, this.head!, e);
      this.outHead = out;
    }
    this.replayable = !this.replayed && conn.requests > 1 && this.reqComplete && isIdempotent(this.head!.method);
    this.resParser.reset();
    this.resHead = null;
    this.resHeadRaw = null;
    this.resSpill = null;
    this.resMsgComplete = false;
    this.resStarted = false;
    this.resHeadSent = false;
    this.state = S_PROXY;
    const s = conn.socket;
    const body = this.pendingBody;
    let ok: boolean;
    if (body !== null) {
      s.cork();
      s.write(out);
      ok = s.write(body);
      s.uncork();
    } else {
      ok = s.write(out);
    }
    const n = out.length + (body === null ? 0 : body.length);
    this.reqBytesIn += n;
    this.bytesIn += n;
    b.bytesIn += n;
    if (!this.replayable) {
      this.pendingBody = null;
      this.headRaw = null;
    }
    if (this.reqComplete) {
      this.arm(T_SERVER, config.serverTimeout);
      return;
    }
    const early = this.rest;
    if (early !== null) {
      // body bytes that arrived while we were connecting (a pause that took effect late)
      this.rest = null;
      this.feedBody(early, this.restOff);
      if (this.state !== S_PROXY || this.reqComplete) return;
    }
    if (ok) this.client.resume();
  }

  /** Request body bytes while proxying. */
  private feedBody(chunk: Buffer, off: number): void {
    const p = this.reqParser;
    const r = p.execute(chunk, off);
    if (r === ExecResult.ERROR) {
      // part of the body already went out: close both sides (SPEC 7)
      this.finish('client-error');
      return;
    }
    const end = p.offset;
    const up = this.up;
    if (end > off && up !== null) {
      const part = off === 0 && end === chunk.length ? chunk : chunk.subarray(off, end);
      const n = part.length;
      this.reqBytesIn += n;
      this.bytesIn += n;
      up.backend.bytesIn += n;
      if (!up.socket.write(part)) this.client.pause();
    }
    if (r !== ExecResult.OK) {
      // message complete: hold what follows until the response is done
      if (end < chunk.length) {
        this.rest = chunk;
        this.restOff = end;
      }
      this.client.pause();
      if (!this.resStarted && this.state === S_PROXY) this.arm(T_SERVER, this.ctx.host.config.serverTimeout);
    }
  }

  private onClientDrain(): void {
    if (this.state === S_PROXY && this.up !== null) this.up.socket.resume();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    this.clientKeepAlive = false;
    switch (this.state) {
      case S_HEAD:
        if (this.rest === null) this.closeClient('client-close');
        return;
      case S_WAIT:
      case S_PROXY:
        // a request cut short is abandoned; a complete one still gets its answer
        if (!this.reqComplete) this.finish('client-close');
        return;
      case S_CLOSING:
        if (this.client.writableFinished) this.finish(this.endReason);
        return;
      default:
        return;
    }
  }

  private onClientError(): void {
    this.clientErrored = true;
  }

  private onClientClose(): void {
    if (this.state === S_TUNNEL) return;
    this.finish(this.state === S_CLOSING ? this.endReason : this.clientErrored ? 'client-error' : 'client-close');
  }

  private writeClient(buf: Buffer): boolean {
    const n = buf.length;
    this.reqBytesOut += n;
    this.bytesOut += n;
    if (this.client.destroyed) return true;
    return this.client.write(buf);
  }

  // ---- backend side ----

  onUpstreamData(chunk: Buffer): void {
    if (this.state !== S_PROXY) return;
    if (!this.resStarted) {
      this.resStarted = true;
      if (this.timerKind === T_SERVER) this.arm(T_NONE, 0);
      if (this.replayable) {
        this.replayable = false;
        this.pendingBody = null;
        this.headRaw = null;
      }
    }
    // one writev for a rewritten head and the body bytes that followed it
    const c = this.client;
    c.cork();
    this.feedResponse(chunk, 0);
    c.uncork();
  }

  /** Parse and forward response bytes from `chunk[off]`. */
  private feedResponse(chunk: Buffer, off: number): void {
    const p = this.resParser;
    const up = this.up!;
    const b = up.backend;
    for (;;) {
      const hadHead = this.resHead !== null;
      this.rcur = chunk;
      this.rcurOff = off;
      this.resMsgStart = -1;
      const r = p.execute(chunk, off);
      this.rcur = null;
      if (r === ExecResult.ERROR) {
        if (!this.resHeadSent) this.answerError(502, 'backend-error');
        else this.finish('backend-error');
        return;
      }
      const end = p.offset;
      let from = off;
      const h = this.resHead;
      if (h === null) {
        if (p.headInProgress) {
          const s = this.resMsgStart >= 0 ? this.resMsgStart : off;
          const part = chunk.subarray(s, end);
          this.resSpill = this.resSpill === null ? Buffer.from(part) : Buffer.concat([this.resSpill, part]);
        }
        return;
      }
      if (!hadHead) {
        // the head completed in this execute
        if (h.statusCode === 101) {
          this.switchToTunnel(chunk, end);
          return;
        }
        if (!this.sendResponseHead(h)) return;
        from = h.headEnd;
      }
      if (end > from) {
        const n = end - from;
        this.reqBytesOut += n;
        this.bytesOut += n;
        b.bytesOut += n;
        if (!this.client.write(from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end))) up.socket.pause();
      }
      if (r === ExecResult.OK) return;
      // a message ended
      if (this.status < 200) {
        // interim (100 Continue, 103): the final response follows
        this.resHead = null;
        this.resHeadRaw = null;
        this.resMsgComplete = false;
        if (end >= chunk.length) return;
        off = end;
        continue;
      }
      this.responseDone(end < chunk.length);
      return;
    }
  }

  /** @internal response parser: a message starts. */
  resBegin(start: number): void {
    this.resMsgStart = start;
  }

  /** @internal response parser: the head is complete. */
  resHeadDone(head: ParsedHead): number {
    const c = this.rcur!;
    if (head.headStart >= 0) {
      this.resHeadRaw = c.subarray(head.headStart, head.headEnd);
    } else {
      const tail = c.subarray(this.rcurOff, head.headEnd);
      this.resHeadRaw = this.resSpill === null ? Buffer.from(tail) : Buffer.concat([this.resSpill, tail]);
    }
    this.resSpill = null;
    this.resHead = head;
    this.status = head.statusCode;
    return this.isHeadRequest ? HeadersAction.SKIP_BODY : HeadersAction.CONTINUE;
  }

  /** Rewrite and send a response head; false when the session ended instead. */
  private sendResponseHead(h: ParsedHead): boolean {
    const status = h.statusCode;
    const final = status >= 200;
    if (final) {
      const closeDelimited = !this.isHeadRequest && status !== 204 && status !== 304 && h.contentLength < 0 && !h.chunked;
      if (closeDelimited || this.ctx.host.draining) this.clientKeepAlive = false;
    }
    if (!final && this.head!.versionMinor === 0) {
      // RFC 9110 section 15.2: no 1xx to an HTTP/1.0 client; the final response follows
      this.resHeadRaw = null;
      return true;
    }
    const e = this.resEdits;
    e.upgrading = false;
    e.connectionLine = !final ? '' : !this.clientKeepAlive ? CONN_CLOSE : this.head!.versionMinor === 0 ? CONN_KEEPALIVE : '';
    const out = rewriteHead(this.resHeadRaw!, h, e);
    this.resHeadRaw = null;
    this.resHeadSent = true;
    if (!this.writeClient(out)) this.up!.socket.pause();
    return true;
  }

  /** The backend answered 101 to an upgrade request: hand both sockets to a Tunnel. */
  private switchToTunnel(chunk: Buffer, end: number): void {
    const up = this.up!;
    const b = up.backend;
    const h = this.resHead!;
    if (!this.upgrading) {
      this.answerError(502, 'backend-error');
      return;
    }
    const e = this.resEdits;
    e.upgrading = true;
    e.connectionLine = CONN_UPGRADE;
    const out = rewriteHead(this.resHeadRaw!, h, e);
    this.writeClient(out);
    b.bytesOut += out.length;
    if (end < chunk.length) {
      this.writeClient(chunk.subarray(end));
      b.bytesOut += chunk.length - end;
    }
    this.resHeadSent = true;
    this.account(b);
    this.logRequest();
    this.arm(T_NONE, 0);
    this.up = null;
    const socket = up.detach();
    const rest = this.rest;
    if (rest !== null) {
      this.rest = null;
      const part = rest.subarray(this.restOff);
      this.bytesIn += part.length;
      b.bytesIn += part.length;
      socket.write(part);
    }
    const c = this.client;
    c.removeListener('data', this.onClientData);
    c.removeListener('end', this.onClientEnd);
    c.removeListener('error', this.onClientError);
    c.removeListener('close', this.onClientClose);
    c.removeListener('drain', this.onClientDrain);
    this.state = S_TUNNEL;
    this.tunnel = new Tunnel(c, socket, b, this.ctx.host.config.idleTimeout, this);
    socket.resume();
  }

  onTunnelEnd(tunnel: Tunnel, reason: TunnelEnd): void {
    this.bytesIn += tunnel.bytesIn;
    this.bytesOut += tunnel.bytesOut;
    const b = this.reqBackend;
    this.reqBackend = null;
    if (b !== null) this.ctx.host.release(this.pool, b);
    this.state = S_CLOSING;
    this.finish(reason);
  }

  /** The final response is complete (`extra`: the backend sent bytes after it). */
  private responseDone(extra: boolean): void {
    const host = this.ctx.host;
    const up = this.up!;
    const b = up.backend;
    this.account(b);
    this.logRequest();
    this.up = null;
    if (!extra && this.reqComplete && this.resHead!.shouldKeepAlive && !host.draining) {
      if (proxyVersionFor(host.config, b) !== 0) this.keepPrivate(up);
      else this.ctx.upstreams.put(up);
    } else {
      up.owner = null;
      up.socket.destroy();
    }
    const keep = this.clientKeepAlive && this.reqComplete;
    this.endRequest();
    if (!keep) {
      this.closeClient('client-close');
      return;
    }
    this.state = S_HEAD;
    this.arm(T_KEEPALIVE, host.config.keepaliveTimeout);
    const rest = this.rest;
    if (rest !== null) {
      this.rest = null;
      this.feedHead(rest, this.restOff);
    }
    if (this.state === S_HEAD && !this.client.destroyed) this.client.resume();
  }

  /** Count a finished exchange on its backend. */
  private account(b: Backend): void {
    const cls = (this.status / 100) | 0;
    if (cls >= 1 && cls <= 5) b.responses[cls]!++;
    const ms = performance.now() - this.reqStartedAt;
    latencyOf(b).record(ms * 1000);
    const observe = this.ctx.observe;
    if (observe !== null) observe(b.name, ms / 1000);
  }

  /** Release what the request held (its backend slot) and forget it. */
  private endRequest(): void {
    const b = this.reqBackend;
    this.reqBackend = null;
    if (b !== null) this.ctx.host.release(this.pool, b);
    this.head = null;
    this.headRaw = null;
    this.outHead = null;
    this.pendingBody = null;
    this.resHead = null;
    this.resHeadRaw = null;
    this.resSpill = null;
    this.reqComplete = false;
    this.resMsgComplete = false;
  }

  /** The backend connection failed before the response completed. */
  private upstreamLost(reason: SessionEnd): void {
    if (this.state !== S_PROXY) return;
    const up = this.up;
    if (up !== null) {
      this.up = null;
      up.owner = null;
      up.socket.destroy();
    }
    if (!this.resStarted) {
      if (this.replayable && this.reqBackend !== null) {
        // a reused keep-alive connection the backend closed under us: retry on a new one
        this.replayable = false;
        this.replayed = true;
        this.state = S_WAIT;
        this.connect(this.reqBackend);
        return;
      }
      this.answerError(502, reason);
      return;
    }
    if (!this.resHeadSent) {
      this.answerError(502, reason);
      return;
    }
    this.finish(reason);
  }

  onUpstreamEnd(): void {
    if (this.state !== S_PROXY) return;
    if (!this.resStarted) {
      this.upstreamLost('backend-close');
      return;
    }
    // a close-delimited response ends here
    this.resMsgComplete = false;
    const r = this.resParser.finish();
    if (r === ExecResult.OK && this.resMsgComplete && this.status >= 200) {
      this.clientKeepAlive = false;
      this.responseDone(true);
      return;
    }
    this.upstreamLost('backend-close');
  }

  onUpstreamError(): void {
    this.upstreamLost('backend-error');
  }

  onUpstreamClose(): void {
    this.upstreamLost('backend-close');
  }

  onUpstreamDrain(): void {
    if (this.state === S_PROXY && !this.reqComplete) this.client.resume();
  }

  onUpstreamTimeout(): void {
    if (this.state !== S_PROXY) return;
    if (!this.resHeadSent) this.answerError(504, 'idle-timeout');
    else this.finish('idle-timeout');
  }

  // ---- answers, logs, the end ----

  /** Answer the current request with an error status and close the connection. */
  private answerError(status: number, reason: SessionEnd): void {
    if (this.state === S_DONE || this.state === S_CLOSING) return;
    const host = this.ctx.host;
    if (this.queued) host.dequeue(this);
    if (this.connecting !== null) {
      this.connecting.abort();
      this.connecting = null;
    }
    const up = this.up;
    if (up !== null) {
      this.up = null;
      up.owner = null;
      up.socket.destroy();
    }
    this.status = status;
    this.writeClient(ANSWERS[status]!);
    if (this.head !== null || status === 400 || status === 431 || status === 408) this.logRequest();
    this.endRequest();
    this.closeClient(reason);
  }

  /**
   * Close the client after what was written: end our side, keep reading (and
   * dropping) for a moment so that unread pipelined bytes do not turn the
   * close into a reset that would destroy the answer in flight.
   */
  private closeClient(reason: SessionEnd): void {
    if (this.state === S_DONE) return;
    this.state = S_CLOSING;
    this.endReason = reason;
    this.rest = null;
    const c = this.client;
    if (c.destroyed) {
      this.finish(reason);
      return;
    }
    c.end();
    c.resume();
    if (c.writableFinished) {
      this.onClientFinish();
      return;
    }
    // a slow reader still has our last bytes to take: bounded by --idle-timeout
    c.once('finish', this.onClientFinish);
    this.arm(T_LINGER, this.ctx.host.config.idleTimeout);
  }

  /** Everything we wrote to a closing client was flushed. */
  private onClientFinish(): void {
    if (this.state !== S_CLOSING) return;
    if (this.clientEnded) {
      this.finish(this.endReason);
      return;
    }
    this.arm(T_LINGER, LINGER_MS);
  }

  private logRequest(): void {
    const host = this.ctx.host;
    if (!host.config.accessLog) return;
    const h = this.head;
    host.loggers.always.info(
      {
        method: h === null ? null : h.method,
        path: h === null ? null : h.url,
        status: this.status,
        backend: this.reqBackend === null ? null : this.reqBackend.name,
        client: this.clientAddress,
        client_ip: this.clientIp,
        bytes_in: this.reqBytesIn,
        bytes_out: this.reqBytesOut,
        duration_ms: Math.round((performance.now() - this.reqStartedAt) * 1000) / 1000,
        retries: this.reqRetries,
      },
      'request',
    );
  }

  /** Close everything now (shutdown after the drain timeout). */
  abort(reason: SessionEnd): void {
    if (this.state === S_TUNNEL && this.tunnel !== null) {
      this.tunnel.destroy(reason as TunnelEnd);
      return;
    }
    this.finish(reason);
  }

  /** True when idle between requests (nothing in flight). */
  get idle(): boolean {
    return this.state === S_HEAD && !this.reqParser.headInProgress;
  }

  private finish(reason: SessionEnd): void {
    if (this.state === S_DONE) return;
    const host = this.ctx.host;
    this.state = S_DONE;
    this.timerKind = T_NONE;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queued) host.dequeue(this);
    if (this.connecting !== null) {
      const a = this.connecting;
      this.connecting = null;
      a.abort();
      const b = a.backend;
      if (b.circuit.state === 'half-open' && b.circuit.trialInFlight) {
        b.circuit.trialInFlight = false;
        this.pool.rebuild();
      }
    }
    const up = this.up;
    if (up !== null) {
      this.up = null;
      up.owner = null;
      up.socket.destroy();
    }
    if (this.privateUps !== null) {
      for (const c of this.privateUps) c.socket.destroy();
      this.privateUps = null;
    }
    const b = this.reqBackend;
    this.reqBackend = null;
    if (b !== null) host.release(this.pool, b);
    this.rest = null;
    this.spill = null;
    this.head = null;
    this.headRaw = null;
    this.outHead = null;
    this.pendingBody = null;
    if (!this.client.destroyed) this.client.destroy();
    this.reqParser.destroy();
    this.resParser.destroy();
    host.sessionEnded(this, reason);
  }
}

function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}
