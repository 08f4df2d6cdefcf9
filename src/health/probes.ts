/**
 * Active health probes: one check of one backend, bounded by a timeout.
 * - tcp: connect, then close; with `send`/`expect` (config file), write the
 *   bytes and wait for a reply that contains `expect` (e.g. PING / +PONG).
 * - http: `GET PATH HTTP/1.1` with Host and `Connection: close`; 2xx and 3xx
 *   are healthy.
 * The target may carry TLS options: the probe then speaks through TLS (used
 * once backends can be TLS; the interface is ready for it).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { HealthCheckSpec } from '../config/types.js';
import { formatHostPort } from '../core/address.js';
import { isLocalResourceErrno } from '../core/errors.js';

export interface ProbeTarget {
  host: string;
  port: number;
  /** When set, connect with TLS using these options. */
  tls?: ConnectionOptions;
  /** When set, written first, in clear, before TLS or the check's bytes (PROXY v2 LOCAL / v1 UNKNOWN). */
  proxyHeader?: Buffer;
}

export interface ProbeResult {
  ok: boolean;
  /** `ok`, `connect ECONNREFUSED`, `timeout 1000ms`, `status 503`, `unexpected reply`... */
  reason: string;
  durationMs: number;
  /**
   * No result: the probe failed for want of lb4's own resources (EMFILE...,
   * src/core/errors.ts), which says nothing about the backend.
   */
  inconclusive: boolean;
}

const MAX_REPLY = 8192;

/** Run one probe. Never rejects. */
export function probe(target: ProbeTarget, spec: HealthCheckSpec, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    let done = false;
    let reply = '';
    let socket: Socket;
    const finish = (ok: boolean, reason: string, inconclusive = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, reason, durationMs: Math.round((performance.now() - started) * 10) / 10, inconclusive });
    };
    const onError = (err: NodeJS.ErrnoException) => finish(false, `connect ${err.code ?? err.message}`, isLocalResourceErrno(err.code));
    const timer = setTimeout(() => finish(false, `timeout ${timeoutMs}ms`), timeoutMs);
    timer.unref();
    const onConnected = () => {
      if (spec.type === 'http') {
        socket.write(
          `GET ${spec.path ?? '/'} HTTP/1.1\r\nHost: ${formatHostPort(target.host, target.port)}\r\nUser-Agent: lb4-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
        );
      } else if (spec.send !== null) {
        socket.write(spec.send);
      } else if (spec.expect === null) {
        finish(true, 'ok');
      }
    };
    if (target.proxyHeader) {
      const header = target.proxyHeader;
      const raw = netConnect({ host: target.host, port: target.port }, () => {
        raw.write(header);
        if (!target.tls) return onConnected();
        const secure = tlsConnect({ ...target.tls, socket: raw }, onConnected);
        secure.setEncoding('latin1');
        secure.on('error', onError);
        secure.on('data', onData);
        secure.on('end', onEnd);
        raw.removeListener('data', onData);
        raw.removeListener('end', onEnd);
        socket = secure;
        raw.on('close', () => secure.destroy());
      });
      socket = raw;
    } else if (target.tls) {
      socket = tlsConnect({ host: target.host, port: target.port, ...target.tls }, onConnected);
    } else {
      socket = netConnect({ host: target.host, port: target.port }, onConnected);
    }
    socket.setEncoding('latin1');
    socket.on('error', onError);
    const onData = (chunk: string) => {
      reply += chunk;
      if (spec.type === 'http') {
        const eol = reply.indexOf('\r\n');
        if (eol < 0) {
          if (reply.length > MAX_REPLY) finish(false, 'invalid HTTP response');
          return;
        }
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(reply.slice(0, eol));
        if (!m) return finish(false, 'invalid HTTP response');
        const status = Number(m[1]);
        finish(status >= 200 && status < 400, status >= 200 && status < 400 ? 'ok' : `status ${status}`);
      } else if (spec.expect !== null) {
        if (reply.includes(spec.expect)) finish(true, 'ok');
        else if (reply.length > MAX_REPLY) finish(false, 'unexpected reply');
      }
    };
    const onEnd = () => {
      if (spec.type === 'http') finish(false, 'connection closed before the status line');
      else if (spec.expect !== null) finish(false, 'unexpected reply');
      else finish(true, 'ok');
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}
