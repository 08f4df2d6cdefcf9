/**
 * Phase 6, response: the backend's answer is parsed (response-type llhttp)
 * only to know where it ends (HEAD, 1xx, 204, 304, Content-Length, chunked,
 * close-delimited) and to rewrite its hop-by-hop headers, so that client
 * and backend persistence are managed independently. Its head goes out
 * rewritten, its body as read; a full client socket pauses the backend.
 * A 101 to an upgrade request turns the connection into an L4 Tunnel to
 * that backend for the rest of its life. When the final response is done,
 * the backend connection goes back to the idle pool (or this client's own
 * list for PROXY-header backends) and the client connection reads its
 * next request, or closes.
 */
import { Tunnel } from '../../l4/tunnel.js';
import { proxyVersionFor } from '../../l4/upstream.js';
import { CONN_CLOSE, CONN_KEEPALIVE, CONN_UPGRADE, rewriteHead } from '../forwarded.js';
import { ExecResult, HeadersAction, type ParsedHead } from '../parser.js';
import { answerError } from '../answer.js';
import { S_HEAD, S_PROXY, S_TUNNEL, T_KEEPALIVE, T_NONE, T_SERVER, type HttpState } from '../state.js';
import { keepPrivate } from './choose.js';
import { account, logRequest } from './log.js';

/** Bytes from the backend connection of the current request. */
export function responseData(x: HttpState, chunk: Buffer): void {
  if (x.state !== S_PROXY) return;
  if (!x.resStarted) {
    x.resStarted = true;
    // time to first byte: the backend's latency sample for p2c-ewma
    const now = performance.now();
    x.up!.backend.observeLatency(now - x.sentAt, now);
    if (x.timerKind === T_SERVER) x.arm(T_NONE, 0);
    if (x.replayable) {
      x.replayable = false;
      x.pendingBody = null;
      x.headRaw = null;
    }
  }
  // one writev for a rewritten head and the body bytes that followed it
  const c = x.client;
  c.cork();
  feedResponse(x, chunk, 0);
  c.uncork();
}

/** Parse and forward response bytes from `chunk[off]`. */
function feedResponse(x: HttpState, chunk: Buffer, off: number): void {
  const p = x.resParser;
  const up = x.up!;
  const b = up.backend;
  for (;;) {
    const hadHead = x.resHead !== null;
    x.rcur = chunk;
    x.rcurOff = off;
    x.resMsgStart = -1;
    const r = p.execute(chunk, off);
    x.rcur = null;
    if (r === ExecResult.ERROR) {
      b.responseErrors++;
      if (!x.resHeadSent) answerError(x, 502, 'backend-error');
      else x.finish('backend-error');
      return;
    }
    const end = p.offset;
    let from = off;
    const h = x.resHead;
    if (h === null) {
      if (p.headInProgress) {
        const s = x.resMsgStart >= 0 ? x.resMsgStart : off;
        const part = chunk.subarray(s, end);
        x.resSpill = x.resSpill === null ? Buffer.from(part) : Buffer.concat([x.resSpill, part]);
      }
      return;
    }
    if (!hadHead) {
      // the head completed in this execute
      if (h.statusCode === 101) {
        switchToTunnel(x, chunk, end);
        return;
      }
      sendResponseHead(x, h);
      from = h.headEnd;
    }
    if (end > from) {
      const n = end - from;
      x.reqBytesOut += n;
      x.bytesOut += n;
      b.bytesOut += n;
      if (!x.client.write(from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end))) up.socket.pause();
    }
    if (r === ExecResult.OK) return;
    // a message ended
    if (x.status < 200) {
      // interim (100 Continue, 103): the final response follows
      x.resHead = null;
      x.resHeadRaw = null;
      x.resMsgComplete = false;
      if (end >= chunk.length) return;
      off = end;
      continue;
    }
    responseDone(x, end < chunk.length);
    return;
  }
}

/** Response parser: a message starts. */
export function resBegin(x: HttpState, start: number): void {
  x.resMsgStart = start;
}

/** Response parser: the head is complete. */
export function resHeadDone(x: HttpState, head: ParsedHead): number {
  const c = x.rcur!;
  if (head.headStart >= 0) {
    x.resHeadRaw = c.subarray(head.headStart, head.headEnd);
  } else {
    const tail = c.subarray(x.rcurOff, head.headEnd);
    x.resHeadRaw = x.resSpill === null ? Buffer.from(tail) : Buffer.concat([x.resSpill, tail]);
  }
  x.resSpill = null;
  x.resHead = head;
  x.status = head.statusCode;
  return x.isHeadRequest ? HeadersAction.SKIP_BODY : HeadersAction.CONTINUE;
}

/** Rewrite and send a response head. */
function sendResponseHead(x: HttpState, h: ParsedHead): void {
  const status = h.statusCode;
  const final = status >= 200;
  if (final) {
    const closeDelimited = !x.isHeadRequest && status !== 204 && status !== 304 && h.contentLength < 0 && !h.chunked;
    if (closeDelimited || x.ctx.draining) x.clientKeepAlive = false;
  }
  if (!final && x.head!.versionMinor === 0) {
    // RFC 9110 section 15.2: no 1xx to an HTTP/1.0 client; the final response follows
    x.resHeadRaw = null;
    return;
  }
  const e = x.resEdits;
  e.upgrading = false;
  e.connectionLine = !final ? '' : !x.clientKeepAlive ? CONN_CLOSE : x.head!.versionMinor === 0 ? CONN_KEEPALIVE : '';
  const out = rewriteHead(x.resHeadRaw!, h, e);
  x.resHeadRaw = null;
  x.resHeadSent = true;
  const up = x.up!;
  up.backend.bytesOut += out.length; // the head as the client gets it, like the access log
  if (!x.writeClient(out)) up.socket.pause();
}

/** The backend answered 101 to an upgrade request: hand both sockets to a Tunnel. */
function switchToTunnel(x: HttpState, chunk: Buffer, end: number): void {
  const up = x.up!;
  const b = up.backend;
  const h = x.resHead!;
  if (!x.upgrading) {
    answerError(x, 502, 'backend-error');
    return;
  }
  const e = x.resEdits;
  e.upgrading = true;
  e.connectionLine = CONN_UPGRADE;
  const out = rewriteHead(x.resHeadRaw!, h, e);
  x.writeClient(out);
  b.bytesOut += out.length;
  if (end < chunk.length) {
    x.writeClient(chunk.subarray(end));
    b.bytesOut += chunk.length - end;
  }
  x.resHeadSent = true;
  account(x, b);
  logRequest(x);
  x.arm(T_NONE, 0);
  x.up = null;
  const socket = up.detach();
  const rest = x.rest;
  if (rest !== null) {
    x.rest = null;
    const part = rest.subarray(x.restOff);
    x.bytesIn += part.length;
    b.bytesIn += part.length;
    socket.write(part);
  }
  x.detachClient();
  x.state = S_TUNNEL;
  x.tunnel = new Tunnel(x.client, socket, b, x.ctx.config.idleTimeout, x);
  socket.resume();
}

/** The final response is complete (`extra`: the backend sent bytes after it). */
export function responseDone(x: HttpState, extra: boolean): void {
  const ctx = x.ctx;
  const up = x.up!;
  const b = up.backend;
  account(x, b);
  logRequest(x);
  x.up = null;
  if (!extra && x.reqComplete && x.resHead!.shouldKeepAlive && !ctx.draining) {
    if (proxyVersionFor(ctx.config, b) !== 0) keepPrivate(x, up);
    else ctx.upstreams.put(up);
  } else {
    up.owner = null;
    up.socket.destroy();
  }
  const keep = x.clientKeepAlive && x.reqComplete;
  x.endRequest();
  if (!keep) {
    x.closeClient('client-close');
    return;
  }
  x.state = S_HEAD;
  x.arm(T_KEEPALIVE, ctx.config.keepaliveTimeout);
  x.nextRequest();
}
