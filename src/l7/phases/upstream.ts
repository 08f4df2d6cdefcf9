/**
 * Phase 4, upstream: the backend connection of the current request. A fresh
 * connection from the stream is wrapped for the shared idle pool
 * (src/l7/upstream-pool.ts) and used; when a backend connection fails
 * before the response completed, the request is replayed once on a fresh
 * connection if it was sent on a reused one and may be repeated (the
 * backend may have closed an idle connection just as we wrote), else
 * answered 502/504 or, once the response started, closed.
 */
import type { Socket } from 'node:net';
import type { Backend } from '../../core/backend.js';
import type { EndReason } from '../../core/ends.js';
import { resetSocket } from '../../l4/tunnel.js';
import { ExecResult } from '../parser.js';
import { answerError } from '../answer.js';
import { S_PROXY, S_WAIT, type HttpState } from '../state.js';
import { useConn } from './forward-request.js';
import { responseDone } from './response.js';

/** The stream connected `socket` to `b` for the current request. */
export function attach(x: HttpState, socket: Socket, b: Backend): void {
  if (x.state !== S_WAIT) {
    socket.destroy();
    return;
  }
  const conn = x.ctx.upstreams.wrap(socket, b);
  conn.owner = x;
  useConn(x, conn);
}

/** The backend connection failed before the response completed. */
export function upstreamLost(x: HttpState, reason: EndReason): void {
  if (x.state !== S_PROXY) return;
  x.dropUpstream();
  const b = x.reqBackend;
  if (!x.resStarted) {
    if (x.replayable && b !== null) {
      // a reused keep-alive connection the backend closed under us: retry on a new one
      b.replays++;
      x.replayable = false;
      x.replayed = true;
      x.state = S_WAIT;
      x.stream.connect(b);
      return;
    }
    if (b !== null) b.responseErrors++;
    answerError(x, 502, reason);
    return;
  }
  if (b !== null) b.responseErrors++;
  if (!x.resHeadSent) {
    answerError(x, 502, reason);
    return;
  }
  // The response is cut (a complete one ends in responseDone()): the client
  // learns it by a reset, as in an L4 tunnel; a FIN would pass a
  // close-delimited body off as whole.
  resetSocket(x.client);
  x.finish(reason);
}

/** The backend ended its side: a close-delimited response ends here; anything else is lost. */
export function upstreamEnded(x: HttpState): void {
  if (x.state !== S_PROXY) return;
  if (!x.resStarted) {
    upstreamLost(x, 'backend-close');
    return;
  }
  x.resMsgComplete = false;
  const r = x.resParser.finish();
  if (r === ExecResult.OK && x.resMsgComplete && x.status >= 200) {
    x.clientKeepAlive = false;
    responseDone(x, true);
    return;
  }
  upstreamLost(x, 'backend-close');
}

/** The backend connection was idle longer than --idle-timeout while carrying the request. */
export function upstreamTimedOut(x: HttpState): void {
  if (x.state !== S_PROXY) return;
  const b = x.reqBackend;
  if (b !== null) b.responseErrors++;
  if (!x.resHeadSent) answerError(x, 504, 'idle-timeout');
  else x.finish('idle-timeout');
}
