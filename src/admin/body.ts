/**
 * Admin request bodies: at most 64 KiB (ADMIN_BODY_LIMIT). The one reader
 * every admin route uses, so that no call buffers more than that and no
 * connection reads a body nobody wants:
 *
 * - `readBody` collects the body up to the limit. A Content-Length above it
 *   is answered 413 at once, without reading; a chunked body that grows past
 *   it is answered 413 as soon as it does. After a 413 the rest is not read
 *   and the connection is closed (`Connection: close`).
 * - `readJson` is readBody plus JSON.parse: invalid JSON is answered 400.
 * - `refuse` answers without reading the body at all (401, 403) and closes
 *   the connection, so that an unauthenticated upload costs one head.
 *
 * Node's HTTP server otherwise reads (and drops) an unread body to reach
 * the next request of a keep-alive connection, or, for a `Connection:
 * close` answer, closes the socket the moment the answer is written: with
 * unread bytes in the socket's receive buffer that close is a TCP reset,
 * which can destroy the answer before a client that is still uploading has
 * read it. So `refuse` takes the connection over: it stops reading, writes
 * the answer itself, ends its side (FIN) and destroys the socket only after
 * a short grace period (REFUSE_LINGER_MS) — never reading another byte,
 * unlike a lingering close that drains. Not on the data path.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';

/** Largest admin request body, in bytes. */
export const ADMIN_BODY_LIMIT = 64 * 1024;

/** How long a refused connection stays open, unread, after its answer (time for the client to read it). */
export const REFUSE_LINGER_MS = 2000;

const EMPTY = Buffer.alloc(0);

/** The request declares a body (RFC 9112 section 6.3: Content-Length other than 0, or Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Answer `status` with a JSON body and close the connection, without
 * reading what is left of the request's body: the answer is written on the
 * socket directly (the ServerResponse is left unused), the socket is ended
 * and then destroyed after REFUSE_LINGER_MS (or by the server's close).
 */
export function refuse(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const req = res.req;
  const socket = req.socket;
  req.pause();
  socket.pause();
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const text = JSON.stringify(body);
  const fields: Record<string, string | number> = {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    Connection: 'close',
  };
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const k of Object.keys(fields)) head += `${k}: ${fields[k]}\r\n`;
  socket.end(head + '\r\n' + (req.method === 'HEAD' ? '' : text));
  const timer = setTimeout(() => socket.destroy(), REFUSE_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function tooLarge(res: ServerResponse, limit: number): void {
  refuse(res, 413, { error: `request body larger than ${limit} bytes` });
}

/**
 * The request body, at most `limit` bytes (default 64 KiB). Resolves to the
 * bytes, or to null when it answered 413 itself (or the client went away
 * first): the caller then does nothing more.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit = ADMIN_BODY_LIMIT): Promise<Buffer | null> {
  if (!hasBody(req)) return Promise.resolve(EMPTY);
  const declared = req.headers['content-length'];
  // (Node's parser has already rejected a malformed Content-Length)
  if (declared !== undefined && Number(declared) > limit) {
    tooLarge(res, limit);
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const settle = (v: Buffer | null): void => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
      resolve(v);
    };
    const onData = (d: Buffer): void => {
      size += d.length;
      if (size > limit) {
        settle(null);
        tooLarge(res, limit);
        return;
      }
      parts.push(d);
    };
    const onEnd = (): void => settle(Buffer.concat(parts, size));
    // closed before the end: nobody to answer
    const onClose = (): void => settle(null);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

/** What readJson found: `value` is undefined for an empty body. */
export interface JsonBody {
  value: unknown;
}

/**
 * The request body parsed as JSON (at most `limit` bytes). Resolves to
 * `{ value }`, or to null after answering 400 (not JSON) or 413 itself.
 */
export async function readJson(req: IncomingMessage, res: ServerResponse, limit = ADMIN_BODY_LIMIT): Promise<JsonBody | null> {
  const buf = await readBody(req, res, limit);
  if (buf === null) return null;
  if (buf.length === 0) return { value: undefined };
  try {
    return { value: JSON.parse(buf.toString('utf8')) as unknown };
  } catch (err) {
    const text = JSON.stringify({ error: `request body is not JSON: ${(err as Error).message}` });
    res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
    res.end(text);
    return null;
  }
}
