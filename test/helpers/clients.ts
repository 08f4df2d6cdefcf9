/**
 * Clients for tests: TCP and TLS sockets with promise helpers, and a thin
 * HTTP request helper. Every wait has a timeout (default 5 s) so a test
 * fails instead of hanging.
 *
 * A socket from `connect`/`tlsConnect` is read by the helpers: its bytes are
 * buffered as they arrive, and `readLine`/`readBytes`/`readUntilEnd` take from
 * that buffer in call order. Do not add your own 'data' listener. To act as a
 * slow reader (backpressure tests), call `socket.pause()` and later
 * `socket.resume()`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

/** Default bound on every wait of a test client: generous, for a loaded machine (a bound, not a delay). */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** How a socket closed. */
export interface CloseInfo {
  /** true when the socket closed because of an error (e.g. ECONNRESET) */
  hadError: boolean;
  /** the error, if one was emitted */
  error: (Error & { code?: string }) | undefined;
}

/** The helpers added to a client socket. */
export interface ReadHelpers {
  /** the next line, without its `\n` (or `\r\n`); rejects at end of stream */
  readLine(timeoutMs?: number): Promise<string>;
  /** exactly `n` bytes; rejects if the stream ends first */
  readBytes(n: number, timeoutMs?: number): Promise<Buffer>;
  /** everything until the peer ends its write half; rejects on error or close without end */
  readUntilEnd(timeoutMs?: number): Promise<Buffer>;
  /** resolves when the socket is closed (whatever the reason) */
  waitClose(timeoutMs?: number): Promise<CloseInfo>;
  /** bytes received and not yet taken by a read helper (a copy) */
  buffered(): Buffer;
  /** true once the peer ended its write half */
  readonly readEnded: boolean;
  /** the first error emitted, if any */
  readonly lastError: (Error & { code?: string }) | undefined;
}

export type TestSocket = net.Socket & ReadHelpers;
export type TestTlsSocket = tls.TLSSocket & ReadHelpers;

type Waiter = {
  /** returns true when it is done (resolved or rejected) */
  tryFinish(): boolean;
  fail(err: Error): void;
};

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Adds the read helpers to `sock` (must be called before any data is read). */
export function attachHelpers<S extends net.Socket>(sock: S): S & ReadHelpers {
  let chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  let closed = false;
  let error: (Error & { code?: string }) | undefined;
  let closeInfo: CloseInfo | undefined;
  const waiters: Waiter[] = [];
  const closeWaiters: Array<(c: CloseInfo) => void> = [];

  const collapse = (): Buffer => {
    if (chunks.length !== 1) {
      const b = Buffer.concat(chunks, length);
      chunks = length ? [b] : [];
      return b;
    }
    return chunks[0]!;
  };
  const take = (n: number): Buffer => {
    const all = collapse();
    const out = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    chunks = rest.length ? [rest] : [];
    length = rest.length;
    return out;
  };
  const pump = (): void => {
    while (waiters.length && waiters[0]!.tryFinish()) waiters.shift();
  };
  const failAll = (err: Error): void => {
    while (waiters.length) waiters.shift()!.fail(err);
  };
  const endError = (what: string): Error => {
    if (error) return error;
    return new Error(`${what}: stream ${ended ? 'ended' : 'closed'} (${length} byte(s) left unread)`);
  };

  sock.on('data', (d: Buffer) => {
    chunks.push(d);
    length += d.length;
    pump();
  });
  sock.on('end', () => {
    ended = true;
    pump();
  });
  sock.on('error', (e: Error) => {
    error ??= e;
  });
  sock.on('close', (hadError: boolean) => {
    closed = true;
    closeInfo = { hadError, error };
    pump();
    // Anything still waiting can never be satisfied now.
    failAll(error ?? new Error('socket closed'));
    for (const w of closeWaiters.splice(0)) w(closeInfo);
  });

  const enqueue = <T>(make: (resolve: (v: T) => void, reject: (e: Error) => void) => Waiter, ms: number, what: string): Promise<T> => {
    const p = new Promise<T>((resolve, reject) => {
      const w = make(resolve, reject);
      if (waiters.length === 0 && w.tryFinish()) return;
      waiters.push(w);
    });
    return withTimeout(p, ms, what);
  };

  const helpers: ReadHelpers = {
    readLine(timeoutMs = DEFAULT_TIMEOUT_MS) {
      return enqueue<string>(
        (resolve, reject) => ({
          tryFinish() {
            if (length > 0) {
              const all = collapse();
              const i = all.indexOf(10);
              if (i !== -1) {
                const line = take(i + 1).toString('utf8');
                resolve(line.replace(/\r?\n$/, ''));
                return true;
              }
            }
            if (ended || closed || error) {
              reject(endError('readLine'));
              return true;
            }
            return false;
          },
          fail: reject,
        }),
        timeoutMs,
        'readLine',
      );
    },
    readBytes(n, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return enqueue<Buffer>(
        (resolve, reject) => ({
          tryFinish() {
            if (length >= n) {
              resolve(take(n));
              return true;
            }
            if (ended || closed || error) {
              reject(endError(`readBytes(${n})`));
              return true;
            }
            return false;
          },
          fail: reject,
        }),
        timeoutMs,
        `readBytes(${n}), have ${length}`,
      );
    },
    readUntilEnd(timeoutMs = DEFAULT_TIMEOUT_MS) {
      return enqueue<Buffer>(
        (resolve, reject) => ({
          tryFinish() {
            if (ended) {
              resolve(take(length));
              return true;
            }
            if (closed || error) {
              reject(endError('readUntilEnd'));
              return true;
            }
            return false;
          },
          fail: reject,
        }),
        timeoutMs,
        'readUntilEnd',
      );
    },
    waitClose(timeoutMs = DEFAULT_TIMEOUT_MS) {
      if (closeInfo) return Promise.resolve(closeInfo);
      return withTimeout(new Promise<CloseInfo>((resolve) => closeWaiters.push(resolve)), timeoutMs, 'waitClose');
    },
    buffered() {
      return Buffer.from(collapse());
    },
    get readEnded() {
      return ended;
    },
    get lastError() {
      return error;
    },
  };
  return Object.defineProperties(sock, Object.getOwnPropertyDescriptors(helpers)) as S & ReadHelpers;
}

function connected<S extends net.Socket>(sock: S, event: 'connect' | 'secureConnect', timeoutMs: number, what: string): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms: ${what}`));
    }, timeoutMs);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      sock.off(event, onOk);
      reject(e);
    };
    const onOk = (): void => {
      clearTimeout(timer);
      sock.off('error', onError);
      resolve(sock);
    };
    sock.once(event, onOk);
    sock.once('error', onError);
  });
}

export interface ConnectOptions {
  /** default 5 s */
  timeoutMs?: number;
  /**
   * keep our write half open after the peer ends its own (default false, as
   * in Node: the socket ends and closes once the peer has ended). Set it for
   * half-close tests where the client keeps sending after the peer's FIN.
   */
  allowHalfOpen?: boolean;
}

/** Connects over TCP; resolves once connected (rejects on e.g. ECONNREFUSED). */
export function connect(port: number, host = '127.0.0.1', opts: ConnectOptions = {}): Promise<TestSocket> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const sock = net.connect({ port, host, allowHalfOpen: opts.allowHalfOpen ?? false });
  const s = attachHelpers(sock);
  return connected(s, 'connect', timeoutMs, `connect to ${host}:${port}`);
}

/** A PEM string/Buffer, or a path to a PEM file. */
export type PemInput = string | Buffer;

function pem(v: PemInput | undefined): string | Buffer | undefined {
  if (v === undefined || Buffer.isBuffer(v)) return v;
  return v.includes('-----BEGIN') ? v : readFileSync(v);
}

export interface TlsConnectOptions extends ConnectOptions {
  /** CA certificate to trust: PEM contents, or the path of a PEM file */
  ca?: PemInput;
  /** SNI name and the name the certificate is checked against; default `localhost` */
  servername?: string;
  /** default 127.0.0.1 */
  host?: string;
  /** ALPN protocols to offer */
  ALPNProtocols?: string[];
  /** default true when `ca` is given, false otherwise */
  rejectUnauthorized?: boolean;
  /** client certificate and key (PEM or path) */
  cert?: PemInput;
  key?: PemInput;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
}

/** Connects with TLS; resolves after the handshake (rejects on handshake failure). */
export function tlsConnect(port: number, opts: TlsConnectOptions = {}): Promise<TestTlsSocket> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const host = opts.host ?? '127.0.0.1';
  const servername = opts.servername ?? 'localhost';
  const ca = pem(opts.ca);
  const options: tls.ConnectionOptions & { allowHalfOpen?: boolean } = {
    port,
    host,
    // An IP address is not a valid SNI name; Node warns if one is given.
    servername: net.isIP(servername) ? '' : servername,
    checkServerIdentity: (_h, cert) => tls.checkServerIdentity(servername, cert),
    ca,
    cert: pem(opts.cert),
    key: pem(opts.key),
    ALPNProtocols: opts.ALPNProtocols,
    rejectUnauthorized: opts.rejectUnauthorized ?? ca !== undefined,
    // Honoured by tls.connect, though missing from @types/node.
    allowHalfOpen: opts.allowHalfOpen ?? false,
    minVersion: opts.minVersion,
    maxVersion: opts.maxVersion,
  };
  const sock = tls.connect(options);
  const s = attachHelpers(sock);
  return connected(s, 'secureConnect', timeoutMs, `TLS connect to ${host}:${port} (${servername})`);
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** default 127.0.0.1 */
  host?: string;
  /** default 5 s for the whole exchange */
  timeoutMs?: number;
  /** use HTTPS with these settings */
  tls?: { ca?: PemInput; servername?: string; rejectUnauthorized?: boolean };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  /** body as UTF-8 text */
  body: string;
  /** body bytes */
  raw: Buffer;
}

/** One HTTP(S) request on a fresh connection (agent: false). */
export function request(port: number, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const host = opts.host ?? '127.0.0.1';
  return new Promise<HttpResult>((resolve, reject) => {
    const common: http.RequestOptions = {
      host,
      port,
      path,
      method: opts.method ?? 'GET',
      headers: opts.headers,
      agent: false,
    };
    let req: http.ClientRequest;
    const onRes = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const raw = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: raw.toString('utf8'),
          raw,
        });
      });
    };
    if (opts.tls) {
      const ca = pem(opts.tls.ca);
      const servername = opts.tls.servername ?? 'localhost';
      req = https.request(
        {
          ...common,
          ca,
          servername: net.isIP(servername) ? '' : servername,
          checkServerIdentity: (_h, cert) => tls.checkServerIdentity(servername, cert),
          rejectUnauthorized: opts.tls.rejectUnauthorized ?? ca !== undefined,
        },
        onRes,
      );
    } else {
      req = http.request(common, onRes);
    }
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms: ${common.method} ${host}:${port}${path}`));
    }, timeoutMs);
    function fail(e: Error): void {
      clearTimeout(timer);
      reject(e);
    }
    req.on('error', fail);
    req.end(opts.body);
  });
}
