/**
 * The L7 exchange: the stream's plug-in for `--mode l7`, HTTP/1.1 one
 * request at a time. It owns the client socket's events and the backend
 * connection's, and runs each request through its phases, one file each:
 *
 *   phases/read-head.ts        parse the head (bounded), nothing forwarded before the parser accepts it
 *   phases/route.ts            checks, client IP, --monitor-uri, pool and hash key
 *   phases/choose.ts           the stream assigns a backend; idle keep-alive connections first
 *   phases/upstream.ts         the backend connection; replay once on a reused one the backend closed
 *   phases/forward-request.ts  rewritten head and streamed body; --body-timeout
 *   phases/response.ts         parsed, rewritten and streamed response; 101 → tunnel; next request
 *   phases/log.ts              account on the backend and the request's access-log line
 *
 * The connection's state, its one timer and closing it are in state.ts;
 * lb4's own answers (400, 408, 502, 503...) in answer.ts.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../core/backend.js';
import type { EndReason, TunnelEnd } from '../core/ends.js';
import type { Tunnel } from '../l4/tunnel.js';
import type { NoBackendEnd, Stream, StreamExchange } from '../stream/stream.js';
import type { L7Context } from './context.js';
import type { ParsedHead } from './parser.js';
import { answerError, answerTooMany } from './answer.js';
import { HttpState, S_CLOSING, S_HEAD, S_PROXY, S_TUNNEL, S_WAIT, T_BODY, T_HEADER, T_KEEPALIVE, T_SERVER } from './state.js';
import { feedHead, readNext, reqBegin, reqHead, stash } from './phases/read-head.js';
import { noBackend, reuse } from './phases/choose.js';
import { routeRequest } from './phases/route.js';
import { attach, upstreamEnded, upstreamLost, upstreamTimedOut } from './phases/upstream.js';
import { bodyTimedOut, feedBody, upstreamDrained } from './phases/forward-request.js';
import { resBegin, resHeadDone, responseData } from './phases/response.js';

export class HttpExchange extends HttpState implements StreamExchange {
  /** The time to each response's first byte is the latency sample (phases/response.ts), not the connect time. */
  readonly ownLatencySamples = true;

  constructor(ctx: L7Context, stream: Stream) {
    super(ctx, stream);
    this.onClientData = this.onClientData.bind(this);
    this.onClientEnd = this.onClientEnd.bind(this);
    this.onClientError = this.onClientError.bind(this);
    this.onClientClose = this.onClientClose.bind(this);
    this.onClientDrain = this.onClientDrain.bind(this);
  }

  /** Start reading requests. */
  start(): void {
    const c = this.client;
    c.on('data', this.onClientData);
    c.on('end', this.onClientEnd);
    c.on('error', this.onClientError);
    c.on('close', this.onClientClose);
    c.on('drain', this.onClientDrain);
    // idle until the first byte (keep-alive rule), then --header-timeout after it
    this.arm(T_KEEPALIVE, this.ctx.config.keepaliveTimeout);
    if (c.destroyed) {
      this.onClientClose();
      return;
    }
    if (c.isPaused()) c.resume();
  }

  // ---- the client socket ----

  private onClientData(chunk: Buffer): void {
    switch (this.state) {
      case S_HEAD:
        feedHead(this, chunk, 0);
        return;
      case S_PROXY:
        if (!this.reqComplete) {
          feedBody(this, chunk, 0);
          return;
        }
        stash(this, chunk);
        return;
      case S_CLOSING:
        return; // lingering close: read and drop
      default:
        stash(this, chunk);
        return;
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

  detachClient(): void {
    const c = this.client;
    c.removeListener('data', this.onClientData);
    c.removeListener('end', this.onClientEnd);
    c.removeListener('error', this.onClientError);
    c.removeListener('close', this.onClientClose);
    c.removeListener('drain', this.onClientDrain);
  }

  // ---- the timer ----

  protected timeout(kind: number): void {
    switch (kind) {
      case T_HEADER:
        if (this.state !== S_HEAD) return;
        if (this.reqParser.headInProgress) answerError(this, 408, 'idle-timeout');
        else this.finish('idle-timeout');
        return;
      case T_KEEPALIVE:
        if (this.state === S_HEAD) this.finish('idle-timeout');
        return;
      case T_SERVER:
        if (this.state === S_PROXY && !this.resStarted) {
          const b = this.reqBackend;
          if (b !== null) b.responseErrors++;
          answerError(this, 504, 'idle-timeout');
        }
        return;
      case T_BODY:
        bodyTimedOut(this);
        return;
      default:
        return;
    }
  }

  // ---- parser events ----

  reqBegin(start: number): void {
    reqBegin(this, start);
  }

  reqHead(head: ParsedHead): number {
    return reqHead(this, head);
  }

  resBegin(start: number): void {
    resBegin(this, start);
  }

  resHeadDone(head: ParsedHead): number {
    return resHeadDone(this, head);
  }

  nextRequest(): void {
    readNext(this);
  }

  rateDecided(retryAfter: number): void {
    if (!this.ratePending) return;
    this.ratePending = false;
    if (this.state !== S_WAIT || this.stream.ended) return;
    if (retryAfter === 0) routeRequest(this);
    else if (answerTooMany(this, retryAfter, true)) readNext(this);
  }

  // ---- the stream's assignment ----

  reuse(b: Backend): boolean {
    return reuse(this, b);
  }

  onBackendSocket(socket: Socket, b: Backend): void {
    attach(this, socket, b);
  }

  onNoBackend(end: NoBackendEnd, connectFailed: boolean): void {
    if (this.state === S_WAIT) noBackend(this, end, connectFailed);
  }

  // ---- the backend connection ----

  onUpstreamData(chunk: Buffer): void {
    responseData(this, chunk);
  }

  onUpstreamEnd(): void {
    upstreamEnded(this);
  }

  onUpstreamError(): void {
    upstreamLost(this, 'backend-error');
  }

  onUpstreamClose(): void {
    upstreamLost(this, 'backend-close');
  }

  onUpstreamDrain(): void {
    upstreamDrained(this);
  }

  onUpstreamTimeout(): void {
    upstreamTimedOut(this);
  }

  /** After a 101: the tunnel ended, and with it the connection. */
  onTunnelEnd(tunnel: Tunnel, reason: TunnelEnd): void {
    this.bytesIn += tunnel.bytesIn;
    this.bytesOut += tunnel.bytesOut;
    this.stream.release();
    this.state = S_CLOSING;
    this.finish(reason);
  }

  // ---- for the stream and the registry ----

  /** Close everything now (the drain deadline). */
  abort(reason: EndReason): void {
    if (this.state === S_TUNNEL && this.tunnel !== null) {
      this.tunnel.destroy(reason as TunnelEnd);
      return;
    }
    this.finish(reason);
  }

  /**
   * Shutdown began: a connection idle between requests closes now; the
   * others close after their current response (answers carry
   * `Connection: close` while draining).
   */
  drain(): void {
    if (this.state === S_HEAD && !this.reqParser.headInProgress) this.abort('shutdown');
  }
}
