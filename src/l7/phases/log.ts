/**
 * Phase 7, log: count a finished exchange on its backend (status class,
 * latency histogram, the Prometheus request histogram) and write the
 * request's access-log line (`"msg":"request"`, README "Logs").
 */
import type { Backend } from '../../core/backend.js';
import type { HttpState } from '../state.js';

/** Count a finished exchange on its backend `b`. */
export function account(x: HttpState, b: Backend): void {
  const cls = (x.status / 100) | 0;
  if (cls >= 1 && cls <= 5) b.responses[cls]!++;
  const ms = performance.now() - x.reqStartedAt;
  b.latency.record(ms * 1000);
  const observe = x.ctx.observe;
  if (observe !== null) observe(b, x.stream.pool, ms / 1000);
}

/** The access log's `request` line for the current request (with --access-log). */
export function logRequest(x: HttpState): void {
  const ctx = x.ctx;
  if (!ctx.config.accessLog) return;
  const h = x.head;
  const b = x.reqBackend;
  const s = x.stream;
  ctx.accessLog.info(
    {
      method: h === null ? null : h.method,
      path: h === null ? null : x.target.path, // origin form, as forwarded
      status: x.status,
      backend: b === null ? null : b.name,
      client: s.clientAddress,
      client_ip: s.clientIp,
      bytes_in: x.reqBytesIn,
      bytes_out: x.reqBytesOut,
      duration_ms: Math.round((performance.now() - x.reqStartedAt) * 1000) / 1000,
      retries: s.assignRetries,
    },
    'request',
  );
}
