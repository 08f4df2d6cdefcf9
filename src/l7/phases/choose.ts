/**
 * Phase 3, choose: the stream assigns a backend of the request's pool
 * (src/stream/stream.ts: pick, queue while every candidate is full, connect
 * with retries on other backends). Before connecting it offers this
 * exchange the backend's idle keep-alive connection, when there is one:
 * this client's own for a backend that gets a PROXY header (such a
 * connection names one client and is never shared), else one from the
 * shared pool of idle connections (only while the backend's circuit is
 * closed: a half-open circuit's trial must be a real connect).
 */
import type { Backend } from '../../core/backend.js';
import type { Pool } from '../../core/pool.js';
import { proxyVersionFor } from '../../l4/upstream.js';
import type { NoBackendEnd } from '../../stream/stream.js';
import type { UpstreamConn } from '../upstream-pool.js';
import { answerError } from '../answer.js';
import type { HttpState } from '../state.js';
import { useConn } from './forward-request.js';

/** Ask the stream for a backend of `pool` for the current request. */
export function choose(x: HttpState, pool: Pool): void {
  x.stream.assign(pool, x.key);
}

/** The stream picked `b`: send on an idle connection to it if there is one (true), else let the stream connect. */
export function reuse(x: HttpState, b: Backend): boolean {
  const idle = proxyVersionFor(x.ctx.config, b) !== 0 ? takePrivate(x, b) : b.circuit.state === 'closed' ? x.ctx.upstreams.take(b, x) : null;
  if (idle === null) return false;
  useConn(x, idle);
  return true;
}

/** Nothing to try (502 when a connect failed on the way, else 503), the queue full, or the wait over (503). */
export function noBackend(x: HttpState, end: NoBackendEnd, connectFailed: boolean): void {
  answerError(x, end === 'no-backend' && connectFailed ? 502 : 503, end);
}

/** This connection's own idle connection to `b` (PROXY-header backends), if one is still usable. */
function takePrivate(x: HttpState, b: Backend): UpstreamConn | null {
  const list = x.privateUps;
  if (list === null) return null;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (c.backend !== b) continue;
    list.splice(i, 1);
    if (!c.alive) {
      c.socket.destroy();
      return null;
    }
    c.owner = x;
    return c;
  }
  return null;
}

/** Keep an idle PROXY-header connection for this client's next request to the same backend. */
export function keepPrivate(x: HttpState, up: UpstreamConn): void {
  up.owner = null;
  const list = (x.privateUps ??= []);
  for (let i = 0; i < list.length; i++) {
    if (list[i]!.backend === up.backend) {
      list[i]!.socket.destroy();
      list.splice(i, 1);
      break;
    }
  }
  list.push(up);
}
