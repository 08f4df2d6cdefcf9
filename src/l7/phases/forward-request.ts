/**
 * Phase 5, forward request: the head, rewritten once (X-Forwarded-For and
 * -Proto, hop-by-hop headers, origin form; src/l7/forwarded.ts), goes out
 * with the body bytes of its read in one writev; the rest of the body
 * streams as it is read (framing included, never buffered whole), a full
 * backend socket pausing the client.
 *
 * --body-timeout: while the body arrives the client must send a byte this
 * often. One clock read per body chunk and no timer work: the connection's
 * timer, when it fires, compares with the last chunk's time. Time the
 * backend spends not taking the body (backpressure) is not the client's
 * silence.
 */
import { CONN_KEEPALIVE, CONN_UPGRADE, PROTO_HTTP, PROTO_HTTPS, rewriteHead } from '../forwarded.js';
import { ExecResult } from '../parser.js';
import type { UpstreamConn } from '../upstream-pool.js';
import { answerError } from '../answer.js';
import { S_PROXY, T_BODY, T_NONE, T_SERVER, type HttpState } from '../state.js';

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

/** Send the current request on `conn`. */
export function useConn(x: HttpState, conn: UpstreamConn): void {
  const b = conn.backend;
  const config = x.ctx.config;
  x.up = conn;
  conn.requests++;
  conn.socket.setTimeout(config.idleTimeout);
  x.stream.reached(b);
  let out = x.outHead;
  if (out === null) {
    const e = x.edits;
    e.xff = x.peerIp;
    e.protoLine = x.https ? PROTO_HTTPS : PROTO_HTTP;
    e.upgrading = x.upgrading;
    e.connectionLine = x.upgrading ? CONN_UPGRADE : x.head!.versionMinor === 0 ? CONN_KEEPALIVE : '';
    const tg = x.target;
    e.target = tg.authority !== '' ? tg.path : '';
    e.host = tg.authority;
    out = rewriteHead(x.headRaw!, x.head!, e);
    x.outHead = out;
  }
  x.replayable = !x.replayed && conn.requests > 1 && x.reqComplete && isIdempotent(x.head!.method);
  x.resParser.reset();
  x.resHead = null;
  x.resHeadRaw = null;
  x.resSpill = null;
  x.resMsgComplete = false;
  x.resStarted = false;
  x.resHeadSent = false;
  x.state = S_PROXY;
  const s = conn.socket;
  const body = x.pendingBody;
  x.sentAt = performance.now();
  let ok: boolean;
  if (body !== null) {
    s.cork();
    s.write(out);
    ok = s.write(body);
    s.uncork();
  } else {
    ok = s.write(out);
  }
  // The backend's bytes_in counts what the client sent for it (the head as
  // received, not as rewritten), once even when the request is replayed.
  if (!x.replayed) b.bytesIn += x.reqBytesIn;
  if (!x.replayable) {
    x.pendingBody = null;
    x.headRaw = null;
  }
  if (x.reqComplete) {
    x.arm(T_SERVER, config.serverTimeout);
    return;
  }
  // The body streams from here on, under --body-timeout. Its clock starts
  // now: while queued or connecting lb4 did not read the client (the queue
  // and connect timeouts bound that wait), so its silence was ours.
  x.bodyAt = performance.now();
  x.arm(T_BODY, config.bodyTimeout);
  const early = x.rest;
  if (early !== null) {
    // body bytes that arrived while we were connecting (a pause that took effect late)
    x.rest = null;
    feedBody(x, early, x.restOff);
    if (x.state !== S_PROXY || x.reqComplete) return;
  }
  if (ok) x.client.resume();
}

/** Request body bytes while proxying. */
export function feedBody(x: HttpState, chunk: Buffer, off: number): void {
  const p = x.reqParser;
  const r = p.execute(chunk, off);
  if (r === ExecResult.ERROR) {
    // part of the body already went out: close both sides
    x.finish('client-error');
    return;
  }
  const end = p.offset;
  const up = x.up;
  if (end > off && up !== null) {
    const part = off === 0 && end === chunk.length ? chunk : chunk.subarray(off, end);
    const n = part.length;
    x.reqBytesIn += n;
    x.bytesIn += n;
    up.backend.bytesIn += n;
    x.bodyAt = performance.now(); // --body-timeout: read when the timer fires
    if (!up.socket.write(part)) x.client.pause();
  }
  if (r !== ExecResult.OK) {
    // message complete: hold what follows until the response is done
    if (end < chunk.length) {
      x.rest = chunk;
      x.restOff = end;
    }
    x.client.pause();
    if (x.state === S_PROXY) {
      if (!x.resStarted) x.arm(T_SERVER, x.ctx.config.serverTimeout);
      else if (x.timerKind === T_BODY) x.arm(T_NONE, 0); // the body is done
    }
  }
}

/**
 * --body-timeout fired: the client must have sent a body byte within the
 * last period. Nothing answered yet: 408; else both sides are closed.
 */
export function bodyTimedOut(x: HttpState): void {
  if (x.state !== S_PROXY || x.reqComplete) return;
  const ms = x.ctx.config.bodyTimeout;
  const now = performance.now();
  const up = x.up;
  if (up !== null && up.socket.writableNeedDrain) x.bodyAt = now;
  const left = x.bodyAt + ms - now;
  // (timers may fire a millisecond early)
  if (left > 1) {
    x.arm(T_BODY, Math.ceil(left));
    return;
  }
  if (!x.resHeadSent) answerError(x, 408, 'idle-timeout');
  else x.finish('idle-timeout');
}

/** The backend took what was written: read more of the body. */
export function upstreamDrained(x: HttpState): void {
  if (x.state === S_PROXY && !x.reqComplete) {
    x.bodyAt = performance.now(); // the client was held by us, not silent
    x.client.resume();
  }
}
