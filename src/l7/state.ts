/**
 * The state of one HTTP/1 client connection and of the request it is on,
 * with the mechanics every phase uses: the one timer, writing to the
 * client, ending a request, closing the connection. The phases of a
 * request's life (src/l7/phases/*.ts) are functions of this state; the
 * exchange (src/l7/exchange.ts) owns the socket events and calls them:
 *
 *   read-head → route → choose → upstream → forward-request → response → log
 *
 * Fields are public for the phase files of this folder and nobody else.
 *
 * Timers: one per connection, re-armed per phase (header, keep-alive,
 * server, body, linger), never per chunk.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Backend } from '../core/backend.js';
import type { EndReason, TunnelEnd } from '../core/ends.js';
import type { Stream } from '../stream/stream.js';
import type { RateWaiter } from '../core/client-limits.js';
import type { Tunnel, TunnelOwner } from '../l4/tunnel.js';
import type { L7Context } from './context.js';
import { HttpParser, type ParsedHead, type ParserHandler } from './parser.js';
import type { HeadEdits } from './forwarded.js';
import { RequestTarget } from './target.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-pool.js';

// Connection states.
export const S_HEAD = 0; // reading a request head (or idle between requests)
export const S_WAIT = 1; // head parsed: choosing, queued or connecting (client paused)
export const S_PROXY = 2; // request sent (its body may still stream); response expected or streaming
export const S_CLOSING = 3; // last answer written; waiting for the client to go
export const S_TUNNEL = 4; // upgraded: a Tunnel owns both sockets
export const S_DONE = 5;

// Timer kinds.
export const T_NONE = 0;
export const T_HEADER = 1;
export const T_KEEPALIVE = 2;
export const T_SERVER = 3;
export const T_BODY = 4;
export const T_LINGER = 5;

/** How long a closing client may keep sending before it is cut (lingering close). */
const LINGER_MS = 2000;
/** Response heads may be larger than request heads (Set-Cookie...). */
const RESPONSE_LIMITS = { maxHeaderSize: 65536, maxHeaders: 256 };

/** Request-side parser events, forwarded to the state (one per connection, no closures). */
class RequestEvents implements ParserHandler {
  constructor(private readonly x: HttpState) {}
  onMessageBegin(start: number): void {
    this.x.reqBegin(start);
  }
  onHeadersComplete(head: ParsedHead): number {
    return this.x.reqHead(head);
  }
  onBody(): void {}
  onMessageComplete(): void {
    this.x.reqComplete = true;
  }
}

/** Response-side parser events. */
class ResponseEvents implements ParserHandler {
  constructor(private readonly x: HttpState) {}
  onMessageBegin(start: number): void {
    this.x.resBegin(start);
  }
  onHeadersComplete(head: ParsedHead): number {
    return this.x.resHeadDone(head);
  }
  onBody(): void {}
  onMessageComplete(): void {
    this.x.resMsgComplete = true;
  }
}

function edits(): HeadEdits {
  return { xff: '', protoLine: '', upgrading: false, connectionLine: '', target: '', host: '' };
}

export abstract class HttpState implements UpstreamOwner, TunnelOwner, RateWaiter {
  readonly ctx: L7Context;
  readonly stream: Stream;
  readonly client: Socket;
  /** The client IP before X-Forwarded-For (the PROXY-protocol source, else the socket peer). */
  readonly peerIp: string;
  readonly https: boolean;
  readonly reqParser: HttpParser;
  readonly resParser: HttpParser;

  state = S_HEAD;
  timer: NodeJS.Timeout | null = null;
  timerKind = T_NONE;
  timerMs = 0;
  /** Why the connection closes once the client is gone (S_CLOSING). */
  endReason: EndReason = 'client-close';
  clientErrored = false;
  clientEnded = false;
  tunnel: Tunnel | null = null;
  /** Bytes client → lb4 and lb4 → client over the whole connection. */
  bytesIn = 0;
  bytesOut = 0;
  requests = 0;
  /**
   * Idle keep-alive connections to backends that get a PROXY header: a
   * header names one client, so such a connection is never shared with
   * another client connection (HAProxy marks them private the same way); at
   * most one per backend, closed with the connection.
   */
  privateUps: UpstreamConn[] | null = null;

  // ---- the request head being parsed ----
  /** The chunk being parsed and where that execute() started. */
  cur: Buffer | null = null;
  curOff = 0;
  /** Offset in `cur` where the current message began, or -1. */
  msgStart = -1;
  /** Head bytes from earlier reads (heads split over reads), or null. */
  spill: Buffer | null = null;
  /** Unparsed client bytes (the next pipelined request, or bytes after an upgrade request). */
  rest: Buffer | null = null;
  restOff = 0;

  // ---- the current request ----
  head: ParsedHead | null = null;
  headRaw: Buffer | null = null;
  reqComplete = false;
  /** Body bytes that came in the head's read, sent with the head. */
  pendingBody: Buffer | null = null;
  /** The rewritten head (kept for a replay). */
  outHead: Buffer | null = null;
  upgrading = false;
  clientKeepAlive = false;
  isHeadRequest = false;
  /** The target: the path forwarded and logged, the authority of an absolute-form one. */
  readonly target = new RequestTarget();
  targetOk = true;
  reqStartedAt = 0;
  /** The request waits for the shared limit store's answer (rateDecided). */
  ratePending = false;
  /** performance.now() when the request head went to the backend (time to first byte: the p2c-ewma sample). */
  sentAt = 0;
  /** performance.now() of the last request body chunk (--body-timeout). */
  bodyAt = 0;
  reqBytesIn = 0;
  reqBytesOut = 0;
  /** The hash key of the current request. */
  key = 0;
  /** The backend connection carrying the current request, or null. */
  up: UpstreamConn | null = null;
  /** Sent on a reused connection: replayed once on a fresh one if the backend closes before answering. */
  replayable = false;
  replayed = false;

  // ---- the current response ----
  rcur: Buffer | null = null;
  rcurOff = 0;
  resMsgStart = -1;
  resSpill: Buffer | null = null;
  resHead: ParsedHead | null = null;
  resHeadRaw: Buffer | null = null;
  resMsgComplete = false;
  resStarted = false;
  resHeadSent = false;
  /** The status answered (the backend's, or lb4's own). */
  status = 0;

  readonly edits = edits();
  readonly resEdits = edits();

  constructor(ctx: L7Context, stream: Stream) {
    this.ctx = ctx;
    this.stream = stream;
    this.client = stream.client!;
    this.peerIp = stream.facts.ip;
    this.https = (this.client as TLSSocket).encrypted === true;
    const c = ctx.config;
    this.reqParser = new HttpParser('request', new RequestEvents(this), { maxHeaderSize: c.maxHeaderSize, maxHeaders: c.maxHeaders });
    this.reqParser.pauseOnComplete = true;
    this.resParser = new HttpParser('response', new ResponseEvents(this), RESPONSE_LIMITS);
    this.resParser.pauseOnComplete = true;
    this.onTimer = this.onTimer.bind(this);
    this.onClientFinish = this.onClientFinish.bind(this);
  }

  // ---- what the exchange implements ----

  /** Request parser: a message starts at `start` of the current chunk. */
  abstract reqBegin(start: number): void;
  /** Request parser: the head is complete; returns a HeadersAction. */
  abstract reqHead(head: ParsedHead): number;
  /** Response parser: a message starts. */
  abstract resBegin(start: number): void;
  /** Response parser: the head is complete; returns a HeadersAction. */
  abstract resHeadDone(head: ParsedHead): number;

  /** A timer of `kind` fired (T_HEADER, T_KEEPALIVE, T_SERVER, T_BODY). */
  protected abstract timeout(kind: number): void;
  /** The response is done and the connection stays: read the next request. */
  abstract nextRequest(): void;
  /** Remove the client socket's listeners (a Tunnel takes the socket over after a 101). */
  abstract detachClient(): void;
  /** The shared limit store answered for the request waiting in S_WAIT (0: go on; else 429 with this Retry-After). */
  abstract rateDecided(retryAfter: number): void;
  abstract onUpstreamData(chunk: Buffer): void;
  abstract onUpstreamEnd(): void;
  abstract onUpstreamError(err: Error): void;
  abstract onUpstreamClose(): void;
  abstract onUpstreamDrain(): void;
  abstract onUpstreamTimeout(): void;
  abstract onTunnelEnd(tunnel: Tunnel, reason: TunnelEnd): void;

  // ---- the timer ----

  /**
   * Set the connection's one timer. Disarming only forgets the kind (a
   * pending timer then fires as a no-op), and re-arming with the same
   * duration refreshes the existing timer: the usual request cycle (server
   * timeout, then keep-alive, both 60 s by default) creates no timer object.
   */
  arm(kind: number, ms: number): void {
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
    if (kind === T_LINGER) this.finish(this.endReason);
    else if (kind !== T_NONE) this.timeout(kind);
  }

  // ---- the client side ----

  /** Write to the client, counting the bytes on the request and the connection. */
  writeClient(buf: Buffer): boolean {
    const n = buf.length;
    this.reqBytesOut += n;
    this.bytesOut += n;
    if (this.client.destroyed) return true;
    return this.client.write(buf);
  }

  /** Drop the backend connection of the current request (closed, not reused). */
  dropUpstream(): void {
    const up = this.up;
    if (up === null) return;
    this.up = null;
    up.owner = null;
    up.socket.destroy();
  }

  /** Release what the request held (its backend slot) and forget it. */
  endRequest(): void {
    this.stream.release();
    this.head = null;
    this.headRaw = null;
    this.outHead = null;
    this.pendingBody = null;
    this.resHead = null;
    this.resHeadRaw = null;
    this.resSpill = null;
    this.reqComplete = false;
    this.resMsgComplete = false;
    this.reqBytesIn = 0;
    this.reqBytesOut = 0;
  }

  /**
   * Close the client after what was written: end our side, keep reading (and
   * dropping) for a moment so that unread pipelined bytes do not turn the
   * close into a reset that would destroy the answer in flight.
   */
  closeClient(reason: EndReason): void {
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
    this.arm(T_LINGER, this.ctx.config.idleTimeout);
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

  /** The connection is over: let go of everything, then end the stream (which accounts and logs). */
  finish(reason: EndReason): void {
    if (this.state === S_DONE) return;
    this.state = S_DONE;
    this.timerKind = T_NONE;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.dropUpstream();
    if (this.privateUps !== null) {
      for (const c of this.privateUps) c.socket.destroy();
      this.privateUps = null;
    }
    this.rest = null;
    this.spill = null;
    this.head = null;
    this.headRaw = null;
    this.outHead = null;
    this.pendingBody = null;
    this.reqParser.destroy();
    this.resParser.destroy();
    this.stream.end(reason);
  }

  /** The backend the current request holds a slot on, or null. */
  get reqBackend(): Backend | null {
    return this.stream.assigned;
  }
}
