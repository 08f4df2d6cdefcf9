/**
 * Phase 2, route: a complete request head is checked (CONNECT 405; a
 * malformed absolute-form target or a missing/duplicate Host 400), its
 * client IP worked out (trusted X-Forwarded-For), answered locally when it
 * asks for --monitor-uri, else given a pool (config `routes:` by Host — or
 * the authority of an absolute-form target — and path) and a hash key
 * (--hash-key), and handed to the choose phase.
 */
import { isIP } from 'node:net';
import { hashString } from '../../core/hash.js';
import type { ParsedHead } from '../parser.js';
import { clientIpFrom } from '../forwarded.js';
import { normalizeHost } from '../router.js';
import { RATE_PENDING } from '../../core/client-limits.js';
import { answerError, answerTooMany, MONITOR_DOWN, MONITOR_DOWN_CLOSE, MONITOR_OK, MONITOR_OK_CLOSE } from '../answer.js';
import { S_HEAD, S_WAIT, T_KEEPALIVE, T_NONE, type HttpState } from '../state.js';
import { logRequest } from './log.js';
import { choose } from './choose.js';

/** The request target's path (before `?`). Allocates only when there is a query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function isIpAddress(s: string): boolean {
  return isIP(s) !== 0;
}

/**
 * A request head was accepted (with `body`: the body bytes of the same
 * read, already validated). Answer it locally or start proxying it.
 * Returns true when it was answered locally and the connection stays open.
 */
export function beginRequest(x: HttpState, body: Buffer | null): boolean {
  const h = x.head!;
  const ctx = x.ctx;
  const config = ctx.config;
  x.requests++;
  x.replayed = false;
  x.status = 0;
  x.clientKeepAlive = h.shouldKeepAlive && !x.clientEnded;
  x.isHeadRequest = h.method === 'HEAD';
  x.upgrading = h.upgrade;
  x.arm(T_NONE, 0);
  const tg = x.target;
  if (h.method === 'CONNECT') {
    answerError(x, 405, 'client-error');
    return false;
  }
  // RFC 9112 3.2.2: an absolute-form target is routed by its authority and
  // forwarded in origin form (target.ts); a malformed one is a 400
  if (!x.targetOk) {
    answerError(x, 400, 'client-error');
    return false;
  }
  // RFC 9112 3.2: an HTTP/1.1 request without Host, or with two, is a 400
  const hostAt = h.findHeader('host');
  if ((hostAt < 0 && h.versionMinor === 1) || (hostAt >= 0 && h.findHeader('host', hostAt + 1) >= 0)) {
    answerError(x, 400, 'client-error');
    return false;
  }
  const trust = ctx.trust;
  const s = x.stream;
  const ip = (s.clientIp = trust === null ? x.peerIp : clientIpFrom(x.peerIp, h, trust, isIpAddress));
  if (config.monitorUri !== null && h.method === 'GET' && pathOf(tg.path) === config.monitorUri) return answerMonitor(x);
  // Per-client limits (README "Per-client limits"): the connection counts
  // under the client IP of its first request (--client-max-conns), every
  // request under its own (--client-rate).
  if (!s.admitConnection(ip)) return answerTooMany(x, 1, false);
  x.pendingBody = body;
  x.state = S_WAIT;
  x.client.pause();
  const r = s.svc.clients.admitRequest(ip, Date.now(), x);
  if (r === RATE_PENDING) {
    x.ratePending = true; // rateDecided() goes on
    return false;
  }
  if (r > 0) return answerTooMany(x, r, true);
  routeRequest(x);
  return false;
}

/**
 * The request may go on: a pool by `clientRoutes:` (the client IP), else by
 * `routes:` (Host, or the authority of an absolute-form target, and path),
 * and its hash key; then the choose phase.
 */
export function routeRequest(x: HttpState): void {
  const h = x.head!;
  const ctx = x.ctx;
  const tg = x.target;
  if (x.upgrading) x.clientKeepAlive = false; // unless the backend answers 101
  const s = x.stream;
  const byClient = s.svc.clientRoutes.route(s.clientIp);
  const pool = (byClient !== null ? ctx.pool(byClient) : null) ?? ctx.router.route(tg.authority !== '' ? tg.authority : (h.getHeader('host') ?? ''), tg.path);
  x.key = pool.factory.needs === 'none' ? 0 : hashKey(x, h);
  choose(x, pool);
}

/** --monitor-uri: lb4 answers 200, or 503 when no backend is up. Returns true when the connection stays open. */
function answerMonitor(x: HttpState): boolean {
  const up = x.ctx.anyBackendUp();
  const keep = x.clientKeepAlive && x.reqComplete && !x.ctx.draining;
  x.status = up ? 200 : 503;
  x.writeClient(keep ? (up ? MONITOR_OK : MONITOR_DOWN) : up ? MONITOR_OK_CLOSE : MONITOR_DOWN_CLOSE);
  logRequest(x);
  x.endRequest();
  if (!keep) {
    x.closeClient('client-close');
    return false;
  }
  x.state = S_HEAD;
  x.arm(T_KEEPALIVE, x.ctx.config.keepaliveTimeout);
  return true;
}

/** The --hash-key of a request: host, path, a header or a cookie; the client IP when absent. */
function hashKey(x: HttpState, h: ParsedHead): number {
  const hk = x.ctx.config.hashKey;
  let v: string | undefined;
  switch (hk.kind) {
    case 'host': {
      const raw = x.target.authority !== '' ? x.target.authority : h.getHeader('host');
      v = raw === undefined ? undefined : normalizeHost(raw);
      break;
    }
    case 'path':
      v = pathOf(x.target.path);
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
  return hashString(v === undefined || v === '' ? x.stream.clientIp : v);
}

/** Value of cookie `name` over every Cookie header, or undefined. */
export function cookieValue(head: ParsedHead, name: string): string | undefined {
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
