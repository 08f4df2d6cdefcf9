/**
 * The Peek stage (docs/architecture.md, "The data path", step 2): read the first bytes a client sends,
 * bounded in bytes and in time, until a pure parser (PROXY header, TLS
 * ClientHello) says it has seen enough. Nothing is lost: on success the
 * caller gets every byte read so far and decides what to give back to the
 * socket with `socket.unshift()` (the PROXY header is consumed, a
 * ClientHello is given back whole so it reaches the backend untouched).
 *
 * The socket is left paused, with no 'data' listener of ours, so whatever
 * comes next (another peek, the L4 tunnel, a TLS handshake on the raw
 * socket, the L7 parser) reads the unshifted bytes first.
 */
import type { Socket } from 'node:net';

/** What a parser makes of the bytes so far. */
export type PeekVerdict<R> = { readonly kind: 'more' } | { readonly kind: 'done'; readonly result: R } | { readonly kind: 'fail'; readonly reason: string };

export const PEEK_MORE: PeekVerdict<never> = Object.freeze({ kind: 'more' });

export type PeekFailure = 'timeout' | 'too-large' | 'invalid' | 'closed' | 'error';

export interface PeekCallbacks<R> {
  /** `buf` holds every byte read (a fresh Buffer the caller owns). */
  done(result: R, buf: Buffer): void;
  /** The socket is left as it is; the caller closes it. `got` = bytes read. */
  fail(why: PeekFailure, reason: string, got: number): void;
}

/**
 * Read from `socket` until `parse(bytes so far)` is `done` or `fail`, at most
 * `maxBytes`, within `timeoutMs`. Exactly one callback is called, once.
 */
export function peek<R>(socket: Socket, maxBytes: number, timeoutMs: number, parse: (buf: Buffer) => PeekVerdict<R>, cb: PeekCallbacks<R>): void {
  let buf: Buffer = Buffer.alloc(0);
  let settled = false;
  const cleanup = (): void => {
    settled = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onClose);
    socket.removeListener('error', onError);
    socket.pause();
  };
  const failWith = (why: PeekFailure, reason: string): void => {
    if (settled) return;
    cleanup();
    cb.fail(why, reason, buf.length);
  };
  const onData = (chunk: Buffer): void => {
    if (settled) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const v = parse(buf);
    if (v.kind === 'done') {
      cleanup();
      cb.done(v.result, buf);
    } else if (v.kind === 'fail') {
      failWith('invalid', v.reason);
    } else if (buf.length >= maxBytes) {
      failWith('too-large', `no complete header in ${maxBytes} bytes`);
    }
  };
  const onEnd = (): void => failWith('closed', 'client ended before a complete header');
  const onClose = (): void => failWith('closed', 'client closed before a complete header');
  const onError = (err: Error): void => failWith('error', err.message);
  const timer = setTimeout(() => failWith('timeout', `no complete header within ${timeoutMs}ms`), timeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onClose);
  socket.on('error', onError);
  socket.resume();
}
