/**
 * lb4's own answers in L7 mode: the error statuses it sends instead of a
 * backend (400, 405, 408, 431, 502, 503, 504; README "L7 mode") and the
 * --monitor-uri answers, each prebuilt once; and answering the current
 * request with one of them.
 */
import type { EndReason } from '../core/ends.js';
import type { HttpState } from './state.js';
import { S_CLOSING, S_DONE, S_HEAD, T_KEEPALIVE } from './state.js';
import { logRequest } from './phases/log.js';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  429: 'Too Many Requests',
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

/** Error answers, each closing the connection. */
const ANSWERS: Record<number, Buffer> = {};
for (const s of [400, 408, 431, 502, 503, 504]) ANSWERS[s] = localResponse(s, true);
ANSWERS[405] = localResponse(405, true, 'Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE\r\n');

/** --monitor-uri answers: up or down, keep-alive or close. */
export const MONITOR_OK = localResponse(200, false);
export const MONITOR_DOWN = localResponse(503, false);
export const MONITOR_OK_CLOSE = localResponse(200, true);
export const MONITOR_DOWN_CLOSE = localResponse(503, true);

/** 429 answers by Retry-After seconds and persistence, built on first use (a refusal under attack allocates nothing). */
const TOO_MANY: Array<[Buffer | undefined, Buffer | undefined]> = [];

function tooMany(retryAfter: number, close: boolean): Buffer {
  const n = Math.max(1, Math.min(86_400, Math.ceil(retryAfter)));
  const slot = (TOO_MANY[n] ??= [undefined, undefined]);
  const i = close ? 1 : 0;
  return (slot[i] ??= localResponse(429, close, `Retry-After: ${n}\r\n`));
}

/**
 * Refuse the current request with 429 and `Retry-After` (per-client
 * limits). `end` is the connection's end reason when it closes. The
 * connection stays open when `keep` and the request (with any body) was
 * read whole; returns true then.
 */
export function answerTooMany(x: HttpState, retryAfter: number, keep: boolean): boolean {
  if (x.state === S_DONE || x.state === S_CLOSING) return false;
  x.stream.cancel();
  const stay = keep && x.clientKeepAlive && x.reqComplete && !x.ctx.draining;
  x.status = 429;
  x.writeClient(tooMany(retryAfter, !stay));
  logRequest(x);
  x.endRequest();
  if (!stay) {
    x.closeClient('client-limit');
    return false;
  }
  x.state = S_HEAD;
  x.arm(T_KEEPALIVE, x.ctx.config.keepaliveTimeout);
  // the request was held (paused) while its rate was decided: read on
  if (!x.client.destroyed) x.client.resume();
  return true;
}

/** Answer the current request with an error status and close the connection. */
export function answerError(x: HttpState, status: number, reason: EndReason): void {
  if (x.state === S_DONE || x.state === S_CLOSING) return;
  x.stream.cancel();
  x.dropUpstream();
  x.status = status;
  x.writeClient(ANSWERS[status]!);
  if (x.head !== null || status === 400 || status === 431 || status === 408) logRequest(x);
  x.endRequest();
  x.closeClient(reason);
}
